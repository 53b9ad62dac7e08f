//! Where the functions of a stripped object are: the unwind table (`.eh_frame`), which C and C++
//! objects keep after `strip` because exceptions and backtraces need it. Each FDE covers one
//! function (or one cold part of it), so its start is a function start — the only kind of
//! address probes are put on — without any symbol.

use gimli::{BaseAddresses, CieOrFde, EhFrame, LittleEndian, UnwindSection};

/// One function's code range, `[start, end)` in virtual addresses.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Range {
    pub start: u64,
    pub end: u64,
}

impl Range {
    pub fn contains(&self, addr: u64) -> bool {
        addr >= self.start && addr < self.end
    }
}

/// The FDE ranges of `.eh_frame` (whose bytes are `data`, loaded at `addr`), sorted by start.
/// Entries that do not parse are skipped; an empty or unusable table gives an empty list, and
/// the caller then refuses. At most `max` ranges are kept (a bound on memory for hostile input).
pub fn eh_frame_ranges(data: &[u8], addr: u64, max: usize) -> Vec<Range> {
    let eh = EhFrame::new(data, LittleEndian);
    let bases = BaseAddresses::default().set_eh_frame(addr);
    let mut entries = eh.entries(&bases);
    let mut out = Vec::new();
    // A parse error ends the walk: what came before is still good.
    while let Ok(Some(entry)) = entries.next() {
        let CieOrFde::Fde(partial) = entry else {
            continue;
        };
        let Ok(fde) =
            partial.parse(|section, bases, offset| section.cie_from_offset(bases, offset))
        else {
            continue;
        };
        let start = fde.initial_address();
        let Some(end) = start.checked_add(fde.len()) else {
            continue;
        };
        if fde.len() == 0 {
            continue;
        }
        out.push(Range { start, end });
        if out.len() >= max {
            break;
        }
    }
    out.sort_unstable();
    out
}

/// The range in `ranges` (sorted by start) that contains `addr`.
pub fn containing(ranges: &[Range], addr: u64) -> Option<Range> {
    let i = ranges.partition_point(|r| r.start <= addr);
    let r = *ranges.get(i.checked_sub(1)?)?;
    r.contains(addr).then_some(r)
}
