//! `w` to a `.apitop` file: exchanges picked in the UI written as a recording that `-r` reads
//! back. A recording holds capture events, not exchanges, so each exchange is re-encoded as one
//! HTTP/1.1 request and response on a connection of its own, with the captured process, role,
//! addresses and times: replayed, it gives the same methods, URLs, headers, statuses and
//! (decoded) bodies. HTTP/2 and gRPC exchanges come back as their HTTP/1.1 equivalents, which
//! a `-w` recording of the capture itself keeps exactly.
use std::collections::BTreeMap;
use std::path::Path;

use anyhow::{Context, Result};
use capture::event::{ConnKey, Direction, Event};
use capture::exchange::{Exchange, Response, Role};
use capture::record::Writer;
use capture::safe_create::Invoker;

use super::copy_as::raw::http1_request;

/// Data events carry at most this much each (a body is already capped by capture).
const CHUNK: usize = 64 * 1024;

/// Writes `exchanges` to a new recording at `path`; returns how many were written and how
/// many were left out (a head that would not parse back).
pub fn write_recording(path: &Path, exchanges: &[Exchange]) -> Result<(usize, usize)> {
    let mut w = Writer::create_for(path, Invoker::current())
        .with_context(|| format!("creating the recording {}", path.display()))?;
    let mut order: Vec<&Exchange> = exchanges.iter().collect();
    order.sort_by_key(|x| x.start);
    let mut comms: BTreeMap<u32, &str> = BTreeMap::new();
    for x in &order {
        comms.entry(x.pid).or_insert(&x.comm);
    }
    let first = order.first().map_or(0, |x| x.start);
    for (&pid, comm) in &comms {
        w.write(&Event::Process {
            ts: first,
            pid,
            comm: comm.to_string(),
        })?;
    }
    let (mut written, mut skipped) = (0, 0);
    for (i, x) in order.iter().enumerate() {
        // A response whose request was not captured has no request line to write.
        let request = match http1_request(x) {
            Ok((bytes, _)) if !x.request.method.is_empty() => bytes,
            _ => {
                skipped += 1;
                continue;
            }
        };
        // Connection keys of their own, far from pointers and socket keys.
        let key = ConnKey {
            pid: x.pid,
            conn: 0x7e00_0000_0000_0000 | i as u64,
        };
        if let (Some(local), Some(peer)) = (&x.local_addr, &x.peer_addr) {
            w.write(&Event::Addrs {
                ts: x.start,
                key,
                local: local.clone(),
                peer: peer.clone(),
            })?;
        }
        let (req_dir, resp_dir) = match x.role {
            Role::Client => (Direction::Write, Direction::Read),
            Role::Server => (Direction::Read, Direction::Write),
        };
        data(&mut w, x, key, req_dir, x.start, &request)?;
        let mut end = x.request_end.unwrap_or(x.start);
        if let Some(r) = &x.response {
            let at = x.response_start.or(x.end).unwrap_or(end);
            data(&mut w, x, key, resp_dir, at, &response_bytes(r))?;
            end = x.end.unwrap_or(at);
        }
        w.write(&Event::Close { ts: end, key })?;
        written += 1;
    }
    w.finish().context("finishing the recording")?;
    Ok((written, skipped))
}

/// One call's bytes, in chunks of at most [`CHUNK`].
fn data(
    w: &mut Writer,
    x: &Exchange,
    key: ConnKey,
    dir: Direction,
    ts: u64,
    bytes: &[u8],
) -> Result<()> {
    for (n, chunk) in bytes.chunks(CHUNK).enumerate() {
        w.write(&Event::Data {
            ts,
            key,
            tid: x.pid,
            fd: -1,
            dir,
            total: bytes.len() as u32,
            offset: (n * CHUNK) as u32,
            bytes: chunk.to_vec(),
            tls: x.tls,
        })?;
    }
    Ok(())
}

