//! End to end, on the library: the ring keeps draining while the maintenance thread is stuck
//! (a slow attach), and every one of many short connections gets its own addresses.
mod support;

use std::collections::HashMap;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use capture::event::{ConnKey, Event};
use capture::live::LiveCapture;
use support::*;

const CONNECTIONS: usize = 200;

/// One short plain HTTP/1.1 exchange on its own connection; returns the client's address.
fn one_request(port: u16, i: usize) -> SocketAddr {
    let mut s = TcpStream::connect(("127.0.0.1", port)).expect("connect");
    let local = s.local_addr().unwrap();
    write!(
        s,
        "GET /k/{i} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut reply = Vec::new();
    s.read_to_end(&mut reply).expect("reading the reply");
    assert!(reply.starts_with(b"HTTP/1.1 200"), "{reply:?}");
    local
}

/// What the server-side events say about each connection: the request line read and the
/// addresses reported.
#[derive(Default)]
struct Conn {
    request: Vec<u8>,
    addrs: Option<(String, String)>,
}

#[test]
fn draining_goes_on_while_maintenance_is_stalled() {
    if !ebpf_available("draining_goes_on_while_maintenance_is_stalled") {
        return;
    }
    let (srv, port) = http_server();
    let mut live = LiveCapture::new().expect("loading the probes");
    let server_pid = srv.pid();
    live.add_pid(server_pid).expect("attaching to the server");

    // A stuck drain would never get here to fail: end the run instead of hanging CI.
    let done = Arc::new(AtomicBool::new(false));
    let watchdog = done.clone();
    std::thread::spawn(move || {
        std::thread::sleep(Duration::from_secs(180));
        if !watchdog.load(Ordering::SeqCst) {
            eprintln!("draining_goes_on_while_maintenance_is_stalled: no progress in 180 s");
            std::process::exit(101);
        }
    });

    let stall = live.stall_maintenance();
    let client = std::thread::spawn(move || {
        (0..CONNECTIONS)
            .map(|i| one_request(port, i))
            .collect::<Vec<_>>()
    });
    // Open connections by key; a key may be reused after its Close, so closed ones move out.
    let mut conns: HashMap<ConnKey, Conn> = HashMap::new();
    let mut closed: Vec<Conn> = Vec::new();
    let mut events = Vec::new();
    let complete = |conns: &HashMap<ConnKey, Conn>, closed: &[Conn]| {
        conns
            .values()
            .chain(closed)
            .filter(|c| c.addrs.is_some() && c.request.starts_with(b"GET /k/"))
            .count()
            >= CONNECTIONS
    };
    let deadline = Instant::now() + OUTPUT_TIMEOUT * 3;
    while !complete(&conns, &closed) && Instant::now() < deadline {
        live.wait(Duration::from_millis(5));
        live.poll(&mut events);
        for ev in events.drain(..) {
            match ev {
                Event::Data { key, bytes, .. } if key.pid == server_pid => {
                    let c = conns.entry(key).or_default();
                    if c.request.len() < 64 {
                        c.request.extend_from_slice(&bytes);
                    }
                }
                Event::Addrs {
                    key, local, peer, ..
                } if key.pid == server_pid => {
                    conns.entry(key).or_default().addrs = Some((local, peer));
                }
                Event::Close { key, .. } if key.pid == server_pid => {
                    closed.extend(conns.remove(&key));
                }
                _ => {}
            }
        }
    }
    done.store(true, Ordering::SeqCst);
    // Still stalled here: everything above was drained without the maintenance thread.
    drop(stall);
    let clients = client.join().expect("client thread");

    // Each request's connection, by the path it asked for, has the client's address as peer
    // and the server's as local.
    let by_path: HashMap<String, &Conn> = conns
        .values()
        .chain(&closed)
        .filter_map(|c| {
            let line = String::from_utf8_lossy(&c.request).into_owned();
            let path = line.strip_prefix("GET ")?.split(' ').next()?.to_string();
            Some((path, c))
        })
        .collect();
    for (i, client) in clients.iter().enumerate() {
        let c = by_path
            .get(&format!("/k/{i}"))
            .unwrap_or_else(|| panic!("request {i} not captured ({} seen)", by_path.len()));
        let (local, peer) = c
            .addrs
            .as_ref()
            .unwrap_or_else(|| panic!("request {i}: no addresses"));
        assert_eq!(peer, &client.to_string(), "request {i}");
        assert_eq!(local, &format!("127.0.0.1:{port}"), "request {i}");
    }
}
