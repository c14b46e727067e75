//! Which bytes of a part are on disk: a short list of disjoint byte ranges.
//!
//! A shared part fills in several places at once, so "the part's length" no
//! longer says what it holds. Each range is added only after its bytes were
//! written, and ranges that touch are merged, so the list stays as short as
//! the number of ranges being written, whatever the file size.

use std::fmt;

/// Disjoint, sorted, non-empty `start..end` ranges.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Ranges(Vec<(u64, u64)>);

impl Ranges {
    pub fn new() -> Ranges {
        Ranges::default()
    }

    /// Records `start..end` as written, merging it with any range it touches.
    pub fn add(&mut self, start: u64, end: u64) {
        if start >= end {
            return;
        }
        let (mut start, mut end) = (start, end);
        // Every range that overlaps or touches `start..end` is folded into it.
        let first = self.0.partition_point(|&(_, e)| e < start);
        let mut last = first;
        while last < self.0.len() && self.0[last].0 <= end {
            start = start.min(self.0[last].0);
            end = end.max(self.0[last].1);
            last += 1;
        }
        self.0.splice(first..last, [(start, end)]);
    }

    pub fn iter(&self) -> impl Iterator<Item = (u64, u64)> + '_ {
        self.0.iter().copied()
    }

    /// Bytes covered.
    pub fn total(&self) -> u64 {
        self.0.iter().map(|(s, e)| e - s).sum()
    }

    /// Whether `0..length` is covered whole.
    pub fn covers(&self, length: u64) -> bool {
        length == 0 || self.0 == [(0, length)]
    }

    /// The ranges of `0..length` not covered, in order.
    pub fn missing(&self, length: u64) -> Vec<(u64, u64)> {
        let mut gaps = Vec::new();
        let mut at = 0;
        for &(start, end) in &self.0 {
            if start >= length {
                break;
            }
            if start > at {
                gaps.push((at, start));
            }
            at = at.max(end);
        }
        if at < length {
            gaps.push((at, length));
        }
        gaps
    }

    /// Parses what `Display` writes: `A-B` pairs (B exclusive) separated by
    /// commas; `None` for anything else, including overlaps and disorder.
    pub fn parse(text: &str) -> Option<Ranges> {
        let mut ranges = Ranges::new();
        let mut previous_end = None;
        for pair in text.split(',').filter(|p| !p.is_empty()) {
            let (start, end) = pair.split_once('-')?;
            let (start, end): (u64, u64) = (start.parse().ok()?, end.parse().ok()?);
            if start >= end || previous_end.is_some_and(|e| start <= e) {
                return None;
            }
            previous_end = Some(end);
            ranges.0.push((start, end));
        }
        Some(ranges)
    }
}

impl fmt::Display for Ranges {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, (start, end)) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str(",")?;
            }
            write!(f, "{start}-{end}")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn touching_ranges_merge_and_gaps_stay() {
        let mut ranges = Ranges::new();
        ranges.add(10, 20);
        ranges.add(30, 40);
        ranges.add(20, 25);
        assert_eq!(ranges.to_string(), "10-25,30-40");
        assert_eq!(ranges.missing(50), [(0, 10), (25, 30), (40, 50)]);
        ranges.add(0, 45);
        assert_eq!(ranges.to_string(), "0-45");
        ranges.add(45, 50);
        assert!(ranges.covers(50));
        assert_eq!(ranges.total(), 50);
    }

    #[test]
    fn only_well_formed_lists_parse() {
        assert_eq!(Ranges::parse("0-5,10-20").unwrap().to_string(), "0-5,10-20");
        assert_eq!(Ranges::parse("").unwrap(), Ranges::new());
        for bad in ["5-5", "10-20,0-5", "0-10,10-20", "a-b", "0-", "3"] {
            assert_eq!(Ranges::parse(bad), None, "{bad}");
        }
    }

    mod properties {
        use proptest::prelude::*;

        use super::super::*;

        /// Pieces of a file, each written from its start up to some point,
        /// in any order: what a shared download leaves when it is cut short.
        fn pieces() -> impl Strategy<Value = (u64, Vec<(u64, u64, u64)>)> {
            (1u64..5000).prop_flat_map(|length| {
                let piece = (0..length).prop_flat_map(move |start| {
                    (Just(start), start + 1..=length)
                        .prop_flat_map(|(start, end)| (Just(start), Just(end), start..=end))
                });
                (Just(length), prop::collection::vec(piece, 0..12))
            })
        }

        proptest! {
            #[test]
            fn recorded_ranges_never_claim_an_unwritten_byte((length, pieces) in pieces()) {
                let mut written = vec![false; length as usize];
                let mut ranges = Ranges::new();
                for (start, _end, reached) in &pieces {
                    for byte in *start..*reached {
                        written[byte as usize] = true;
                    }
                    // Recorded only after the bytes are written.
                    ranges.add(*start, *reached);
                }
                let read_back = Ranges::parse(&ranges.to_string()).expect("it parses");
                prop_assert_eq!(&read_back, &ranges);
                for (start, end) in read_back.iter() {
                    prop_assert!((start..end).all(|b| written[b as usize]), "{} claims too much", read_back);
                }
                // And what is missing is exactly what was not written.
                let missing: u64 = read_back.missing(length).iter().map(|(s, e)| e - s).sum();
                let unwritten = written.iter().filter(|w| !**w).count() as u64;
                prop_assert_eq!(missing, unwritten);
                prop_assert!(read_back.iter().count() <= pieces.len(), "bounded by the pieces");
            }
        }
    }
}
