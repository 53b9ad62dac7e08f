//! The receiver with a fake agent: this test process connects as the JVM would (its pid is
//! what SO_PEERCRED reports) and sends frames, good and bad.
use super::*;
use crate::java::frames::encode;
use std::io::Write;

fn listener(name: &str) -> (UnixListener, std::path::PathBuf) {
    let dir = std::env::temp_dir().join(format!("apitop-recv-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("agent.sock");
    (UnixListener::bind(&path).unwrap(), path)
}

fn hello(token: &str) -> Vec<u8> {
    encode(&Frame::Hello {
        version: 1,
        pid: 1,
        java_version: "17.0.15".into(),
        vm_name: "OpenJDK 64-Bit Server VM".into(),
        token: token.into(),
    })
}

fn wait_for(cond: impl Fn() -> bool) -> bool {
    for _ in 0..300 {
        if cond() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    false
}

/// A fake agent (this process: its pid is what SO_PEERCRED reports) sends every kind of
/// frame; the events are what the capture expects, keyed apart from SSL* and plain keys.
#[test]
fn frames_from_a_fake_agent_become_events() {
    let me = std::process::id();
    let r = JavaReceiver::start().unwrap();
    let (l, path) = listener("good");
    r.register(Registration {
        pid: me,
        token: "cafe".into(),
        listener: l,
    });
    let mut s = UnixStream::connect(&path).unwrap();
    let mut stream = hello("cafe");
    for f in [
        Frame::Conn {
            id: 5,
            role: 1,
            path: 1,
            local: "127.0.0.1:40000".into(),
            peer: "127.0.0.1:8443".into(),
        },
        Frame::Data {
            id: 5,
            ts: 1_000,
            received: false,
            bytes: b"GET / HTTP/1.1\r\nHost: x\r\n\r\n".to_vec(),
        },
        Frame::Data {
            id: 5,
            ts: 2_000,
            received: true,
            bytes: b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n".to_vec(),
        },
        Frame::Close { id: 5 },
        Frame::Dropped { bytes: 77 },
    ] {
        stream.extend(encode(&f));
    }
    // Written in small pieces: frames cut across reads.
    for chunk in stream.chunks(7) {
        s.write_all(chunk).unwrap();
    }
    let mut evs = Vec::new();
    while evs.len() < 6 {
        match r.recv_timeout(Duration::from_secs(5)) {
            Some(e) => evs.push(e),
            None => panic!("only {} events: {evs:?}", evs.len()),
        }
    }
    let key = ConnKey {
        pid: me,
        conn: java_conn(5),
    };
    assert!(
        key.conn >> 48 == 0xFFFE,
        "Java keys have their own high bits"
    );
    assert!(matches!(&evs[0], Event::Process { pid, .. } if *pid == me));
    assert!(matches!(&evs[1], Event::Addrs { key: k, local, peer, .. }
            if *k == key && local == "127.0.0.1:40000" && peer == "127.0.0.1:8443"));
    match &evs[2] {
        Event::Data {
            key: k,
            ts,
            fd,
            dir,
            tls,
            bytes,
            total,
            offset,
            ..
        } => {
            assert_eq!(
                (*k, *ts, *fd, *dir, *tls),
                (key, 1_000, -1, Direction::Write, true)
            );
            assert!(bytes.starts_with(b"GET /"));
            assert_eq!((*total as usize, *offset), (bytes.len(), 0));
        }
        e => panic!("{e:?}"),
    }
    assert!(matches!(
        &evs[3],
        Event::Data {
            dir: Direction::Read,
            ..
        }
    ));
    assert!(matches!(&evs[4], Event::Close { key: k, .. } if *k == key));
    assert!(matches!(&evs[5], Event::Lost { counters, .. } if counters.java_dropped_bytes == 77));
    assert_eq!(r.stats().agents.load(Ordering::Relaxed), 1);

    // An open connection is closed when its agent goes.
    s.write_all(&encode(&Frame::Conn {
        id: 6,
        role: 2,
        path: 2,
        local: "".into(),
        peer: "".into(),
    }))
    .unwrap();
    drop(s);
    match r.recv_timeout(Duration::from_secs(5)) {
        Some(Event::Close { key: k, .. }) => assert_eq!(k.conn, java_conn(6)),
        e => panic!("{e:?}"),
    }
    let _ = std::fs::remove_dir_all(path.parent().unwrap());
}

/// Garbage, an oversized frame, a wrong token and a wrong peer each close that connection
/// and are counted; the receiver keeps serving the good agent.
#[test]
fn bad_agents_are_closed_and_counted() {
    let me = std::process::id();
    let r = JavaReceiver::start().unwrap();
    let (l, path) = listener("bad");
    r.register(Registration {
        pid: me,
        token: "beef".into(),
        listener: l,
    });
    let closed = |s: &mut UnixStream| {
        s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        let mut b = [0u8; 1];
        matches!(s.read(&mut b), Ok(0) | Err(_))
    };
    // Wrong token.
    let mut s = UnixStream::connect(&path).unwrap();
    s.write_all(&hello("dead")).unwrap();
    assert!(closed(&mut s));
    assert!(wait_for(|| r.stats().rejected.load(Ordering::Relaxed) == 1));
    // Oversized length after a good HELLO.
    let mut s = UnixStream::connect(&path).unwrap();
    s.write_all(&hello("beef")).unwrap();
    s.write_all(&u32::MAX.to_le_bytes()).unwrap();
    assert!(closed(&mut s));
    assert!(wait_for(
        || r.stats().bad_frames.load(Ordering::Relaxed) == 1
    ));
    // Garbage of a valid length.
    let mut s = UnixStream::connect(&path).unwrap();
    s.write_all(&hello("beef")).unwrap();
    s.write_all(&[3, 0, 0, 0, 99, 1, 2]).unwrap();
    assert!(closed(&mut s));
    assert!(wait_for(
        || r.stats().bad_frames.load(Ordering::Relaxed) == 2
    ));
    // A connection id outside the 48 bits the keys hold.
    let mut s = UnixStream::connect(&path).unwrap();
    s.write_all(&hello("beef")).unwrap();
    s.write_all(&encode(&Frame::Close { id: 1 << 50 })).unwrap();
    assert!(closed(&mut s));
    assert!(wait_for(
        || r.stats().bad_frames.load(Ordering::Relaxed) == 3
    ));
    // A listener registered for another pid refuses this process.
    let (l2, path2) = listener("otherpid");
    r.register(Registration {
        pid: 1,
        token: "beef".into(),
        listener: l2,
    });
    let mut s = UnixStream::connect(&path2).unwrap();
    let _ = s.write_all(&hello("beef"));
    assert!(closed(&mut s));
    assert!(wait_for(|| r.stats().rejected.load(Ordering::Relaxed) == 2));
    // Only the good HELLOs produced events (one Process each), nothing else.
    let mut evs = Vec::new();
    r.drain(&mut evs, 100);
    assert!(
        evs.iter().all(|e| matches!(e, Event::Process { .. })),
        "{evs:?}"
    );
    for p in [path, path2] {
        let _ = std::fs::remove_dir_all(p.parent().unwrap());
    }
}
