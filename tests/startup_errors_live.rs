//! End to end: when apitop cannot start (no such pid, no TLS library with `--no-plain`, not
//! root) it says so in one clear line, without a panic.
mod support;

use std::process::Command;

use support::*;

#[test]
fn clear_errors_for_unknown_pid_and_no_tls() {
    if !ebpf_available("clear_errors") {
        return;
    }
    let out = Command::new(APITOP)
        .args(["--json", "-p", "999999"])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert_eq!(err.trim(), "apitop: no process with pid 999999");
    let sleeper = Guard(Command::new("sleep").arg("30").spawn().unwrap());
    // Without TLS a process is still captured for plain HTTP, unless --no-plain.
    let out = Command::new(APITOP)
        .args(["--json", "--no-plain", "-p", &sleeper.pid().to_string()])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(err.contains("no TLS library"), "{err}");
    assert!(
        !err.contains("panicked") && !err.contains("backtrace"),
        "{err}"
    );
}

#[test]
fn not_root_is_one_clear_line() {
    if !ebpf_available("not_root") {
        return;
    }
    // Run a copy of the binary as nobody (the build directory may not be readable to it).
    let copy = work_dir().join("apitop-copy");
    std::fs::copy(APITOP, &copy).unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(work_dir(), std::fs::Permissions::from_mode(0o755)).unwrap();
    std::fs::set_permissions(&copy, std::fs::Permissions::from_mode(0o755)).unwrap();
    let out = Command::new("setpriv")
        .args(["--reuid=65534", "--regid=65534", "--clear-groups"])
        .arg(&copy)
        .args(["--json", "-p", "1"])
        .output()
        .expect("setpriv (util-linux)");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(err.contains("needs root"), "{err}");
}
