//! The real `apitop` binary in a real terminal (tmux), live: pick a running process in the
//! picker, watch its requests arrive, copy one as curl (OSC 52 into tmux's buffer), mark two,
//! compare them and write them as a HAR that har-validator accepts, then run the copied command
//! and check it reproduces the request (captured by apitop too).
mod support;
#[path = "support/tmux.rs"]
mod tmux;

use std::process::Command;

use support::*;
use tmux::Tmux;

#[test]
fn pick_a_process_then_copy_a_request_as_curl_that_reproduces_it() {
    if !ebpf_available("ui_live") || !tmux::available("ui_live") {
        return;
    }
    let (_srv, port) = https_server();
    // A client posting JSON every 100 ms, with a header worth reproducing.
    let client = looping_client_script(
        port,
        20.0,
        "u.urlopen(u.Request(f'https://127.0.0.1:{port}/echo?n={i}', \
         data=b'{\"order\": 7, \"note\": \"it\\'s here\"}', method='POST', \
         headers={'Content-Type': 'application/json', 'X-Trace': 'abc 123'}), context=c).read()",
    );
    let log = work_dir().join("ui-live.log");
    let tmux = Tmux::start(
        "apitop-ui-live",
        200,
        50,
        &format!("{APITOP} 2>{}; sleep 60", log.display()),
    );
    tmux.wait_for("Pick processes");
    // Typing narrows the list to the client; Enter attaches to it.
    tmux.keys(&["-l", &client.pid().to_string()]);
    // The process list is read in the background: Enter once the client's row is there.
    tmux.wait_for("  1 of ");
    tmux.keys(&["Enter"]);
    let screen = tmux.wait_for("/echo?n=");
    assert!(screen.contains("POST"), "{screen}");
    // Copy the selected (latest) request.
    tmux.keys(&["c"]);
    tmux.wait_for("Copy as…");
    tmux.keys(&["Enter"]);
    tmux.wait_for("curl: ");
    let command = tmux.buffer();
    assert!(command.starts_with("curl "), "{command:?}");
    // A key sent before Escape took effect can arrive in the same read as Escape and be read
    // as Alt+key: the next keys go once the menu is gone.
    tmux.keys(&["Escape"]);
    tmux.wait_gone("Copy as…");
    // Mark the newest and the one before, compare them, and write them as a HAR file.
    tmux.keys(&["m", "k", "m"]);
    tmux.wait_for("2 marked");
    tmux.keys(&["="]);
    let screen = tmux.wait_for("Compare #");
    // Two requests of the loop differ in their query's n and their bodies' echo.
    assert!(screen.contains("url"), "{screen}");
    tmux.keys(&["x"]);
    tmux.wait_for("only those shown");
    tmux.keys(&["Escape"]);
    tmux.wait_gone("Compare #");
    let har = work_dir().join("ui-live.har");
    let _ = std::fs::remove_file(&har);
    tmux.keys(&["w"]);
    tmux.wait_for("write 2 marked to:");
    tmux.keys(&["C-u"]);
    tmux.keys(&["-l", &har.display().to_string()]);
    tmux.keys(&["Enter"]);
    tmux.wait_for("wrote 2 exchanges");
    let doc: serde_json::Value = serde_json::from_slice(&std::fs::read(&har).unwrap()).unwrap();
    let entries = doc["log"]["entries"].as_array().expect("entries");
    assert_eq!(entries.len(), 2);
    for e in entries {
        assert_eq!(e["request"]["method"], "POST");
        assert!(e["request"]["url"].as_str().unwrap().contains("/echo?n="));
    }
    validate_har("ui_live", &har);
    tmux.keys(&["q"]);
    // The copied command, run for real (trusting the test certificate), captured by apitop.
    let (cert, _) = cert();
    let run = Run::from_output(
        Command::new(APITOP)
            .args(["--json", "--", "sh", "-c"])
            .arg(format!("{command} -s -o /dev/null"))
            .env("CURL_CA_BUNDLE", &cert)
            .output()
            .unwrap(),
    );
    run.assert_ok();
    assert_eq!(run.exchanges.len(), 1, "{command}\n{}", run.stderr);
    let x = &run.exchanges[0];
    assert_eq!(x["method"], "POST");
    assert!(x["path"].as_str().unwrap().starts_with("/echo?n="));
    assert_eq!(x["request"]["body"], r#"{"order": 7, "note": "it's here"}"#);
    assert_eq!(x["status"], 200);
    let headers = x["request"]["headers"].as_array().unwrap();
    let has = |n: &str, v: &str| {
        headers
            .iter()
            .any(|h| h[0].as_str().unwrap().eq_ignore_ascii_case(n) && h[1] == v)
    };
    assert!(has("x-trace", "abc 123"), "{headers:?}");
    assert!(has("content-type", "application/json"), "{headers:?}");
}
