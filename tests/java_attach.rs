//! Attaching to real JVMs (the JDK 17 from Debian, and JDK 21+ where installed) with apitop's
//! HotSpot attach code, a stand-in agent (tests/java/TestAgent.java, built here with javac and
//! jar) and apitop's receiver; and `apitop --list` on an attachable JVM and on one started with
//! -XX:+DisableAttachMechanism. No eBPF: the attach path needs no root when the JVM is the
//! test's own user; as root, a JVM running as `nobody` is attached too (the connecting child
//! then runs as nobody, the socket and jar are handed to nobody).
mod support;

use std::io::{BufRead, BufReader};
use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use capture::event::{Event, Limits};
use capture::java::{attach, JavaCapture};
use capture::output::Output;
use capture::pipeline::Pipeline;
use support::{javas, Guard, APITOP};

const NOBODY: u32 = 65534;

fn have(tool: &str) -> bool {
    capture::procinfo::on_path(tool).is_some()
}

fn is_root() -> bool {
    // SAFETY: geteuid has no preconditions.
    unsafe { libc::geteuid() == 0 }
}

/// A directory everyone may read (a JVM running as nobody reads its source and the jar here).
fn dir() -> PathBuf {
    let d = support::work_dir().join("java");
    std::fs::create_dir_all(&d).unwrap();
    for p in [support::work_dir(), d.as_path()] {
        std::fs::set_permissions(p, std::fs::Permissions::from_mode(0o755)).unwrap();
    }
    d
}

/// The stand-in agent, named so that apitop recognises it as its own among a JVM's files.
fn test_agent_jar() -> PathBuf {
    let d = dir();
    let jar = d.join("apitop-agent-test.jar");
    if jar.exists() {
        return jar;
    }
    let classes = d.join("classes");
    std::fs::create_dir_all(&classes).unwrap();
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/java/TestAgent.java");
    let st = Command::new("javac")
        .arg("-d")
        .arg(&classes)
        .arg(&src)
        .status()
        .unwrap();
    assert!(st.success(), "javac TestAgent.java");
    let manifest = d.join("manifest.txt");
    std::fs::write(&manifest, "Agent-Class: TestAgent\n").unwrap();
    let st = Command::new("jar")
        .arg("cfm")
        .arg(&jar)
        .arg(&manifest)
        .arg("-C")
        .arg(&classes)
        .arg(".")
        .status()
        .unwrap();
    assert!(st.success(), "jar");
    std::fs::set_permissions(&jar, std::fs::Permissions::from_mode(0o644)).unwrap();
    jar
}

/// Starts `java [flags] Sleeper.java` (as `uid` when given) and waits for its "ready".
fn start_jvm(java: &Path, flags: &[&str], uid: Option<u32>) -> Guard {
    let src = dir().join("Sleeper.java");
    std::fs::copy(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/java/Sleeper.java"),
        &src,
    )
    .unwrap();
    std::fs::set_permissions(&src, std::fs::Permissions::from_mode(0o644)).unwrap();
    let mut cmd = Command::new(java);
    cmd.args(flags)
        .arg(&src)
        .current_dir(dir())
        .stdout(Stdio::piped())
        .stderr(Stdio::null());
    if let Some(u) = uid {
        cmd.uid(u).gid(u).current_dir("/tmp");
    }
    let mut child = cmd.spawn().expect("starting java");
    let mut line = String::new();
    let mut out = BufReader::new(child.stdout.take().unwrap());
    out.read_line(&mut line).unwrap();
    assert_eq!(line.trim(), "ready", "the JVM did not start");
    Guard(child)
}

fn skip_without_jdk(test: &str) -> bool {
    if have("java") && have("javac") && have("jar") {
        return false;
    }
    eprintln!("SKIPPED {test}: no JDK (java, javac, jar): scripts/test-deps.sh installs it");
    true
}