/// A response as HTTP/1.1 bytes: its headers less the framing (recomputed: the body is
/// dechunked) and a `Content-Encoding` that capture already undid, then the body.
fn response_bytes(r: &Response) -> Vec<u8> {
    let reason = if r.reason.is_empty() {
        "-"
    } else {
        r.reason.as_str()
    };
    let mut head = format!("HTTP/1.1 {} {reason}\r\n", r.status);
    let decoded = r.body.content_encoding.is_some();
    for (name, value) in &r.headers {
        let lower = name.to_ascii_lowercase();
        let framing = matches!(
            lower.as_str(),
            "content-length" | "transfer-encoding" | "connection" | "keep-alive"
        );
        if lower.starts_with(':')
            || framing
            || (decoded && lower == "content-encoding")
            || name.contains(['\r', '\n'])
            || value.contains(['\r', '\n'])
        {
            continue;
        }
        head.push_str(&format!("{name}: {value}\r\n"));
    }
    head.push_str(&format!("Content-Length: {}\r\n\r\n", r.body.data.len()));
    let mut bytes = head.into_bytes();
    bytes.extend_from_slice(&r.body.data);
    bytes
}

#[cfg(test)]
mod tests {
    use super::*;
    use capture::event::Limits;
    use capture::exchange::Protocol;
    use capture::output::Output;
    use capture::pipeline::Pipeline;
    use capture::record::Reader;

    fn replay(path: &Path) -> Vec<Exchange> {
        let mut p = Pipeline::new(Limits::default());
        let mut out = Vec::new();
        for ev in Reader::open(path).unwrap() {
            p.push(ev.unwrap(), &mut out);
        }
        p.finish(u64::MAX / 2, &mut out);
        out.into_iter()
            .filter_map(|o| match o {
                Output::Exchange(x) => Some(*x),
                _ => None,
            })
            .collect()
    }

    /// What a user checks after `-r`: the same requests and responses, bodies byte for byte
    /// (binary, and decoded ones without their Content-Encoding), HTTP/2 as HTTP/1.1, roles and
    /// addresses kept; a response without its request is left out and counted.
    #[test]
    fn a_written_recording_replays_to_the_same_exchanges() {
        let mut a = *crate::ui::testing::ex(1, "api.test", "/users/42?x=1", 0, 0);
        a.request.method = "POST".into();
        a.request
            .headers
            .push(("Content-Type".into(), "application/octet-stream".into()));
        a.request.body.data = vec![0, 1, 2, 0xff, b'-', b'\n'];
        a.local_addr = Some("127.0.0.1:5000".into());
        a.peer_addr = Some("127.0.0.1:443".into());
        if let Some(r) = a.response.as_mut() {
            r.headers.push(("Content-Encoding".into(), "gzip".into()));
            r.body.content_encoding = Some("gzip".into());
            r.body.data = br#"{"id":42}"#.to_vec();
        }
        let mut b = *crate::ui::testing::ex(2, "h2.test", "/grpc.Svc/Call", 0, 0);
        b.protocol = Protocol::Http2;
        b.role = Role::Server;
        b.request.headers = vec![
            (":method".into(), "GET".into()),
            (":authority".into(), "h2.test".into()),
            (":path".into(), "/grpc.Svc/Call".into()),
        ];
        let mut orphan = *crate::ui::testing::ex(3, "x.test", "/", 0, 0);
        orphan.request = Default::default();
        let dir = std::env::temp_dir().join(format!("apitop-recout-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("picked.apitop");
        let _ = std::fs::remove_file(&path);
        let (n, left) = write_recording(&path, &[b.clone(), orphan, a.clone()]).unwrap();
        assert_eq!((n, left), (2, 1));
        let got = replay(&path);
        assert_eq!(got.len(), 2);
        // In time order: a started first.
        let (ra, rb) = (&got[0], &got[1]);
        assert_eq!(ra.request.method, "POST");
        assert_eq!(ra.url(), a.url());
        assert_eq!(ra.request.body.data, a.request.body.data);
        assert_eq!(ra.role, Role::Client);
        assert_eq!(ra.local_addr, a.local_addr);
        assert_eq!(ra.peer_addr, a.peer_addr);
        let resp = ra.response.as_ref().unwrap();
        assert_eq!(resp.status, 200);
        assert_eq!(resp.body.data, br#"{"id":42}"#);
        assert!(resp.body.content_encoding.is_none(), "written decoded");
        assert_eq!((ra.start, ra.end), (a.start, a.end));
        assert_eq!(rb.role, Role::Server);
        assert_eq!(rb.url(), b.url());
        assert_eq!(rb.path(), "/grpc.Svc/Call");
        assert_eq!(
            rb.protocol,
            Protocol::Http1,
            "HTTP/2 comes back as HTTP/1.1"
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
