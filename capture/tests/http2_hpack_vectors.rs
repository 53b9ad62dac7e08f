//! HPACK decoding against the public hpack-test-case corpus (real encoders' output), stored
//! under `tests/vectors/hpack/`. Every header list must decode exactly, in order.
use std::path::{Path, PathBuf};

use capture::http2::hpack::Decoder;
use serde_json::Value;

fn vectors_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/vectors/hpack")
}

fn stories() -> Vec<PathBuf> {
    let mut out = Vec::new();
    for dir in std::fs::read_dir(vectors_dir()).expect("vectors dir") {
        let dir = dir.unwrap().path();
        if !dir.is_dir() {
            continue;
        }
        for f in std::fs::read_dir(&dir).unwrap() {
            let f = f.unwrap().path();
            if f.extension().is_some_and(|e| e == "json") {
                out.push(f);
            }
        }
    }
    out.sort();
    out
}

fn unhex(s: &str) -> Vec<u8> {
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).expect("hex"))
        .collect()
}

/// Decodes every case of one story in order; returns the number of header fields checked.
fn check_story(path: &Path) -> usize {
    let story: Value = serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap();
    let mut decoder = Decoder::new();
    let mut fields = 0;
    for case in story["cases"].as_array().expect("cases") {
        let seqno = &case["seqno"];
        if let Some(size) = case.get("header_table_size").and_then(Value::as_u64) {
            decoder.set_allowed_size(size as usize);
        }
        let wire = unhex(case["wire"].as_str().expect("wire"));
        let got = decoder
            .decode(&wire, 1 << 20)
            .unwrap_or_else(|e| panic!("{}: case {seqno}: {e}", path.display()));
        let want: Vec<(String, String)> = case["headers"]
            .as_array()
            .expect("headers")
            .iter()
            .flat_map(|h| h.as_object().expect("header object").iter())
            .map(|(n, v)| (n.clone(), v.as_str().expect("value").to_string()))
            .collect();
        assert_eq!(got, want, "{}: case {seqno}", path.display());
        fields += want.len();
    }
    fields
}

#[test]
fn every_stored_story_decodes_exactly() {
    let stories = stories();
    assert!(stories.len() >= 30, "vectors missing: {}", stories.len());
    let mut fields = 0;
    let mut dirs = std::collections::BTreeSet::new();
    for s in &stories {
        fields += check_story(s);
        dirs.insert(s.parent().unwrap().file_name().unwrap().to_owned());
    }
    // Huffman and plain encoders, and table size changes, are all in the set.
    assert!(dirs.len() >= 7, "{dirs:?}");
    assert!(fields > 10_000, "only {fields} fields checked");
}

#[test]
fn a_corrupted_case_does_not_match() {
    // The check can fail: one flipped byte in a Huffman-coded block must not decode to the
    // expected list.
    let path = vectors_dir().join("nghttp2/story_00.json");
    let story: Value = serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap();
    let case = &story["cases"][0];
    let mut wire = unhex(case["wire"].as_str().unwrap());
    let last = wire.len() - 1;
    wire[last] ^= 0x55;
    let want: Vec<(String, String)> = case["headers"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|h| h.as_object().unwrap().iter())
        .map(|(n, v)| (n.clone(), v.as_str().unwrap().to_string()))
        .collect();
    assert_ne!(Decoder::new().decode(&wire, 1 << 20).ok(), Some(want));
}