/// The agent is loaded into a running JVM (no agent flag on its command line) and runs: it
/// writes the file it is told to; a second load works too (a new session).
#[test]
fn load_agent_into_a_running_jvm() {
    if skip_without_jdk("load_agent_into_a_running_jvm") {
        return;
    }
    let jar = test_agent_jar();
    for java in javas() {
        let jvm = start_jvm(&java, &[], None);
        let out = dir().join(format!("loaded-{}", jvm.pid()));
        let _ = std::fs::remove_file(&out);
        let answer = attach::load_agent(
            jvm.pid(),
            jar.to_str().unwrap(),
            &format!("out={}", out.display()),
            Path::new(APITOP),
        )
        .unwrap_or_else(|e| panic!("{}: {e}", java.display()));
        assert!(answer.contains('0'), "{answer:?}");
        let text = std::fs::read_to_string(&out).expect("the agent ran");
        assert_eq!(text.trim(), format!("loaded in {}", jvm.pid()));
        std::fs::remove_file(&out).unwrap();
        attach::load_agent(
            jvm.pid(),
            jar.to_str().unwrap(),
            &format!("out={}", out.display()),
            Path::new(APITOP),
        )
        .unwrap();
        assert!(out.exists(), "loaded a second time");
        // The JVM says the agent is loaded (its jar is among its open files).
        let mut ins = capture::procinfo::Inspector::new();
        let info = ins.process(jvm.pid()).unwrap();
        let st = info.tls.java.expect("a JVM");
        assert!(st.agent_loaded, "{st:?}");
        assert!(
            info.tls.reason.ends_with(": agent loaded"),
            "{}",
            info.tls.reason
        );
        eprintln!("{}: {}", java.display(), info.tls.reason);
    }
}

/// The whole receiving side with a real JVM: the directory in the JVM's /tmp, the jar copy,
/// the socket, SO_PEERCRED and token checks, and the frames the stand-in agent sends, decoded
/// into an exchange. As root, the JVM runs as nobody.
#[test]
fn agent_frames_reach_the_pipeline() {
    if skip_without_jdk("agent_frames_reach_the_pipeline") {
        return;
    }
    let jar = test_agent_jar();
    let uid = is_root().then_some(NOBODY);
    let jvm = start_jvm(&capture::procinfo::on_path("java").unwrap(), &[], uid);
    let mut jc = JavaCapture::new(jar, PathBuf::from(APITOP)).unwrap();
    let status = jc
        .attach(jvm.pid())
        .unwrap_or_else(|e| panic!("attaching (JVM as uid {uid:?}): {e}"));
    assert!(status.agent_loaded);
    let mut events = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(10);
    while !events.iter().any(|e| matches!(e, Event::Close { .. })) {
        assert!(Instant::now() < deadline, "no Close among {events:?}");
        jc.drain(&mut events, 100);
        std::thread::sleep(Duration::from_millis(20));
    }
    let mut pipeline = Pipeline::new(Limits::default());
    let mut out = Vec::new();
    for ev in events {
        if let Event::Data { key, tls, fd, .. } = &ev {
            assert_eq!((key.pid, *tls, *fd), (jvm.pid(), true, -1));
        }
        pipeline.push(ev, &mut out);
    }
    let x = out
        .iter()
        .find_map(|o| match o {
            Output::Exchange(x) => Some(x),
            _ => None,
        })
        .unwrap_or_else(|| panic!("no exchange in {out:?}"));
    assert_eq!(x.request.method, "POST");
    assert_eq!(x.request.target, "/java-test");
    assert!(x.tls);
    assert_eq!(x.peer_addr.as_deref(), Some("127.0.0.1:8443"));
    assert_eq!(x.response.as_ref().map(|r| r.status), Some(200));
    // Attaching again in the same session does nothing more.
    jc.attach(jvm.pid()).unwrap();
    assert_eq!(
        jc.stats().agents.load(std::sync::atomic::Ordering::Relaxed),
        1
    );
}

fn list_json(pid: u32) -> serde_json::Value {
    let out = Command::new(APITOP)
        .args(["--list", "--json"])
        .output()
        .unwrap();
    assert!(out.status.success());
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .find(|v| v["pid"] == pid)
        .unwrap_or_else(|| panic!("pid {pid} not in --list --json"))
}

fn list_line(pid: u32) -> String {
    let out = Command::new(APITOP).arg("--list").output().unwrap();
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .find(|l| l.split_whitespace().next() == Some(&pid.to_string()))
        .unwrap_or_default()
        .to_string()
}

