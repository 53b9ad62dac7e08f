//! Every exchange by arrival number (its `Seq`), the newest kept within a byte budget and a
//! count cap, and a filtered, sorted view of seqs. The view is always ascending by (sort key,
//! seq); "reverse" is applied when displaying, so new arrivals under the default sort are a
//! push, and evictions a pop.
//!
//! Past the byte budget, bodies go first, oldest first (the exchange stays listed, its body
//! marked evicted), and only when every body is gone do whole exchanges, oldest first: headers
//! and timings are what a user scrolls back for, and they are small next to bodies.
use std::collections::VecDeque;
use std::mem::size_of;

use capture::exchange::{Body, Exchange};

use super::endpoints::NodeId;

/// Arrival number, assigned by the store: unique, increasing, never reused.
pub type Seq = u64;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SortKey {
    /// Arrival order (exchanges arrive when they complete).
    Time,
    Duration,
    Size,
    Status,
}

impl SortKey {
    pub fn next(self) -> SortKey {
        match self {
            SortKey::Time => SortKey::Duration,
            SortKey::Duration => SortKey::Size,
            SortKey::Size => SortKey::Status,
            SortKey::Status => SortKey::Time,
        }
    }

    pub fn label(self) -> &'static str {
        match self {
            SortKey::Time => "time",
            SortKey::Duration => "duration",
            SortKey::Size => "size",
            SortKey::Status => "status",
        }
    }
}

/// The default byte budget (`--max-memory`).
pub const DEFAULT_MAX_MEMORY: usize = 512 << 20;

/// What one stored exchange costs beyond [`heap_bytes`]: its slot in the deque and in the view.
const ENTRY_OVERHEAD: usize = size_of::<Entry>() + size_of::<(u64, Seq)>();

/// Approximate heap bytes an exchange holds: the box itself, every string and header by
/// capacity (what is allocated, not what is used), and body data. Allocator rounding is left
/// out, so the real figure is somewhat higher; the budget is a bound on this estimate.
pub fn heap_bytes(ex: &Exchange) -> usize {
    fn opt(s: &Option<String>) -> usize {
        s.as_ref().map_or(0, String::capacity)
    }
    fn headers(h: &Vec<(String, String)>) -> usize {
        h.capacity() * size_of::<(String, String)>()
            + h.iter()
                .map(|(n, v)| n.capacity() + v.capacity())
                .sum::<usize>()
    }
    fn body(b: &Body) -> usize {
        b.data.capacity() + opt(&b.content_encoding) + opt(&b.decode_error)
    }
    let q = &ex.request;
    let request = q.method.capacity()
        + q.target.capacity()
        + q.version.capacity()
        + headers(&q.headers)
        + body(&q.body);
    // `Response` is inline in `Exchange` (an Option), so only what it points to counts here.
    let response = ex.response.as_ref().map_or(0, |r| {
        r.reason.capacity()
            + r.version.capacity()
            + headers(&r.headers)
            + headers(&r.trailers)
            + body(&r.body)
    });
    size_of::<Exchange>()
        + ex.comm.capacity()
        + opt(&ex.local_addr)
        + opt(&ex.peer_addr)
        + opt(&ex.error)
        + request
        + response
}

/// Drops a body's bytes, marking it evicted when there were any to drop (an empty body stays
/// "no body"). Returns whether it held any.
fn evict_body(b: &mut Body) -> bool {
    let had = !b.data.is_empty();
    if b.data.capacity() > 0 {
        b.data = Vec::new();
    }
    b.evicted |= had;
    had
}

pub struct Entry {
    pub ex: Box<Exchange>,
    /// Leaf of the endpoint tree this exchange was counted in.
    pub node: NodeId,
    /// Marked by the user (`m`): kept for `M` (only marked), `w` (write) and `=` (diff).
    pub marked: bool,
    /// Deleted by the user (`d`): out of every view and already taken out of the tree; its
    /// slot stays (seqs index the store) with its bodies freed, until it is the oldest.
    pub deleted: bool,
}

impl Entry {
    pub fn size(&self) -> u64 {
        self.ex.response.as_ref().map_or(0, |r| r.body.raw_len)
    }

