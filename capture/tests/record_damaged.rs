//! Recordings are input from whoever sent the file: a damaged one is an error that says where
//! the damage is (record number and byte offset), never a panic or a huge allocation.
use std::io::Cursor;
use std::path::PathBuf;

use capture::event::{ConnKey, Direction, Event, Limits};
use capture::pipeline::Pipeline;
use capture::record::{Reader, RecordError, Writer, MAGIC, VERSION};
use proptest::prelude::*;

fn events() -> Vec<Event> {
    let key = ConnKey { pid: 42, conn: 7 };
    let data = |ts, dir, bytes: &[u8]| Event::Data {
        ts,
        key,
        tid: 42,
        fd: 5,
        dir,
        total: bytes.len() as u32,
        offset: 0,
        bytes: bytes.to_vec(),
        tls: true,
    };
    vec![
        Event::Process {
            ts: 1,
            pid: 42,
            comm: "client".into(),
        },
        Event::Addrs {
            ts: 2,
            key,
            local: "127.0.0.1:5000".into(),
            peer: "127.0.0.1:443".into(),
        },
        data(3, Direction::Write, b"GET / HTTP/1.1\r\nHost: a\r\n\r\n"),
        data(
            4,
            Direction::Read,
            b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok",
        ),
        Event::Close { ts: 5, key },
    ]
}

