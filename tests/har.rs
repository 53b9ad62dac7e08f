//! HAR export without root: a real recording (`assets/sample.apitop`) converted with
//! `-r FILE --har OUT`, checked by npm's har-validator (one nobody here wrote, installed by
//! scripts/test-deps.sh) and against the `--json` lines of the same recording.
mod support;

use std::path::PathBuf;
use std::process::Command;

use serde_json::Value;
use support::*;

const SAMPLE: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../assets/sample.apitop");

fn apitop(args: &[&str]) -> std::process::Output {
    Command::new(APITOP)
        .args(args)
        .output()
        .expect("running apitop")
}

fn out_path(name: &str) -> PathBuf {
    let p = work_dir().join(name);
    let _ = std::fs::remove_file(&p);
    p
}

/// Converts the sample recording; returns the parsed document and the run's stdout.
fn convert(extra: &[&str], name: &str) -> (Value, PathBuf, String) {
    let path = out_path(name);
    let mut args = vec!["-r", SAMPLE, "--har", path.to_str().unwrap()];
    args.extend_from_slice(extra);
    let out = apitop(&args);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "apitop {args:?} failed: {stderr}");
    assert!(stderr.contains("HAR entries written"), "{stderr}");
    let doc = serde_json::from_slice(&std::fs::read(&path).unwrap()).expect("the HAR is JSON");
    (doc, path, String::from_utf8(out.stdout).unwrap())
}

/// The `--json` lines of the sample recording.
fn json_lines(extra: &[&str]) -> Vec<Value> {
    let mut args = vec!["-r", SAMPLE, "--json"];
    args.extend_from_slice(extra);
    let out = apitop(&args);
    assert!(out.status.success());
    String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

fn entries(doc: &Value) -> &Vec<Value> {
    doc["log"]["entries"].as_array().expect("log.entries")
}

/// Headers as the JSON line has them (`[[name, value], ...]`), from a HAR header list.
fn pairs(har_headers: &Value) -> Value {
    Value::Array(
        har_headers
            .as_array()
            .unwrap()
            .iter()
            .map(|h| serde_json::json!([h["name"], h["value"]]))
            .collect(),
    )
}

#[test]
fn sample_recording_is_a_valid_har_matching_the_json_lines() {
    let (doc, path, stdout) = convert(&[], "sample.har");
    assert!(stdout.is_empty(), "--har alone prints nothing on stdout");
    assert_eq!(doc["log"]["version"], "1.2");
    assert_eq!(doc["log"]["creator"]["name"], "apitop");
    let lines = json_lines(&[]);
    let entries = entries(&doc);
    assert!(!lines.is_empty());
    assert_eq!(entries.len(), lines.len(), "one entry per JSON line");
    if let Some(verdict) = validate_har("sample_recording_is_a_valid_har", &path) {
        assert_eq!(verdict, format!("valid {}", lines.len()));
    }
    for (e, l) in entries.iter().zip(&lines) {
        assert_eq!(e["_apitop"]["id"], l["id"]);
        assert_eq!(e["request"]["method"], l["method"]);
        assert_eq!(e["request"]["url"], l["url"]);
        assert_eq!(e["startedDateTime"], l["start"]);
        // The same (masked) headers as the JSON line.
        assert_eq!(pairs(&e["request"]["headers"]), l["request"]["headers"]);
        match l["response"].is_null() {
            true => assert_eq!(e["response"]["status"], 0),
            false => {
                assert_eq!(e["response"]["status"], l["status"]);
                assert_eq!(pairs(&e["response"]["headers"]), l["response"]["headers"]);
                assert_eq!(e["response"]["bodySize"], l["response"]["body_size"]);
            }
        }
        // send + wait + receive is the exchange's duration, none negative, none null.
        let t = &e["timings"];
        let phase = |k: &str| t[k].as_f64().unwrap_or_else(|| panic!("timings.{k}: {t}"));
        let (send, wait, receive) = (phase("send"), phase("wait"), phase("receive"));
        assert!(send >= 0.0 && wait >= 0.0 && receive >= 0.0, "{t}");
        // (A float parsed back may differ from the one written in its last bit.)
        let time = e["time"].as_f64().expect("time");
        assert!(
            (time - (send + wait + receive)).abs() < 1e-6,
            "{time} vs {t}"
        );
        if let Some(d) = l["duration_ms"].as_f64() {
            assert!((send + wait + receive - d).abs() < 1e-6, "{t} vs {d} ms");
        }
        for k in ["blocked", "dns", "connect", "ssl"] {
            assert_eq!(t[k].as_f64(), Some(-1.0), "{k}");
        }
    }
}

/// `--json` with `--har`: the lines on stdout and the file, the same exchanges in both.
#[test]
fn json_and_har_together() {
    let (doc, _, stdout) = convert(&["--json"], "both.har");
    let lines: Vec<Value> = stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), entries(&doc).len());
    assert_eq!(lines, json_lines(&[]));
}

/// Unmasked only when asked: `--no-mask` changes the HAR exactly where it changes the lines.
#[test]
fn masking_follows_the_flags() {
    let (masked, _, _) = convert(&[], "masked.har");
    let (raw, _, _) = convert(&["--no-mask"], "raw.har");
    let (lines, raw_lines) = (json_lines(&[]), json_lines(&["--no-mask"]));
    for (i, (m, r)) in entries(&masked).iter().zip(entries(&raw)).enumerate() {
        assert_eq!(
            pairs(&m["request"]["headers"]),
            lines[i]["request"]["headers"]
        );
        assert_eq!(
            pairs(&r["request"]["headers"]),
            raw_lines[i]["request"]["headers"]
        );
    }
}

#[test]
fn unsafe_paths_are_refused() {
    let target = out_path("target.har");
    std::fs::write(&target, b"keep").unwrap();
    let link = out_path("link.har");
    std::os::unix::fs::symlink(&target, &link).unwrap();
    let out = apitop(&["-r", SAMPLE, "--har", link.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("symbolic link"), "{err}");
    assert_eq!(std::fs::read(&target).unwrap(), b"keep");
    // A recording that cannot be read still leaves a valid (empty) HAR, not half a document.
    let har = out_path("missing.har");
    let out = apitop(&["-r", "/nonexistent.apitop", "--har", har.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    let doc: Value = serde_json::from_slice(&std::fs::read(&har).unwrap()).unwrap();
    assert!(entries(&doc).is_empty());
}

#[test]
fn help_names_har() {
    let help = String::from_utf8_lossy(&apitop(&["--help"]).stdout).into_owned();
    assert!(help.contains("--har <FILE>"), "{help}");
    assert!(help.contains("HAR 1.2"), "{help}");
    let out = apitop(&["--list", "--har", "x.har"]);
    assert_eq!(out.status.code(), Some(2));
}