/// `--list` tells an attachable JVM from one started with -XX:+DisableAttachMechanism, with
/// the version and the reason; the refused JVM is not sent SIGQUIT (it would print a thread
/// dump) and the attach fails with the reason.
#[test]
fn list_shows_attachable_and_refused_jvms() {
    if skip_without_jdk("list_shows_attachable_and_refused_jvms") {
        return;
    }
    let java = capture::procinfo::on_path("java").unwrap();
    let version = std::fs::read_to_string("/usr/lib/jvm/java-17-openjdk-amd64/release")
        .ok()
        .and_then(|r| capture::java::inspect::release_version(&r));
    let ok = start_jvm(&java, &[], None);
    let v = list_json(ok.pid());
    eprintln!("{v}\n{}", list_line(ok.pid()));
    assert_eq!(v["tls"], "jvm");
    assert_eq!(v["capturable"], true);
    assert!(v["java"]["refusal"].is_null());
    let reason = v["reason"].as_str().unwrap();
    assert!(
        reason.ends_with(": attachable (loads an agent)"),
        "{reason}"
    );
    if let Some(ver) = &version {
        assert_eq!(v["java"]["version"], ver.as_str());
        assert_eq!(reason, format!("Java {ver}: attachable (loads an agent)"));
    }
    assert!(list_line(ok.pid()).ends_with(reason));

    let refused = start_jvm(&java, &["-XX:+DisableAttachMechanism"], None);
    let v = list_json(refused.pid());
    eprintln!("{v}\n{}", list_line(refused.pid()));
    assert_eq!(v["capturable"], false);
    let why = v["java"]["refusal"].as_str().unwrap();
    assert!(why.contains("-XX:+DisableAttachMechanism"), "{why}");
    assert!(v["reason"].as_str().unwrap().contains("not attachable"));
    let mut jc = JavaCapture::new(test_agent_jar(), PathBuf::from(APITOP)).unwrap();
    let err = jc.attach(refused.pid()).unwrap_err().to_string();
    assert!(err.contains("DisableAttachMechanism"), "{err}");
    // -Xrs: no SIGQUIT handler (a SIGQUIT would kill the JVM), but HotSpot then opens its
    // attach socket at start-up: attachable without any signal, and the JVM lives on.
    let xrs = start_jvm(&java, &["-Xrs"], None);
    let v = list_json(xrs.pid());
    assert_eq!(v["capturable"], true, "{v}");
    let out = dir().join(format!("loaded-{}", xrs.pid()));
    attach::load_agent(
        xrs.pid(),
        test_agent_jar().to_str().unwrap(),
        &format!("out={}", out.display()),
        Path::new(APITOP),
    )
    .unwrap();
    assert!(out.exists());
    std::thread::sleep(Duration::from_millis(200));
    assert!(
        capture::procinfo::is_alive(xrs.pid()),
        "the -Xrs JVM still runs"
    );
    // The same flag from JAVA_TOOL_OPTIONS counts too.
    let cmd_env = start_jvm_env(&java, "-XX:+DisableAttachMechanism");
    let v = list_json(cmd_env.pid());
    assert_eq!(v["capturable"], false, "{v}");
    drop(cmd_env);
}

fn start_jvm_env(java: &Path, tool_options: &str) -> Guard {
    let src = dir().join("Sleeper.java");
    let mut child = Command::new(java)
        .arg(&src)
        .env("JAVA_TOOL_OPTIONS", tool_options)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    Guard(child)
}

/// `apitop --json --java -p JVM`: the agent (here the stand-in, through APITOP_JAVA_AGENT) is
/// loaded and what it sends comes out as an exchange, marked TLS, beside the eBPF capture; the
/// line on stderr says so. Without --java, one line says how to get the JVM's TLS.
#[test]
fn cli_java_flag_attaches_and_merges_the_agents_exchanges() {
    if !support::ebpf_available("cli_java_flag_attaches_and_merges_the_agents_exchanges")
        || skip_without_jdk("cli_java_flag_attaches_and_merges_the_agents_exchanges")
    {
        return;
    }
    let jar = test_agent_jar();
    let jvm = start_jvm(
        &capture::procinfo::on_path("java").unwrap(),
        &[],
        Some(NOBODY),
    );
    let pid = jvm.pid().to_string();
    let live = support::apitop_start_env(
        &["--java", "-p", &pid],
        &[("APITOP_JAVA_AGENT", jar.to_str().unwrap())],
    );
    let apitop_pid = live.pid();
    let run = live.stop_when(|xs| xs.iter().any(|x| x["path"] == "/java-test"));
    let x = run.with_path("/java-test");
    assert_eq!(x.len(), 1, "stderr: {}\nstdout: {}", run.stderr, run.stdout);
    assert_eq!(x[0]["method"], "POST");
    assert_eq!(x[0]["tls"], true);
    assert_eq!(x[0]["pid"], jvm.pid());
    assert_eq!(x[0]["status"], 200);
    assert!(
        run.stderr.contains("agent loaded, its TLS is captured"),
        "{}",
        run.stderr
    );
    assert!(
        run.stderr.contains("java agents: 1 connected, 5 frames")
            && run.stderr.contains("0 connections refused"),
        "{}",
        run.stderr
    );
    // The session's directory in the JVM's /tmp is gone with apitop.
    let leftovers: Vec<_> = std::fs::read_dir("/tmp")
        .unwrap()
        .flatten()
        .filter(|e| {
            e.file_name()
                .to_string_lossy()
                .starts_with(&format!("apitop-{apitop_pid}-"))
        })
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");

    let live = support::apitop_start(&["-p", &pid]);
    let run = live.stop();
    assert!(
        run.stderr.contains("add --java to capture its TLS"),
        "{}",
        run.stderr
    );
}

