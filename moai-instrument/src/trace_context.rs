//! W3C Trace Context ids: every span gets a span id, and a trace id from its parent span, from a
//! `traceparent` field the host records on it (so an incoming request keeps its caller's trace),
//! or a new one for a span that starts a trace. The JSON layer assigns them and writes them on
//! each line inside a span (`trace_id`: 32 lower-case hex digits, `span_id`: 16, as the W3C
//! `traceparent` header writes them), and marks which span each thread is in, so that the
//! macros attach the same ids to the metrics as exemplars: a log pipeline or an exemplar leads
//! from one to the other.
//!
//! Data only (the layer writes, the recorder reads): this module imports nothing of the SDK.
//!
//! Ids come from a per-thread SplitMix64 generator seeded from the standard library's random
//! hasher keys: unpredictable enough to keep traces apart (W3C asks for uniqueness, not secrecy),
//! and a few nanoseconds a span instead of a system call.

use std::cell::{Cell, RefCell};
use std::fmt::Write as _;
use std::hash::{BuildHasher, RandomState};

/// A span's place in a trace.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct TraceContext {
    pub(crate) trace_id: u128,
    pub(crate) span_id: u64,
}

impl TraceContext {
    /// A new span's ids: the trace of `traceparent` when given, else the parent's, else a new one.
    pub(crate) fn new_span(parent: Option<TraceContext>, traceparent: Option<u128>) -> Self {
        let trace_id = traceparent
            .or(parent.map(|p| p.trace_id))
            .unwrap_or_else(new_trace_id);
        TraceContext {
            trace_id,
            span_id: nonzero(next_random),
        }
    }

    /// Appends `,"trace_id":"...","span_id":"..."`.
    pub(crate) fn write_json(&self, out: &mut String) {
        let _ = write!(
            out,
            ",\"trace_id\":\"{:032x}\",\"span_id\":\"{:016x}\"",
            self.trace_id, self.span_id
        );
    }
}

thread_local! {
    /// The spans this thread is in, innermost last: (the span's `tracing` id, its context).
    static ENTERED: RefCell<Vec<(u64, TraceContext)>> = const { RefCell::new(Vec::new()) };
    /// How many entries `ENTERED` holds: a plain thread-local with no destructor, one load for
    /// the macros' question "inside a span?" (the `RefCell<Vec>` needs a registered destructor,
    /// which every access checks).
    static DEPTH: Cell<usize> = const { Cell::new(0) };
}

/// This thread entered the span `span` (a `tracing` span id) of context `context`.
pub(crate) fn enter(span: u64, context: TraceContext) {
    ENTERED.with_borrow_mut(|entered| {
        entered.push((span, context));
        DEPTH.set(entered.len());
    });
}

/// This thread left the span `span` (spans may be left out of order: the innermost entry of
/// that span goes).
pub(crate) fn exit(span: u64) {
    ENTERED.with_borrow_mut(|entered| {
        if let Some(at) = entered.iter().rposition(|(id, _)| *id == span) {
            entered.remove(at);
        }
        DEPTH.set(entered.len());
    });
}

/// The span `span` joined the trace `trace_id` after it was entered (a `traceparent` recorded
/// late): this thread's entries of it follow.
pub(crate) fn rejoin(span: u64, trace_id: u128) {
    ENTERED.with_borrow_mut(|entered| {
        for (_, context) in entered.iter_mut().filter(|(id, _)| *id == span) {
            context.trace_id = trace_id;
        }
    });
}

/// The context of the innermost span this thread is in, if any.
#[inline]
pub(crate) fn current() -> Option<TraceContext> {
    if DEPTH.get() == 0 {
        return None;
    }
    ENTERED
        .try_with(|entered| {
            entered
                .try_borrow()
                .ok()?
                .last()
                .map(|(_, context)| *context)
        })
        .ok()
        .flatten()
}

/// The trace id of a W3C `traceparent` value (`00-<32 hex>-<16 hex>-<2 hex>`, the field as a
/// JSON string or bare); `None` when it is not one (an all-zero id is invalid).
pub(crate) fn parse_traceparent(value: &str) -> Option<u128> {
    let value = value.trim().trim_matches('"');
    let mut parts = value.split('-');
    let (version, trace, parent, flags) =
        (parts.next()?, parts.next()?, parts.next()?, parts.next()?);
    // Lower-case hex only, as W3C Trace Context requires; an all-zero parent id is invalid too.
    let hex = |s: &str, len: usize| {
        s.len() == len
            && s.bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
    };
    if !hex(version, 2)
        || version == "ff"
        || !hex(trace, 32)
        || !hex(parent, 16)
        || !hex(flags, 2)
        || parent.bytes().all(|b| b == b'0')
    {
        return None;
    }
    // Version 00 has exactly four parts; later versions may add more.
    if version == "00" && parts.next().is_some() {
        return None;
    }
    u128::from_str_radix(trace, 16).ok().filter(|id| *id != 0)
}

fn new_trace_id() -> u128 {
    nonzero(|| (u128::from(next_random()) << 64) | u128::from(next_random()))
}

/// A value of `draw` that is not zero (W3C: an all-zero id is invalid).
fn nonzero<T: PartialEq + Default>(mut draw: impl FnMut() -> T) -> T {
    loop {
        let value = draw();
        if value != T::default() {
            return value;
        }
    }
}

thread_local! {
    static STATE: Cell<u64> = Cell::new(RandomState::new().hash_one(std::thread::current().id()));
}

/// SplitMix64: the next value of this thread's generator.
fn next_random() -> u64 {
    STATE.with(|state| {
        let next = state.get().wrapping_add(0x9e37_79b9_7f4a_7c15);
        state.set(next);
        let mut z = next;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn traceparent_values_as_w3c_defines_them() {
        let id = parse_traceparent("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01");
        assert_eq!(id, Some(0x4bf92f3577b34da6a3ce929d0e0e4736));
        assert_eq!(
            parse_traceparent("\"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00\""),
            Some(0x4bf92f3577b34da6a3ce929d0e0e4736),
            "quoted"
        );
        for bad in [
            "",
            "00-00000000000000000000000000000000-00f067aa0ba902b7-01",
            "ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e473-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-extra",
            "00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01",
            "00-4bf92f3577b34da6a3ce929d0e0e473g-00f067aa0ba902b7-01",
        ] {
            assert_eq!(parse_traceparent(bad), None, "{bad}");
        }
    }

    #[test]
    fn children_keep_the_trace_and_get_spans_of_their_own() {
        let root = TraceContext::new_span(None, None);
        let child = TraceContext::new_span(Some(root), None);
        assert_eq!(child.trace_id, root.trace_id);
        assert_ne!(child.span_id, root.span_id);
        let other = TraceContext::new_span(None, None);
        assert_ne!(other.trace_id, root.trace_id);
        let joined = TraceContext::new_span(Some(root), Some(7));
        assert_eq!(joined.trace_id, 7, "traceparent wins over the parent");
        let mut out = String::new();
        joined.write_json(&mut out);
        assert_eq!(
            out,
            format!(
                ",\"trace_id\":\"00000000000000000000000000000007\",\"span_id\":\"{:016x}\"",
                joined.span_id
            )
        );
    }
}
