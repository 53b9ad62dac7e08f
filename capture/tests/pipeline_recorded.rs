//! The decoding pipeline on a real recording (assets/sample.apitop, captured live from a demo
//! client): what it decodes, and that the result does not depend on how calls were chunked.
use capture::event::{Event, Limits};
use capture::output::Output;
use capture::pipeline::Pipeline;
use capture::record::Reader;
use proptest::prelude::*;

fn recording() -> Vec<Event> {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../assets/sample.apitop");
    Reader::open(std::path::Path::new(path))
        .expect("sample recording")
        .collect::<Result<_, _>>()
        .expect("sample recording reads whole")
}

fn decode(events: Vec<Event>) -> Vec<Output> {
    let mut p = Pipeline::new(Limits::default());
    let mut out = Vec::new();
    let mut last = 0;
    for ev in events {
        last = ev.ts();
        p.push(ev, &mut out);
    }
    p.finish(last, &mut out);
    out
}

fn exchanges(out: &[Output]) -> Vec<&capture::exchange::Exchange> {
    out.iter()
        .filter_map(|o| match o {
            Output::Exchange(x) => Some(&**x),
            _ => None,
        })
        .collect()
}

/// Splits every data call into chunks at the given cut points (as a kernel with a smaller chunk
/// size would), keeping offsets and totals consistent.
fn rechunk(events: Vec<Event>, cuts: &[usize]) -> Vec<Event> {
    let mut out = Vec::new();
    let mut k = 0;
    for ev in events {
        match ev {
            Event::Data {
                ts,
                key,
                tid,
                fd,
                dir,
                total,
                offset,
                bytes,
                tls,
            } => {
                let mut at = 0;
                while at < bytes.len() {
                    let step = cuts[k % cuts.len()].max(1);
                    k += 1;
                    let end = (at + step).min(bytes.len());
                    out.push(Event::Data {
                        ts,
                        key,
                        tid,
                        fd,
                        dir,
                        total,
                        offset: offset + at as u32,
                        bytes: bytes[at..end].to_vec(),
                        tls,
                    });
                    at = end;
                }
            }
            other => out.push(other),
        }
    }
    out
}

#[test]
fn sample_recording_decodes_completely() {
    let out = decode(recording());
    let xs = exchanges(&out);
    assert_eq!(xs.len(), 181);
    assert!(xs.iter().all(|x| x.response.is_some() && x.error.is_none()));
    let status = |s: u16| {
        xs.iter()
            .filter(|x| x.response.as_ref().unwrap().status == s)
            .count()
    };
    assert!(status(404) > 0 && status(503) > 0 && status(201) > 0 && status(402) > 0);
    let hosts: std::collections::BTreeSet<String> = xs.iter().map(|x| x.host()).collect();
    assert!(hosts.len() >= 6, "{hosts:?}");
    // The gzip catalog decodes to JSON, keeping the compressed size.
    let catalog = xs.iter().find(|x| x.path() == "/v1/catalog").unwrap();
    let body = &catalog.response.as_ref().unwrap().body;
    assert_eq!(body.content_encoding.as_deref(), Some("gzip"));
    assert!(body.raw_len < body.data.len() as u64);
    let v: serde_json::Value = serde_json::from_slice(&body.data).unwrap();
    assert_eq!(v["items"].as_array().unwrap().len(), 40);
    // Ids are assigned in completion order.
    assert!(xs.windows(2).all(|w| w[0].id < w[1].id));
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(24))]
    #[test]
    fn chunking_does_not_change_the_result(cuts in proptest::collection::vec(1usize..3000, 1..16)) {
        let events = recording();
        let whole = decode(events.clone());
        let split = decode(rechunk(events, &cuts));
        prop_assert_eq!(whole, split);
    }
}
