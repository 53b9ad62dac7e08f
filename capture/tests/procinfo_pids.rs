//! Finding processes by name and noticing when they exit.
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use capture::procinfo::{comm, is_alive, pids_named};

fn wait_until(what: &str, mut cond: impl FnMut() -> bool) {
    let start = Instant::now();
    while !cond() {
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "timed out: {what}"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
}

#[test]
fn pids_named_finds_a_spawned_sleep_and_is_alive_tracks_it() {
    let mut child = Command::new("sleep")
        .arg("30")
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    let pid = child.id();
    wait_until("sleep in pids_named", || pids_named("sleep").contains(&pid));
    assert_eq!(comm(pid).as_deref(), Some("sleep"));
    assert!(is_alive(pid));
    assert!(pids_named("no-such-program-apitop").is_empty());

    child.kill().unwrap();
    // Killed but not yet reaped: a zombie, which is not alive.
    wait_until("zombie not alive", || !is_alive(pid));
    assert!(!pids_named("sleep").contains(&pid));
    child.wait().unwrap();
    assert!(!is_alive(pid));
    assert_eq!(comm(pid), None);
}

#[test]
fn process_that_exits_by_itself_is_not_alive() {
    let mut child = Command::new("true").spawn().unwrap();
    let pid = child.id();
    child.wait().unwrap();
    assert!(!is_alive(pid));
    assert!(!is_alive(0));
    assert!(is_alive(std::process::id()));
}

#[test]
fn names_match_exe_and_argv0_beyond_comm_limit() {
    // comm is cut to 15 bytes; the exe's file name is not.
    let dir = std::env::temp_dir().join(format!("apitop-names-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let long = dir.join("a-rather-long-program-name");
    std::fs::copy("/bin/sleep", &long).unwrap();
    // Another test's fork may briefly hold the copy open for writing (ETXTBSY): retry.
    let mut tries = 0;
    let mut child = loop {
        match Command::new(&long).arg("30").spawn() {
            Err(e) if e.raw_os_error() == Some(libc::ETXTBSY) && tries < 50 => {
                tries += 1;
                std::thread::sleep(Duration::from_millis(20));
            }
            other => break other.unwrap(),
        }
    };
    let pid = child.id();
    wait_until("long name", || {
        pids_named("a-rather-long-program-name").contains(&pid)
    });
    assert_eq!(comm(pid).as_deref(), Some("a-rather-long-p"));
    assert!(pids_named("a-rather-long-p").contains(&pid));
    child.kill().unwrap();
    child.wait().unwrap();

    // argv[0] differing from the executable (as with busybox-style or renamed launches).
    use std::os::unix::process::CommandExt;
    let mut child = Command::new("/bin/sleep")
        .arg0("my-worker")
        .arg("30")
        .spawn()
        .unwrap();
    let pid = child.id();
    wait_until("argv0", || pids_named("my-worker").contains(&pid));
    assert!(pids_named("sleep").contains(&pid));
    child.kill().unwrap();
    child.wait().unwrap();
    let _ = std::fs::remove_dir_all(&dir);
}
