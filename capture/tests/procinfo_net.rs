//! Socket addresses and listening ports of this very process, checked against what std says.
use std::net::{TcpListener, TcpStream};
use std::os::fd::AsRawFd;

use capture::procinfo::{listening_ports, socket_addrs, AddrLookup, AddrSource};

fn me() -> u32 {
    std::process::id()
}

/// (listener, client end, server end) connected over `bind`.
fn pair(bind: &str) -> Option<(TcpListener, TcpStream, TcpStream)> {
    let listener = TcpListener::bind(bind).ok()?;
    let client = TcpStream::connect(listener.local_addr().ok()?).ok()?;
    let (server, _) = listener.accept().ok()?;
    Some((listener, client, server))
}

#[test]
fn ipv4_connection_both_ends() {
    let (listener, client, server) = pair("127.0.0.1:0").expect("loopback v4");
    let (local, peer) = socket_addrs(me(), client.as_raw_fd()).expect("client fd is a socket");
    assert_eq!(local, client.local_addr().unwrap().to_string());
    assert_eq!(peer, listener.local_addr().unwrap().to_string());
    assert!(peer.starts_with("127.0.0.1:"));

    let (local, peer) = socket_addrs(me(), server.as_raw_fd()).unwrap();
    assert_eq!(local, listener.local_addr().unwrap().to_string());
    assert_eq!(peer, client.local_addr().unwrap().to_string());

    let (local, peer) = socket_addrs(me(), listener.as_raw_fd()).unwrap();
    assert_eq!(local, listener.local_addr().unwrap().to_string());
    assert_eq!(peer, "0.0.0.0:0");
}

#[test]
fn ipv6_connection_is_bracketed() {
    let Some((listener, client, _server)) = pair("[::1]:0") else {
        eprintln!("skipped: no IPv6 loopback");
        return;
    };
    let port = listener.local_addr().unwrap().port();
    let (local, peer) = socket_addrs(me(), client.as_raw_fd()).unwrap();
    assert_eq!(peer, format!("[::1]:{port}"));
    assert_eq!(local, client.local_addr().unwrap().to_string());
    assert!(local.starts_with("[::1]:"));
}

#[test]
fn ipv4_mapped_ipv6_shows_as_ipv4() {
    // A dual-stack listener accepting a v4 client: the kernel keeps the accepted socket in
    // tcp6 with ::ffff:127.0.0.1 addresses.
    let Ok(listener) = TcpListener::bind("[::]:0") else {
        eprintln!("skipped: no IPv6");
        return;
    };
    let port = listener.local_addr().unwrap().port();
    let Ok(client) = TcpStream::connect(("127.0.0.1", port)) else {
        eprintln!("skipped: [::] listener is v6-only here");
        return;
    };
    let (server, _) = listener.accept().unwrap();
    let (local, peer) = socket_addrs(me(), server.as_raw_fd()).unwrap();
    assert_eq!(local, format!("127.0.0.1:{port}"));
    assert_eq!(peer, client.local_addr().unwrap().to_string());
}

#[test]
fn non_sockets_and_bad_fds_have_no_addresses() {
    let file = std::fs::File::open("/proc/self/status").unwrap();
    assert_eq!(socket_addrs(me(), file.as_raw_fd()), None);
    assert_eq!(socket_addrs(me(), -1), None);
    assert_eq!(socket_addrs(me(), 1_000_000), None);
    let udp = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    assert_eq!(socket_addrs(me(), udp.as_raw_fd()), None);
}

#[test]
fn listening_ports_of_own_process() {
    let v4 = TcpListener::bind("127.0.0.1:0").unwrap();
    let v6 = TcpListener::bind("[::1]:0").ok();
    let (_l, _c, _s) = pair("127.0.0.1:0").unwrap();
    let ports = listening_ports(me());
    assert!(
        ports.contains(&v4.local_addr().unwrap().port()),
        "{ports:?}"
    );
    if let Some(v6) = &v6 {
        assert!(
            ports.contains(&v6.local_addr().unwrap().port()),
            "{ports:?}"
        );
    }
    assert!(
        ports.windows(2).all(|w| w[0] < w[1]),
        "sorted, deduplicated"
    );
    // A connected (not listening) socket's port is not a listening port.
    let client_port = _c.local_addr().unwrap().port();
    assert!(!ports.contains(&client_port));
    assert!(listening_ports(u32::MAX).is_empty());
}