/// Removes a directory when dropped.
struct RemoveDir(PathBuf);

impl Drop for RemoveDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A JVM in its own mount and pid namespaces with a private /tmp, as in a container: its attach
/// socket is `/tmp/.java_pid1` in its namespace, and apitop's socket and jar must be in that
/// /tmp too. Root only (unshare).
#[test]
fn a_jvm_in_its_own_namespaces_is_attached() {
    if !is_root() || skip_without_jdk("a_jvm_in_its_own_namespaces_is_attached") {
        if !is_root() {
            eprintln!("SKIPPED a_jvm_in_its_own_namespaces_is_attached: needs root (unshare)");
        }
        return;
    }
    if !have("unshare") {
        eprintln!("SKIPPED a_jvm_in_its_own_namespaces_is_attached: no unshare (util-linux)");
        return;
    }
    // Outside /tmp, which the JVM will not see (the target directory itself may be under /tmp,
    // as in a clone there).
    let base = Path::new(env!("CARGO_TARGET_TMPDIR"));
    let base = if base.starts_with("/tmp") {
        Path::new("/var/tmp")
    } else {
        base
    };
    let d = base.join(format!("apitop-java-ns-{}", std::process::id()));
    std::fs::create_dir_all(&d).unwrap();
    let _cleanup = RemoveDir(d.clone());
    let src = d.join("Sleeper.java");
    std::fs::copy(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/java/Sleeper.java"),
        &src,
    )
    .unwrap();
    let java = capture::procinfo::on_path("java").unwrap();
    let script = format!(
        "mount -t tmpfs tmpfs /tmp && exec {} {}",
        java.display(),
        src.display()
    );
    let mut child = Command::new("unshare")
        .args(["--mount", "--pid", "--fork", "--kill-child", "--mount-proc"])
        .args(["--propagation", "private", "sh", "-c", &script])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let _guard = Guard(child);
    assert_eq!(line.trim(), "ready");
    // The JVM: the process whose command line names this test's source file.
    let marker = src.display().to_string();
    let pid = std::fs::read_dir("/proc")
        .unwrap()
        .flatten()
        .filter_map(|e| e.file_name().to_str()?.parse::<u32>().ok())
        .find(|p| {
            let cmd = std::fs::read(format!("/proc/{p}/cmdline")).unwrap_or_default();
            let cmd = String::from_utf8_lossy(&cmd);
            cmd.starts_with(&format!("{}\0", java.display())) && cmd.contains(&marker)
        })
        .expect("the JVM in its namespaces");
    let ids = attach::JvmIds::read(pid).unwrap();
    assert_eq!(ids.nspid, 1, "pid 1 in its own pid namespace");
    let mut jc = JavaCapture::new(test_agent_jar(), PathBuf::from(APITOP)).unwrap();
    jc.attach(pid).unwrap();
    let mut events = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(10);
    while !events.iter().any(|e| matches!(e, Event::Close { .. })) {
        assert!(Instant::now() < deadline, "no Close among {events:?}");
        jc.drain(&mut events, 100);
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(events
        .iter()
        .any(|e| matches!(e, Event::Data { key, .. } if key.pid == pid)));
    // apitop's directory was made in the JVM's /tmp, not in ours.
    let theirs: Vec<String> = std::fs::read_dir(format!("/proc/{pid}/root/tmp"))
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    assert!(
        theirs
            .iter()
            .any(|n| n.starts_with(&format!("apitop-{}-", std::process::id()))),
        "{theirs:?}"
    );
    drop(jc);
    let _ = std::fs::remove_dir_all(&d);
}
