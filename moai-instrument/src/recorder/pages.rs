//! Counters for a wide, sparsely used range of bucket keys: pages of 16 consecutive keys, each
//! page allocated on first use with one cache line per thread stripe (see `stripes`). The keys of
//! the values a series actually records cost memory; the rest of the range costs nothing but a
//! lazily made directory.
//!
//! The pages where a latency histogram records (the near window, `NEAR` pages from a start the
//! owner chooses) are a direct array, one load from the hot path; every other page sits in groups
//! of 64 that are allocated on first use. Shared by the summary's log-linear windows and the
//! native histogram's exponential buckets, which differ only in how a value becomes a key.

use std::sync::OnceLock;
use std::sync::atomic::{AtomicU8, Ordering};

use super::stripes::{self, Line, PER_LINE, STRIPES};

/// One page: `PER_LINE` keys, a line per stripe.
type Page = Box<[Line]>;
// The stripes of `Pages::stripes_used` fit its byte.
const _: () = assert!(STRIPES <= 8);
const GROUP: usize = 64;
/// The pages of one far group, each allocated when first used.
type Group = Box<[OnceLock<Page>; GROUP]>;

pub(crate) struct Pages<const NEAR: usize> {
    /// Pages in the whole range.
    pages: usize,
    /// The page that `near[0]` holds.
    near_first: usize,
    near: [OnceLock<Page>; NEAR],
    /// Every page outside the near window, by group, allocated when first used.
    far: OnceLock<Box<[OnceLock<Group>]>>,
    /// The stripes that ever recorded here, a bit each: a scrape reads only their lines (one of
    /// four with one recording thread), and the hot path pays one load of a byte that is
    /// written once per stripe.
    stripes_used: AtomicU8,
}

impl<const NEAR: usize> Pages<NEAR> {
    /// Keys `0..keys`, the near window starting at the page of `near_first_key`.
    pub(crate) fn new(keys: usize, near_first_key: usize) -> Self {
        Pages {
            pages: keys.div_ceil(PER_LINE).max(1),
            near_first: near_first_key / PER_LINE,
            near: std::array::from_fn(|_| OnceLock::new()),
            far: OnceLock::new(),
            stripes_used: AtomicU8::new(0),
        }
    }

    /// Adds `n` to `key` in `stripe` (see [`stripes::this_thread`]). A key past the range counts
    /// in the last page's slot of the same offset: the owners derive keys from bounded float
    /// exponents, so this only keeps a mistake from panicking.
    #[inline]
    pub(crate) fn add(&self, stripe: usize, key: usize, n: u64) {
        let page = key / PER_LINE;
        let slot = match page.checked_sub(self.near_first) {
            Some(near) if near < NEAR => &self.near[near],
            _ => self.far_page(page),
        };
        let page = slot.get_or_init(|| stripes::zeroed_lines(STRIPES));
        let stripe = stripe % STRIPES;
        let bit = 1 << stripe;
        if self.stripes_used.load(Ordering::Relaxed) & bit == 0 {
            self.stripes_used.fetch_or(bit, Ordering::Relaxed);
        }
        page[stripe].0[key % PER_LINE].fetch_add(n, Ordering::Relaxed);
    }

    #[cold]
    fn far_page(&self, page: usize) -> &OnceLock<Page> {
        let page = page.min(self.pages - 1);
        let far = self.far.get_or_init(|| {
            (0..self.pages.div_ceil(GROUP))
                .map(|_| OnceLock::new())
                .collect()
        });
        let group =
            far[page / GROUP].get_or_init(|| Box::new(std::array::from_fn(|_| OnceLock::new())));
        &group[page % GROUP]
    }

    /// The allocated pages with the first key of each (near window first, then the far pages in
    /// key order).
    fn allocated(&self) -> impl Iterator<Item = (usize, &Page)> + '_ {
        let near = self.near.iter().enumerate().filter_map(|(i, page)| {
            page.get()
                .map(|page| ((self.near_first + i) * PER_LINE, page))
        });
        let far = self.far.get().into_iter().flat_map(|far| {
            far.iter().enumerate().flat_map(|(g, group)| {
                group.get().into_iter().flat_map(move |group| {
                    group.iter().enumerate().filter_map(move |(i, page)| {
                        page.get().map(|page| ((g * GROUP + i) * PER_LINE, page))
                    })
                })
            })
        });
        near.chain(far)
    }

    /// Calls `f(key, count)` for every key with a count, summed over the stripes: the near
    /// window's keys in order, then the far ones in order.
    pub(crate) fn for_each_count(&self, mut f: impl FnMut(usize, u64)) {
        let used = self.stripes_used.load(Ordering::Relaxed);
        for (first, page) in self.allocated() {
            let mut counts = [0u64; PER_LINE];
            let used_lines = page
                .iter()
                .enumerate()
                .filter(|&(stripe, _)| used & (1 << stripe) != 0)
                .map(|(_, line)| line);
            for line in used_lines {
                for (count, counter) in counts.iter_mut().zip(&line.0) {
                    *count += counter.load(Ordering::Relaxed);
                }
            }
            for (slot, &count) in counts.iter().enumerate() {
                if count > 0 {
                    f(first + slot, count);
                }
            }
        }
    }

    /// Sets every count to zero, keeping the pages allocated for reuse.
    pub(crate) fn clear(&self) {
        for (_, page) in self.allocated() {
            for counter in page.iter().flat_map(|line| line.0.iter()) {
                counter.store(0, Ordering::Relaxed);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn near_and_far_keys_count_apart_and_clear() {
        let pages: Pages<2> = Pages::new(10_000, 320);
        pages.add(0, 320, 1); // first near page
        pages.add(3, 351, 2); // last near key
        pages.add(1, 352, 3); // first far key past the window
        pages.add(2, 5, 4); // far, below the window
        pages.add(2, 9_999, 5);
        pages.add(0, 320, 6); // another stripe of a counted key
        let mut counts = Vec::new();
        pages.for_each_count(|key, count| counts.push((key, count)));
        counts.sort_unstable();
        assert_eq!(
            counts,
            vec![(5, 4), (320, 7), (351, 2), (352, 3), (9_999, 5)]
        );
        pages.clear();
        pages.for_each_count(|key, count| panic!("{key}: {count} after clear"));
    }

    #[test]
    fn a_key_past_the_range_does_not_panic() {
        let pages: Pages<1> = Pages::new(20, 0);
        pages.add(0, 1_000_000, 1);
        let mut total = 0;
        pages.for_each_count(|_, count| total += count);
        assert_eq!(total, 1);
    }
}