/// `n` connections over one listener: (listener, [(client end, server end)]).
fn connections(n: usize) -> (TcpListener, Vec<(TcpStream, TcpStream)>) {
    let listener = TcpListener::bind("127.0.0.1:0").expect("loopback v4");
    let at = listener.local_addr().unwrap();
    let pairs = (0..n)
        .map(|_| {
            let client = TcpStream::connect(at).expect("connect");
            let (server, _) = listener.accept().expect("accept");
            (client, server)
        })
        .collect();
    (listener, pairs)
}

/// Every lookup of the batch checked against what std says about the same socket.
fn check_batch(lookup: &mut AddrLookup, listener: &TcpListener, pairs: &[(TcpStream, TcpStream)]) {
    for (client, server) in pairs {
        for (s, local, peer) in [
            (client, client.local_addr(), client.peer_addr()),
            (server, server.local_addr(), server.peer_addr()),
        ] {
            let got = lookup.get(me(), s.as_raw_fd()).expect("a TCP socket");
            assert_eq!(got, (local.unwrap(), peer.unwrap()));
        }
    }
    let (local, peer) = lookup
        .get(me(), listener.as_raw_fd())
        .expect("the listener");
    assert_eq!(local, listener.local_addr().unwrap());
    assert_eq!(peer.to_string(), "0.0.0.0:0");
}

#[test]
fn a_batch_of_connections_reads_the_table_once() {
    // The fallback path alone: one read of /proc/self/net/tcp{,6} serves all 121 sockets,
    // where a lookup per connection read it 121 times.
    let (listener, pairs) = connections(60);
    let mut lookup = AddrLookup::new(AddrSource::Tables);
    check_batch(&mut lookup, &listener, &pairs);
    let stats = lookup.stats();
    assert_eq!(stats.lookups, 121);
    assert_eq!(stats.table_reads, 1, "{stats:?}");
    assert_eq!(stats.pidfd_opens, 0);

    // A socket closed since is not found, and looking for it does not read the table again.
    let (gone_client, gone_server) = TcpStream::connect(listener.local_addr().unwrap())
        .ok()
        .zip(listener.accept().ok().map(|(s, _)| s))
        .expect("one more connection");
    let fd = gone_server.as_raw_fd();
    drop((gone_client, gone_server));
    assert_eq!(lookup.get(me(), fd), None);
    assert_eq!(lookup.get(me(), -1), None);
    assert_eq!(lookup.stats().table_reads, 1);
}

#[test]
fn a_batch_shares_one_pidfd_and_reads_no_table() {
    let (listener, pairs) = connections(20);
    let mut lookup = AddrLookup::new(AddrSource::Pidfd);
    check_batch(&mut lookup, &listener, &pairs);
    // Asked twice, answered once.
    check_batch(&mut lookup, &listener, &pairs);
    let stats = lookup.stats();
    assert_eq!(stats.lookups, 41);
    assert_eq!(stats.pidfd_opens, 1, "{stats:?}");
    assert_eq!(stats.table_reads, 0, "{stats:?}");
}

#[test]
fn files_and_udp_sockets_have_no_tcp_addresses() {
    let file = std::fs::File::open("/proc/self/status").unwrap();
    let udp = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    for source in [AddrSource::Pidfd, AddrSource::Tables] {
        let mut lookup = AddrLookup::new(source);
        assert_eq!(lookup.get(me(), file.as_raw_fd()), None, "{source:?}");
        assert_eq!(lookup.get(me(), udp.as_raw_fd()), None, "{source:?}");
    }
}