    fn key(&self, sort: SortKey) -> u64 {
        match sort {
            SortKey::Time => 0,
            SortKey::Duration => self.ex.duration_ns().unwrap_or(0),
            SortKey::Size => self.size(),
            SortKey::Status => self.ex.response.as_ref().map_or(0, |r| u64::from(r.status)),
        }
    }
}

pub struct Store {
    entries: VecDeque<Entry>,
    first: Seq,
    cap: usize,
    /// The byte budget, over [`heap_bytes`] plus per-entry overhead.
    max_bytes: usize,
    /// Accounted bytes of everything stored.
    bytes: usize,
    /// Seqs below this have had their bodies evicted (or are gone): where the next body
    /// eviction looks, so that evicting is amortized O(1) per exchange.
    bodies_from: Seq,
    /// Whole exchanges evicted.
    pub evicted: u64,
    /// Exchanges whose bodies were evicted (they stay listed).
    pub bodies_evicted: u64,
    /// Matching (sort key, seq), ascending. Keys are stored so that merges, evictions and
    /// lookups never chase pointers into the exchanges.
    view: VecDeque<(u64, Seq)>,
    sort: SortKey,
    /// Matches that arrived under a non-time sort, merged in by [`Store::flush`].
    pending: Vec<Seq>,
    /// Evictions not yet removed from a non-time-sorted view.
    stale: bool,
    /// Entries with `marked` set.
    marked: usize,
}

impl Store {
    /// A store of at most `cap` exchanges within the default byte budget.
    pub fn new(cap: usize) -> Self {
        Store::with_budget(cap, DEFAULT_MAX_MEMORY)
    }

