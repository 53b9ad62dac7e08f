//! The process picker, scripted through `App::handle`: narrowing, marking and attaching,
//! explaining what cannot be captured, confirming a Java agent, detaching.
mod ui_support;

use apitop::ui::app::{Effect, Msg};
use apitop::ui::keymap::Mode;
use apitop::ui::picker::ProcessRow;
use apitop::ui::Config;
use capture::procinfo::{ProcessInfo, TlsStatus};
use crossterm::event::KeyCode;
use ui_support::*;

fn proc_row(pid: u32, comm: &str, tls: TlsStatus, ports: &[u16]) -> ProcessRow {
    ProcessRow {
        info: ProcessInfo {
            pid,
            ppid: 1,
            uid: 1000,
            user: "ada".into(),
            comm: comm.into(),
            cmdline: format!("/usr/bin/{comm} --serve"),
            exe: None,
            tls,
        },
        ports: ports.to_vec(),
    }
}

pub fn procs() -> Vec<ProcessRow> {
    vec![
        proc_row(
            100,
            "nginx",
            TlsStatus::openssl_shared("libssl.so.3"),
            &[443, 80],
        ),
        proc_row(
            200,
            "python3",
            TlsStatus::openssl_shared("libssl.so.3"),
            &[],
        ),
        proc_row(
            300,
            "gateway",
            TlsStatus::go_refused("go 1.16 (crypto/tls) — before Go 1.17's register ABI"),
            &[8443],
        ),
        proc_row(400, "node", TlsStatus::openssl_in_exe(), &[3000]),
        proc_row(500, "bash", TlsStatus::no_tls(), &[]),
    ]
}

#[test]
fn picker_narrows_marks_and_attaches() {
    let mut a = app_with(Config {
        open_picker: true,
        targets: vec![],
        ..config()
    });
    assert_eq!(a.start(), [Effect::RefreshProcesses]);
    assert_eq!(a.mode(), Mode::Picker);
    a.handle(Msg::Processes(procs()));
    let p = a.picker().expect("picker");
    let order: Vec<u32> = p.rows().map(|r| r.info.pid).collect();
    assert_eq!(order, [100, 200, 400, 300, 500], "capturable first");
    // Typing narrows (pid, name, user, command line, TLS); q and j are text here.
    typ(&mut a, "openssl");
    let shown: Vec<u32> = a.picker().expect("p").rows().map(|r| r.info.pid).collect();
    assert_eq!(shown, [100, 200, 400]);
    ctrl(&mut a, 'u');
    typ(&mut a, "pyth");
    let shown: Vec<u32> = a.picker().expect("p").rows().map(|r| r.info.pid).collect();
    assert_eq!(shown, [200]);
    key(&mut a, ' ');
    // Marks survive a new search.
    ctrl(&mut a, 'u');
    typ(&mut a, "3000");
    key(&mut a, ' ');
    assert_eq!(a.picker().expect("p").marked.len(), 2);
    let fx = code(&mut a, KeyCode::Enter);
    assert_eq!(fx, [Effect::Attach(vec![200, 400])]);
    assert!(a.picker().is_none());
    let targets: Vec<u32> = a.targets().iter().map(|t| t.pid).collect();
    assert_eq!(targets, [200, 400]);
    assert!(a.notice().expect("notice").text.contains("will be seen"));
}

#[test]
fn picker_explains_uncapturable_and_does_not_attach_them() {
    let mut a = app_with(Config {
        open_picker: true,
        targets: vec![],
        ..config()
    });
    a.start();
    a.handle(Msg::Processes(procs()));
    typ(&mut a, "gateway");
    let fx = code(&mut a, KeyCode::Enter);
    assert!(fx.is_empty());
    let p = a.picker().expect("still open");
    let msg = p.message.as_deref().expect("message");
    assert!(
        msg.contains("go 1.16 (crypto/tls)") && msg.contains("won't be seen"),
        "{msg}"
    );
    // Mixed choice: the capturable one is attached, the other explained.
    ctrl(&mut a, 'u');
    key(&mut a, ' '); // nginx
    code(&mut a, KeyCode::End);
    typ(&mut a, "300");
    key(&mut a, ' ');
    let fx = code(&mut a, KeyCode::Enter);
    assert_eq!(fx, [Effect::Attach(vec![100])]);
    assert!(a.notice().expect("notice").text.contains("won't be seen"));
}

/// A JVM is marked with its Java facts, and attaching it loads an agent: the picker asks for a
/// second Enter (Esc goes back without loading anything) before it does.
#[test]
fn picker_asks_before_loading_the_java_agent() {
    let mut a = app_with(Config {
        open_picker: true,
        targets: vec![],
        ..config()
    });
    a.start();
    let java = capture::java::JavaStatus {
        version: Some("17.0.15".into()),
        home: None,
        hotspot: true,
        agent_loaded: false,
        refusal: None,
    };
    let mut rows = procs();
    rows.push(proc_row(600, "java", TlsStatus::jvm(java), &[8443]));
    a.handle(Msg::Processes(rows));
    typ(&mut a, "attachable");
    let shown: Vec<u32> = a.picker().expect("p").rows().map(|r| r.info.pid).collect();
    assert_eq!(
        shown,
        [600],
        "the picker shows Java 17.0.15: attachable (loads an agent)"
    );
    let fx = code(&mut a, KeyCode::Enter);
    assert!(fx.is_empty(), "{fx:?}");
    let msg = a
        .picker()
        .expect("still open")
        .message
        .clone()
        .expect("msg");
    assert!(
        msg.contains("is a JVM") && msg.contains("Enter again"),
        "{msg}"
    );
    // Esc: nothing is loaded, the picker stays.
    let fx = code(&mut a, KeyCode::Esc);
    assert!(fx.is_empty());
    assert_eq!(
        a.picker().expect("still open").message.as_deref(),
        Some("no agent loaded")
    );
    // Asked again, then confirmed.
    assert!(code(&mut a, KeyCode::Enter).is_empty());
    let fx = code(&mut a, KeyCode::Enter);
    assert_eq!(
        fx,
        [Effect::Attach(vec![600]), Effect::AttachJava(vec![600])]
    );
    assert!(a.picker().is_none());
    assert!(a.notice().expect("notice").text.contains("Java agent"));
}

#[test]
fn picker_detach_and_reopen_with_p() {
    let mut a = app();
    let fx = key(&mut a, 'p');
    assert_eq!(fx, [Effect::RefreshProcesses]);
    a.handle(Msg::Processes(vec![proc_row(
        4242,
        "curl",
        TlsStatus::openssl_shared("libssl.so.3"),
        &[],
    )]));
    let fx = ctrl(&mut a, 'd');
    assert_eq!(fx, [Effect::Detach(4242)]);
    assert!(a.targets().is_empty());
    code(&mut a, KeyCode::Esc);
    assert!(a.picker().is_none());
}
