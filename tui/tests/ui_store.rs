//! The store's incremental view (pushes, per-frame merges, evictions) against a full rebuild.
mod ui_support;

use apitop::ui::store::{SortKey, Store};
use ui_support::*;

fn order(s: &Store, reverse: bool) -> Vec<u64> {
    (0..s.view_len()).filter_map(|r| s.at(r, reverse)).collect()
}

#[test]
fn incremental_view_equals_a_rebuild_under_every_sort() {
    for sort in [
        SortKey::Time,
        SortKey::Duration,
        SortKey::Size,
        SortKey::Status,
    ] {
        let mut s = Store::new(300);
        s.rebuild(sort, |_| true);
        let mut x: u64 = 12345;
        for i in 0..1000u64 {
            // A cheap LCG: durations, sizes and statuses in random order, with ties.
            x = x
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            let status = [200, 201, 404, 500][(x >> 33) as usize % 4];
            let mut e = ex(i, "GET", "h", "/p", Some(status), (x >> 40) % 50);
            if let Some(r) = &mut e.response {
                r.body.raw_len = (x >> 20) % 7;
            }
            let keep = !(x >> 50).is_multiple_of(3);
            s.push(Box::new(e), 0, keep);
            if i.is_multiple_of(37) {
                s.flush();
            }
        }
        s.flush();
        let incremental = order(&s, false);
        assert!(s.evicted == 700 && s.len() == 300);
        // Every kept seq is still stored, and the order is what a rebuild gives.
        let kept: std::collections::HashSet<u64> = incremental.iter().copied().collect();
        s.rebuild(sort, |e| kept.contains(&(e.ex.id)));
        assert_eq!(order(&s, false), incremental, "{sort:?}");
        // Rows and seqs agree both ways.
        for (row, &seq) in incremental.iter().enumerate() {
            assert_eq!(s.row_of(seq, false), Some(row));
            assert_eq!(s.row_of(seq, true), Some(incremental.len() - 1 - row));
        }
        let mut rev = order(&s, true);
        rev.reverse();
        assert_eq!(rev, incremental);
    }
}