/// The bytes of a recording of the first `n` events, made by the real writer.
fn recording(n: usize) -> Vec<u8> {
    let dir = std::env::temp_dir().join(format!("apitop-record-damaged-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path: PathBuf = dir.join(format!("{n}.apitop"));
    let mut w = Writer::create(&path).unwrap();
    for ev in &events()[..n] {
        w.write(ev).unwrap();
    }
    w.finish().unwrap();
    std::fs::read(&path).unwrap()
}

fn read_all(bytes: Vec<u8>) -> (Vec<Event>, Option<RecordError>) {
    let reader = match Reader::new(Cursor::new(bytes), "trace.apitop".into()) {
        Ok(r) => r,
        Err(e) => return (Vec::new(), Some(e)),
    };
    let mut evs = Vec::new();
    for r in reader {
        match r {
            Ok(ev) => evs.push(ev),
            Err(e) => return (evs, Some(e)),
        }
    }
    (evs, None)
}

#[test]
fn whole_recording_reads_back() {
    let (evs, err) = read_all(recording(5));
    assert!(err.is_none(), "{err:?}");
    assert_eq!(evs, events());
}

#[test]
fn truncated_file_names_the_record_and_its_offset() {
    let full = recording(5);
    // Record 5 (the Close) starts where a recording of four events ends.
    let at = recording(4).len();
    for cut in [at + 2, full.len() - 1] {
        let (evs, err) = read_all(full[..cut].to_vec());
        assert_eq!(evs.len(), 4);
        let msg = err.expect("an error").to_string();
        assert!(
            msg.starts_with(
                "trace.apitop: recording is truncated after 4 events: record 5 at byte "
            ),
            "{msg}"
        );
        assert!(msg.contains(&format!("record 5 at byte {at} ")), "{msg}");
    }
    let (_, err) = read_all(full[..9].to_vec());
    assert!(
        err.unwrap()
            .to_string()
            .contains("the 10-byte header ends after 9 bytes"),
        "header cut"
    );
}

#[test]
fn corrupted_length_is_refused_before_allocating() {
    let mut bytes = recording(5);
    // Record 3 is the first data record; its length field follows its tag byte.
    let at = recording(2).len();
    assert_eq!(bytes[at], 1, "record 3 is a data record");
    bytes[at + 1..at + 5].copy_from_slice(&u32::MAX.to_le_bytes());
    let (evs, err) = read_all(bytes);
    assert_eq!(evs.len(), 2);
    let err = err.expect("an error");
    assert!(
        matches!(err, RecordError::Damaged { record: 3, offset, .. } if offset == at as u64),
        "{err:?}"
    );
    let msg = err.to_string();
    assert!(
        msg.starts_with(&format!(
            "trace.apitop: damaged record 3 at byte {at}: payload length 4294967295 exceeds"
        )),
        "{msg}"
    );
}

/// A length within the limits but past the end of the file is a truncation at that record,
/// and costs no more memory than the file holds.
#[test]
fn length_past_the_end_is_a_truncation() {
    let mut bytes = recording(3);
    let at = recording(2).len();
    bytes[at + 1..at + 5].copy_from_slice(&16_000u32.to_le_bytes());
    let (_, err) = read_all(bytes);
    let msg = err.expect("an error").to_string();
    assert!(
        msg.contains(&format!("record 3 at byte {at} needs 16005 bytes")),
        "{msg}"
    );
}

/// A byte-string length inside a record that points past the record's end.
#[test]
fn corrupted_field_names_its_offset() {
    let mut bytes = recording(1);
    // Process: tag, len, ts (8), pid (4), then the comm's length.
    let field = 10 + 5 + 12;
    bytes[field..field + 4].copy_from_slice(&1000u32.to_le_bytes());
    let (_, err) = read_all(bytes);
    let msg = err.expect("an error").to_string();
    assert_eq!(
        msg,
        format!(
            "trace.apitop: damaged record 1 at byte 10: a 1000-byte field at byte {} runs past the end of the record (6 bytes left)",
            field + 4
        )
    );
}

#[test]
fn unknown_record_kinds_are_skipped() {
    let mut bytes = recording(2);
    bytes.extend_from_slice(&[200, 3, 0, 0, 0, 9, 9, 9]);
    bytes.extend_from_slice(&recording(3)[recording(2).len()..]);
    let (evs, err) = read_all(bytes);
    assert!(err.is_none(), "{err:?}");
    assert_eq!(evs, events()[..3]);
}

/// Deterministic garbage (xorshift) after a valid header: an error naming a byte offset.
#[test]
fn garbage_after_the_header_is_located() {
    let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
    for _ in 0..200 {
        let mut bytes = MAGIC.to_vec();
        bytes.extend_from_slice(&VERSION.to_le_bytes());
        for _ in 0..64 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            bytes.push(x as u8);
        }
        let (_, err) = read_all(bytes);
        let msg = err.expect("garbage read as a whole recording").to_string();
        assert!(msg.contains(" at byte "), "{msg}");
    }
}

proptest! {
    /// Whatever follows the header, reading and decoding it never panics, and an error names
    /// where the damage is.
    #[test]
    fn any_bytes_after_the_header(tail in proptest::collection::vec(any::<u8>(), 0..400)) {
        let mut bytes = MAGIC.to_vec();
        bytes.extend_from_slice(&VERSION.to_le_bytes());
        bytes.extend_from_slice(&tail);
        let (evs, err) = read_all(bytes);
        if let Some(e) = err {
            prop_assert!(e.to_string().contains(" at byte "), "{}", e);
        }
        let mut p = Pipeline::new(Limits::default());
        let mut out = Vec::new();
        for ev in evs {
            p.push(ev, &mut out);
        }
        p.finish(u64::MAX, &mut out);
    }

    /// Well-framed records of known kinds with arbitrary contents: decoded or refused with a
    /// location, and the pipeline takes whatever decodes without panicking.
    #[test]
    fn any_fields_in_known_records(
        records in proptest::collection::vec((1u8..=7, proptest::collection::vec(any::<u8>(), 0..80)), 0..20)
    ) {
        let mut bytes = MAGIC.to_vec();
        bytes.extend_from_slice(&VERSION.to_le_bytes());
        for (tag, payload) in &records {
            bytes.push(*tag);
            bytes.extend_from_slice(&(payload.len() as u32).to_le_bytes());
            bytes.extend_from_slice(payload);
        }
        let (evs, err) = read_all(bytes);
        if let Some(e) = err {
            prop_assert!(matches!(e, RecordError::Damaged { .. }), "{}", e);
        }
        let mut p = Pipeline::new(Limits::default());
        let mut out = Vec::new();
        for ev in evs {
            p.push(ev, &mut out);
        }
        p.finish(u64::MAX, &mut out);
    }
}

/// An event with arbitrary field values, data that often starts like HTTP.
fn any_event() -> impl Strategy<Value = Event> {
    let key = (0u32..3, 0u64..3).prop_map(|(pid, conn)| ConnKey { pid, conn });
    let bytes = prop_oneof![
        proptest::collection::vec(any::<u8>(), 0..64),
        (
            prop_oneof![
                Just(&b"GET / HTTP/1.1\r\nHost: a\r\nContent-Length: 99999999999\r\n\r\n"[..]),
                Just(&b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nffffffffffffffff\r\n"[..]),
                Just(&b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n\x00\xff\xff\x01\x05\x00\x00\x00\x01"[..]),
                Just(&b"\x00\x00\x00\x04\x00\x00\x00\x00\x00"[..]),
            ],
            proptest::collection::vec(any::<u8>(), 0..32),
        )
            .prop_map(|(head, tail)| [head, &tail[..]].concat()),
    ];
    prop_oneof![
        4 => (any::<u64>(), key.clone(), any::<i32>(), any::<bool>(), any::<u32>(), any::<u32>(), bytes, any::<bool>())
            .prop_map(|(ts, key, fd, read, total, offset, bytes, tls)| Event::Data {
                ts, key, tid: 1, fd,
                dir: if read { Direction::Read } else { Direction::Write },
                total, offset, bytes, tls,
            }),
        1 => (any::<u64>(), key.clone()).prop_map(|(ts, key)| Event::Close { ts, key }),
        1 => (any::<u64>(), key.clone(), any::<i32>()).prop_map(|(ts, key, fd)| Event::Fd { ts, key, fd }),
        1 => (any::<u64>(), key.clone(), any::<bool>(), any::<u32>()).prop_map(|(ts, key, read, len)| Event::Gap {
            ts, key, dir: if read { Direction::Read } else { Direction::Write }, len,
        }),
        1 => (any::<u64>(), key, ".{0,20}", ".{0,20}").prop_map(|(ts, key, local, peer)| Event::Addrs { ts, key, local, peer }),
        1 => (any::<u64>(), 0u32..3, ".{0,16}").prop_map(|(ts, pid, comm)| Event::Process { ts, pid, comm }),
        1 => (any::<u64>(), 0u32..3).prop_map(|(ts, pid)| Event::Exit { ts, pid }),
        1 => (any::<u64>(), any::<[u64; 5]>()).prop_map(|(ts, c)| Event::Lost {
            ts,
            counters: capture::event::LossCounters { ring_full: c[0], truncated_bytes: c[1], read_faults: c[2], map_full: c[3], java_dropped_bytes: c[4] },
        }),
    ]
}

proptest! {
    /// A crafted recording (well formed, any values: timestamps, offsets, totals, lengths
    /// claimed in the HTTP itself) reads back as written and decodes without panicking.
    #[test]
    fn crafted_events_decode_without_panic(events in proptest::collection::vec(any_event(), 0..30)) {
        let (read, err) = {
            let dir = std::env::temp_dir().join(format!("apitop-record-crafted-{}", std::process::id()));
            std::fs::create_dir_all(&dir).unwrap();
            let path = dir.join("crafted.apitop");
            let mut w = Writer::create(&path).unwrap();
            for ev in &events {
                w.write(ev).unwrap();
            }
            w.finish().unwrap();
            read_all(std::fs::read(&path).unwrap())
        };
        prop_assert!(err.is_none(), "{:?}", err);
        prop_assert_eq!(&read, &events);
        let mut p = Pipeline::new(Limits { max_connections: 2, ..Limits::default() });
        let mut out = Vec::new();
        let mut last = 0;
        for ev in read {
            last = ev.ts();
            p.push(ev, &mut out);
        }
        p.finish(last, &mut out);
        let _ = p.stats().drops();
    }
}