    /// A store of at most `cap` exchanges and `max_bytes` accounted bytes.
    pub fn with_budget(cap: usize, max_bytes: usize) -> Self {
        Store {
            entries: VecDeque::new(),
            first: 0,
            cap: cap.max(1),
            max_bytes,
            bytes: 0,
            bodies_from: 0,
            evicted: 0,
            bodies_evicted: 0,
            view: VecDeque::new(),
            sort: SortKey::Time,
            pending: Vec::new(),
            stale: false,
            marked: 0,
        }
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    pub fn cap(&self) -> usize {
        self.cap
    }

    /// Accounted bytes held: never above [`Store::max_bytes`] after a push.
    pub fn bytes(&self) -> usize {
        self.bytes
    }

    pub fn max_bytes(&self) -> usize {
        self.max_bytes
    }

    pub fn sort(&self) -> SortKey {
        self.sort
    }

    pub fn get(&self, seq: Seq) -> Option<&Entry> {
        let i = seq.checked_sub(self.first)?;
        self.entries.get(usize::try_from(i).ok()?)
    }

    /// The newest seq, if any.
    pub fn last_seq(&self) -> Option<Seq> {
        (!self.entries.is_empty()).then(|| self.first + self.entries.len() as u64 - 1)
    }

    pub fn iter(&self) -> impl DoubleEndedIterator<Item = (Seq, &Entry)> {
        self.entries
            .iter()
            .enumerate()
            .map(|(i, e)| (self.first + i as u64, e))
    }

    /// Adds an exchange; `matches` says whether it passes the current filter. Evicts past the
    /// count cap or the byte budget, dropping the exchanges it evicts whole.
    pub fn push(&mut self, ex: Box<Exchange>, node: NodeId, matches: bool) -> Seq {
        self.push_with(ex, node, matches, drop)
    }

    /// [`Store::push`], handing every exchange evicted whole to `gone` (oldest first), so that
    /// what was counted from it (the endpoint tree) can follow.
    pub fn push_with(
        &mut self,
        ex: Box<Exchange>,
        node: NodeId,
        matches: bool,
        mut gone: impl FnMut(Entry),
    ) -> Seq {
        while self.entries.len() >= self.cap {
            if let Some(e) = self.pop_oldest().filter(|e| !e.deleted) {
                gone(e);
            }
        }
        let seq = self.first + self.entries.len() as u64;
        self.bytes += heap_bytes(&ex) + ENTRY_OVERHEAD;
        self.entries.push_back(Entry {
            ex,
            node,
            marked: false,
            deleted: false,
        });
        if matches {
            match self.sort {
                SortKey::Time => self.view.push_back((0, seq)),
                _ => self.pending.push(seq),
            }
        }
        while self.bytes > self.max_bytes && self.evict_oldest_body() {}
        while self.bytes > self.max_bytes {
            match self.pop_oldest() {
                Some(e) if e.deleted => {}
                Some(e) => gone(e),
                None => break,
            }
        }
        seq
    }

    /// Marks or unmarks `seq`; returns whether it is now marked.
    pub fn toggle_mark(&mut self, seq: Seq) -> bool {
        let Some(e) = self.get_mut(seq).filter(|e| !e.deleted) else {
            return false;
        };
        e.marked = !e.marked;
        let now = e.marked;
        if now {
            self.marked += 1;
        } else {
            self.marked -= 1;
        }
        now
    }

    /// How many exchanges are marked.
    pub fn marked(&self) -> usize {
        self.marked
    }

    /// Unmarks everything.
    pub fn clear_marks(&mut self) {
        for e in &mut self.entries {
            e.marked = false;
        }
        self.marked = 0;
    }

    /// Deletes `seq` at the user's request: `gone` sees it first (to take it out of what was
    /// counted from it), then it leaves the view and its bodies are freed. False if absent.
    pub fn delete(&mut self, seq: Seq, gone: impl FnOnce(&Entry)) -> bool {
        let sort = self.sort;
        let key = self.sort_key(seq, sort);
        let Some(e) = self.get_mut(seq).filter(|e| !e.deleted) else {
            return false;
        };
        let before = heap_bytes(&e.ex);
        gone(e);
        e.deleted = true;
        let was_marked = std::mem::take(&mut e.marked);
        e.ex.request.body = Body::default();
        if let Some(r) = &mut e.ex.response {
            r.body = Body::default();
        }
        let after = heap_bytes(&e.ex);
        self.bytes -= before - after;
        self.marked -= usize::from(was_marked);
        if let Ok(i) = self.view.binary_search(&key) {
            self.view.remove(i);
        }
        self.pending.retain(|&s| s != seq);
        true
    }

    /// Forgets every exchange (`z`). Seqs go on from where they were, so nothing that still
    /// holds an old one (a cache key) can find a new exchange under it.
    pub fn clear(&mut self) {
        self.first += self.entries.len() as u64;
        self.entries.clear();
        self.bytes = 0;
        self.bodies_from = self.first;
        self.view.clear();
        self.pending.clear();
        self.stale = false;
        self.marked = 0;
    }

    fn get_mut(&mut self, seq: Seq) -> Option<&mut Entry> {
        let i = seq.checked_sub(self.first)?;
        self.entries.get_mut(usize::try_from(i).ok()?)
    }

    /// Empties the oldest body still held; false when none is left.
    fn evict_oldest_body(&mut self) -> bool {
        let end = self.first + self.entries.len() as u64;
        let mut seq = self.bodies_from.max(self.first);
        while seq < end {
            let i = (seq - self.first) as usize;
            seq += 1;
            let ex = &mut self.entries[i].ex;
            let before = heap_bytes(ex);
            let mut had = evict_body(&mut ex.request.body);
            if let Some(r) = &mut ex.response {
                had |= evict_body(&mut r.body);
            }
            let after = heap_bytes(ex);
            self.bytes -= before - after;
            if had {
                self.bodies_evicted += 1;
            }
            if before > after {
                self.bodies_from = seq;
                return true;
            }
        }
        self.bodies_from = end;
        false
    }

    /// Removes the oldest exchange, keeping the view consistent.
    fn pop_oldest(&mut self) -> Option<Entry> {
        let e = self.entries.pop_front()?;
        let gone = self.first;
        self.first += 1;
        // A deleted entry was the user's doing, not an eviction.
        self.evicted += u64::from(!e.deleted);
        self.marked -= usize::from(e.marked);
        self.bytes -= heap_bytes(&e.ex) + ENTRY_OVERHEAD;
        match self.sort {
            SortKey::Time => {
                if self.view.front().is_some_and(|&(_, s)| s == gone) {
                    self.view.pop_front();
                }
            }
            _ => self.stale = true,
        }
        Some(e)
    }

    /// Folds pending arrivals and evictions into the view: one merge per frame rather than an
    /// insertion per exchange.
    pub fn flush(&mut self) {
        if self.stale {
            let first = self.first;
            self.view.retain(|&(_, s)| s >= first);
            self.pending.retain(|&s| s >= first);
            self.stale = false;
        }
        if self.pending.is_empty() {
            return;
        }
        let sort = self.sort;
        let mut pending: Vec<(u64, Seq)> = std::mem::take(&mut self.pending)
            .into_iter()
            .map(|s| self.sort_key(s, sort))
            .collect();
        pending.sort_unstable();
        // Merge from the back, in place: only the tail after the smallest arrival moves, and
        // nothing is reallocated (a fresh million-entry view per frame cost ~20 ms).
        let old_len = self.view.len();
        self.view.resize(old_len + pending.len(), (0, 0));
        let v = self.view.make_contiguous();
        let (mut i, mut j, mut k) = (old_len, pending.len(), v.len());
        while j > 0 {
            if i > 0 && v[i - 1] > pending[j - 1] {
                v[k - 1] = v[i - 1];
                i -= 1;
            } else {
                v[k - 1] = pending[j - 1];
                j -= 1;
            }
            k -= 1;
        }
    }

    fn sort_key(&self, seq: Seq, sort: SortKey) -> (u64, Seq) {
        (self.get(seq).map_or(0, |e| e.key(sort)), seq)
    }

    /// Rebuilds the view from scratch with a new predicate and sort.
    pub fn rebuild(&mut self, sort: SortKey, mut pred: impl FnMut(&Entry) -> bool) {
        self.sort = sort;
        self.pending.clear();
        self.stale = false;
        let first = self.first;
        let mut view: Vec<(u64, Seq)> = self
            .entries
            .iter()
            .enumerate()
            .filter(|(_, e)| !e.deleted && pred(e))
            .map(|(i, e)| (e.key(sort), first + i as u64))
            .collect();
        if sort != SortKey::Time {
            view.sort_unstable();
        }
        self.view = view.into();
    }

    /// Number of matching exchanges (after [`Store::flush`]).
    pub fn view_len(&self) -> usize {
        self.view.len()
    }

    /// The seq at display row `row` (`reverse` flips the order).
    pub fn at(&self, row: usize, reverse: bool) -> Option<Seq> {
        let n = self.view.len();
        if row >= n {
            return None;
        }
        let i = if reverse { n - 1 - row } else { row };
        self.view.get(i).map(|&(_, s)| s)
    }

    /// The display row of `seq`, if it is in the view. O(log n).
    pub fn row_of(&self, seq: Seq, reverse: bool) -> Option<usize> {
        let key = self.sort_key(seq, self.sort);
        self.get(seq)?;
        let i = self.view.binary_search(&key).ok()?;
        Some(if reverse { self.view.len() - 1 - i } else { i })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An exchange with a `body_len`-byte response body and one `header_len`-byte header.
    fn ex(id: u64, body_len: usize, header_len: usize) -> Box<Exchange> {
        crate::ui::testing::ex(
            id,
            "api.test",
            &format!("/items/{id}"),
            body_len,
            header_len,
        )
    }

    fn body_of(s: &Store, seq: Seq) -> &Body {
        &s.get(seq).unwrap().ex.response.as_ref().unwrap().body
    }

    /// The accounted total, recomputed from scratch: the running figure must not drift.
    fn recount(s: &Store) -> usize {
        s.iter()
            .map(|(_, e)| heap_bytes(&e.ex) + ENTRY_OVERHEAD)
            .sum()
    }

    #[test]
    fn bodies_are_evicted_oldest_first_within_the_budget() {
        let budget = 1 << 20;
        let mut s = Store::with_budget(100_000, budget);
        for i in 0..200 {
            s.push(ex(i, 64 << 10, 16), 0, true);
            assert!(s.bytes() <= budget, "{} over {budget} at {i}", s.bytes());
        }
        s.flush();
        // 200 × 64 KiB is 12.5 MiB of bodies: every exchange is still listed, only bodies went.
        assert_eq!((s.len(), s.view_len(), s.evicted), (200, 200, 0));
        assert_eq!(s.bytes(), recount(&s));
        let newest = s.last_seq().unwrap();
        let kept = body_of(&s, newest);
        assert!(!kept.evicted && kept.data.len() == 64 << 10);
        let oldest = body_of(&s, 0);
        assert!(oldest.evicted && oldest.data.is_empty());
        assert_eq!(
            oldest.raw_len,
            64 << 10,
            "the size on the wire is still shown"
        );
        // Evicted bodies form one oldest prefix: no held body is older than an evicted one.
        let evicted: Vec<bool> = (0..200).map(|q| body_of(&s, q).evicted).collect();
        let held = evicted.iter().filter(|e| !**e).count();
        assert!(held >= 10, "only {held} bodies kept in 1 MiB");
        assert!(evicted[..200 - held].iter().all(|e| *e));
        assert_eq!(s.bodies_evicted, (200 - held) as u64);
    }

    #[test]
    fn whole_exchanges_go_once_headers_alone_exceed_the_budget() {
        let budget = 1 << 20;
        let mut s = Store::with_budget(100_000, budget);
        for i in 0..50 {
            s.push(ex(i, 64 << 10, 16), 0, true);
        }
        let mut gone = Vec::new();
        // 200 exchanges with 16 KiB of headers each: 3 MiB of headers alone.
        for i in 50..250 {
            s.push_with(ex(i, 0, 16 << 10), 0, true, |e| gone.push(e.ex.id));
            assert!(s.bytes() <= budget);
        }
        s.flush();
        assert!(s.evicted > 0 && s.len() < 250);
        assert_eq!(s.evicted as usize, gone.len());
        // Oldest first: what is gone is exactly ids 0.., and the newest is still here.
        assert!(gone.iter().copied().eq(0..gone.len() as u64), "{gone:?}");
        assert_eq!(s.get(s.last_seq().unwrap()).unwrap().ex.id, 249);
        assert_eq!(s.view_len(), s.len());
        // Bodies went before any exchange: none of the remaining ones holds a body.
        assert!(s
            .iter()
            .all(|(_, e)| e.ex.response.as_ref().unwrap().body.data.is_empty()));
        assert_eq!(s.bytes(), recount(&s));
    }

    #[test]
    fn the_count_cap_still_applies() {
        let mut s = Store::with_budget(10, DEFAULT_MAX_MEMORY);
        for i in 0..25 {
            s.push(ex(i, 10, 10), 0, true);
        }
        assert_eq!((s.len(), s.evicted, s.bodies_evicted), (10, 15, 0));
        assert_eq!(s.bytes(), recount(&s));
    }

    #[test]
    fn heap_bytes_grows_with_what_an_exchange_holds() {
        let small = heap_bytes(&ex(1, 0, 0));
        assert!(small >= size_of::<Exchange>());
        assert!(heap_bytes(&ex(1, 1000, 0)) >= small + 1000);
        assert!(heap_bytes(&ex(1, 0, 1000)) >= small + 1000);
    }

    /// A deleted exchange leaves the view, its bytes and its mark at once; when it later
    /// leaves the store it is not handed to `gone` again, nor counted as evicted.
    #[test]
    fn deleted_exchanges_are_gone_once() {
        let mut s = Store::with_budget(3, usize::MAX);
        for i in 0..3 {
            s.push(ex(i, 1000, 0), 0, true);
        }
        assert!(s.toggle_mark(1));
        let bytes = s.bytes();
        let mut seen = Vec::new();
        assert!(s.delete(1, |e| seen.push(e.ex.id)));
        assert!(!s.delete(1, |_| panic!("twice")), "already deleted");
        assert_eq!(seen, [1]);
        assert_eq!(s.marked(), 0);
        assert!(s.bytes() <= bytes - 1000, "its body is freed");
        assert_eq!(s.view_len(), 2);
        assert_eq!(recount(&s), s.bytes());
        let mut gone = Vec::new();
        for i in 3..5 {
            s.push_with(ex(i, 10, 0), 0, true, |e| gone.push(e.ex.id));
        }
        assert_eq!(gone, [0], "1 was deleted, not evicted");
        assert_eq!(s.evicted, 1);
        s.rebuild(SortKey::Size, |_| true);
        assert_eq!(s.view_len(), 3);
        s.clear();
        assert!(s.is_empty() && s.view_len() == 0 && s.bytes() == 0);
        let next = s.push(ex(9, 0, 0), 0, true);
        assert_eq!(next, 5, "seqs go on after a clear");
    }
}
