//! Small text helpers shared by the views: cell fitting, sanitising captured text, numbers.
use std::borrow::Cow;

use unicode_width::{UnicodeWidthChar, UnicodeWidthStr};

/// Captured strings can hold escapes and control bytes; printed raw they would move the cursor
/// and break the layout. Tabs become a space, other controls `·`.
pub fn clean(s: &str) -> Cow<'_, str> {
    if !s.chars().any(needs_cleaning) {
        return Cow::Borrowed(s);
    }
    Cow::Owned(
        s.chars()
            .map(|c| match c {
                '\t' => ' ',
                c if needs_cleaning(c) => '·',
                c => c,
            })
            .collect(),
    )
}

fn needs_cleaning(c: char) -> bool {
    c.is_control()
        || matches!(c, '\u{200b}'..='\u{200f}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}')
}

/// `s` cut or padded to exactly `width` columns; a cut is marked with `…`.
pub fn fit(s: &str, width: usize) -> String {
    let s = clean(s);
    let w = s.width();
    if w <= width {
        let mut out = s.into_owned();
        out.extend(std::iter::repeat_n(' ', width - w));
        return out;
    }
    if width == 0 {
        return String::new();
    }
    let mut out = String::new();
    let mut used = 0;
    for c in s.chars() {
        let cw = c.width().unwrap_or(0);
        if used + cw > width - 1 {
            break;
        }
        out.push(c);
        used += cw;
    }
    out.push('…');
    used += 1;
    out.extend(std::iter::repeat_n(' ', width.saturating_sub(used)));
    out
}

/// `s` right-aligned in `width` columns (cut like [`fit`] when too long).
pub fn fit_right(s: &str, width: usize) -> String {
    let w = UnicodeWidthStr::width(s);
    if w >= width {
        return fit(s, width);
    }
    let mut out: String = std::iter::repeat_n(' ', width - w).collect();
    out.push_str(s);
    out
}

pub fn duration(ns: Option<u64>) -> String {
    let Some(ns) = ns else {
        return "—".into();
    };
    let us = ns / 1_000;
    if us < 1_000 {
        format!("{us}µs")
    } else if us < 1_000_000 {
        format!("{}ms", us / 1_000)
    } else if us < 60_000_000 {
        format!("{:.2}s", us as f64 / 1e6)
    } else {
        let s = us / 1_000_000;
        format!("{}m{:02}s", s / 60, s % 60)
    }
}

pub fn size(bytes: u64) -> String {
    const K: f64 = 1024.0;
    let b = bytes as f64;
    if bytes < 1024 {
        format!("{bytes}B")
    } else if b < K * K {
        format!("{:.1}K", b / K)
    } else if b < K * K * K {
        format!("{:.1}M", b / K / K)
    } else {
        format!("{:.1}G", b / K / K / K)
    }
}

/// A size in whole units, for the status bar where width counts: `812K`, `312M`, `1.5G`.
pub fn size_whole(bytes: u64) -> String {
    const K: u64 = 1024;
    if bytes < K {
        format!("{bytes}B")
    } else if bytes < K * K {
        format!("{}K", bytes / K)
    } else if bytes < K * K * K {
        format!("{}M", bytes / K / K)
    } else {
        let g = bytes as f64 / (K * K * K) as f64;
        if g < 10.0 {
            format!("{g:.1}G")
        } else {
            format!("{}G", bytes / K / K / K)
        }
    }
}

/// `HH:MM:SS.mmm` of a Unix-nanosecond time, shifted by `offset_secs` (local time).
pub fn clock(ns: u64, offset_secs: i32) -> String {
    let secs = (ns / 1_000_000_000) as i64 + i64::from(offset_secs);
    let ms = (ns / 1_000_000) % 1000;
    let tod = secs.rem_euclid(86_400);
    format!(
        "{:02}:{:02}:{:02}.{ms:03}",
        tod / 3600,
        tod / 60 % 60,
        tod % 60
    )
}

/// `20261130-221500`: local date and time for a default file name.
pub fn file_stamp(ns: u64, offset_secs: i32) -> String {
    let local = (ns as i64).saturating_add(i64::from(offset_secs) * 1_000_000_000);
    let iso = crate::json::rfc3339(local.max(0) as u64);
    // `2026-11-30T22:15:00...`: the digits of the date, then of the time.
    let digits = |s: &str| s.chars().filter(char::is_ascii_digit).collect::<String>();
    format!("{}-{}", digits(&iso[..10]), digits(&iso[11..19]))
}

/// `1,234,567`.
pub fn count(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}
