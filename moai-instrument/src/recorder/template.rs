//! The text exposition compiled for one registry state: every byte that stays the same from one
//! scrape to the next (HELP and TYPE lines, sample names and labels) in one contiguous string,
//! and between its pieces the cells whose values are written at each scrape. Text 0.0.4 and
//! OpenMetrics keep one each; a registration, removal or `describe` makes the next scrape build
//! it again (the registry's generation counter says when).
//!
//! Why: a scrape then copies one sequential buffer and reads one cell per series, instead of
//! walking every family's name, HELP text and labels in their own allocations: 100,000
//! single-series families render in 1.7x the time of 100,000 series of one family (6x without
//! it), and 10,000 labelled counters in half the time (BENCHMARKS.md, "Beside the Rust peers").
//! It costs the static text once more in memory (about 350 bytes per single-series family).

use std::sync::Arc;

use super::cells::{CounterCell, GaugeCell};
use super::histogram::HistogramCell;

pub(crate) struct Template {
    /// The registry's generation this template was built from.
    pub(crate) generation: u64,
    /// Everything but the values.
    pub(crate) text: String,
    /// In order: the text up to each piece's `end`, then its value(s).
    pub(crate) pieces: Vec<Piece>,
}

pub(crate) enum Piece {
    /// A counter's value (and in OpenMetrics its exemplar) after `text[..end]`.
    Counter { end: usize, cell: Arc<CounterCell> },
    /// A gauge's or fractional counter's value.
    Float { end: usize, cell: Arc<GaugeCell> },
    /// A histogram series' lines, written whole at each scrape (they depend on its snapshot):
    /// its sample name and labels as the lines need them.
    Histogram {
        end: usize,
        cell: Arc<HistogramCell>,
        sample: Box<str>,
        labels: Box<str>,
    },
}

impl Piece {
    pub(crate) fn end(&self) -> usize {
        match self {
            Piece::Counter { end, .. }
            | Piece::Float { end, .. }
            | Piece::Histogram { end, .. } => *end,
        }
    }
}
