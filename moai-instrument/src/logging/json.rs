//! The JSON log line of the guide, one object per line:
//!
//! `timestamp`, `level`, `logger`, `message`, `module`, `function` (the innermost span's name,
//! which is the fn name for `#[tracing::instrument]`), `line`, `exception` (an `error` field, with
//! its source chain), `agent_id` and `user_id` (from the event or the innermost enclosing span
//! that has them), then the event's other fields, then the fields of the enclosing spans
//! (`request_id`, `session_id`, `task_id`, ...), innermost span first; inside a span, `trace_id`
//! and `span_id` (W3C ids, see `trace_context`: a `traceparent` field sets the trace) after
//! `user_id`. Everything is at the top level.
//!
//! tracing-subscriber's own JSON formatter nests span fields under `span` and `spans`, which log
//! pipelines keyed on `request_id` would not find; hence this layer (which also costs 2.64 µs a
//! line against that formatter's 7.67 µs, BENCHMARKS.md). Numbers and booleans stay
//! JSON numbers and booleans, every string is escaped, and no key appears twice: a field named
//! like one of the line's own keys is written as `fields.<name>`, and when several fields give
//! one key the first wins, so the event's own field beats any span's and an inner span's beats
//! an outer one's.

use std::borrow::Cow;
use std::fmt::Write as _;
use std::time::SystemTime;

use tracing::span::{Attributes, Id, Record};
use tracing::{Event, Subscriber};
use tracing_subscriber::Layer;
use tracing_subscriber::layer::Context;
use tracing_subscriber::registry::LookupSpan;

use tracing_subscriber::filter::Targets;

use super::fields::{EventFields, JsonValues, level_name, push_json_string};
use super::sinks::Sinks;
use crate::timestamp::write_rfc3339;
use crate::trace_context::{self, TraceContext, parse_traceparent};

/// The span field whose W3C `traceparent` value sets the span's trace.
const TRACEPARENT: &str = "traceparent";

/// Keys the line itself uses; fields with these names are renamed `fields.<name>`. (`agent_id`,
/// `user_id` and an event's `error` are consumed into their own keys before this applies.)
const RESERVED: [&str; 9] = [
    "timestamp",
    "level",
    "logger",
    "message",
    "module",
    "function",
    "line",
    "exception",
    "fields",
];

/// The SDK's log layer: every `tracing` event its filter enables, as one JSON line (see the
/// [module](crate::logging)) on stdout (or a human line, [`LogFormat::Pretty`](super::LogFormat))
/// and in the rotating log file.
///
/// A `tracing_subscriber::Layer<S>` for any registry-like `S` (one that implements
/// `LookupSpan`, as `tracing_subscriber::registry()` does), so it composes beside a host's own
/// layers. Its filter (`RUST_LOG`, [`Config::log_filter`](crate::Config::log_filter)) applies to
/// this layer only: it neither hides events from the host's layers nor sees events that the
/// host's global filters dropped. Made by [`Config::build`](crate::Config::build).
pub struct JsonLayer {
    sinks: Sinks,
    filter: Option<Targets>,
}

impl std::fmt::Debug for JsonLayer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JsonLayer")
            .field("filter", &self.filter)
            .finish_non_exhaustive()
    }
}

impl JsonLayer {
    pub(crate) fn new(sinks: Sinks, filter: Option<Targets>) -> Self {
        JsonLayer { sinks, filter }
    }

    fn enables(&self, meta: &tracing::Metadata<'_>) -> bool {
        self.filter
            .as_ref()
            .is_none_or(|filter| filter.would_enable(meta.target(), meta.level()))
    }
}

/// Every field of a span, rendered as a JSON value once, when recorded: an event only copies
/// the bytes. A field recorded again (`Span::record`) replaces its value in place.
#[derive(Default)]
struct SpanFields(Vec<(&'static str, String)>);

impl SpanFields {
    fn put(&mut self, name: &'static str, value: String) {
        match self.0.iter_mut().find(|(n, _)| *n == name) {
            Some(slot) => slot.1 = value,
            None => self.0.push((name, value)),
        }
    }

    fn get(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .find_map(|(n, value)| (*n == name).then_some(value.as_str()))
    }
}

impl<S> Layer<S> for JsonLayer
where
    S: Subscriber + for<'a> LookupSpan<'a>,
{
    fn on_new_span(&self, attrs: &Attributes<'_>, id: &Id, ctx: Context<'_, S>) {
        let mut fields = SpanFields::default();
        attrs.record(&mut JsonValues(|name, value| fields.put(name, value)));
        if let Some(span) = ctx.span(id) {
            let parent = span
                .parent()
                .and_then(|parent| parent.extensions().get::<TraceContext>().copied());
            let traceparent = fields.get(TRACEPARENT).and_then(parse_traceparent);
            let mut extensions = span.extensions_mut();
            extensions.insert(TraceContext::new_span(parent, traceparent));
            extensions.insert(fields);
        }
    }

    fn on_enter(&self, id: &Id, ctx: Context<'_, S>) {
        if let Some(context) = ctx
            .span(id)
            .and_then(|span| span.extensions().get::<TraceContext>().copied())
        {
            trace_context::enter(id.into_u64(), context);
        }
    }

    fn on_exit(&self, id: &Id, _ctx: Context<'_, S>) {
        trace_context::exit(id.into_u64());
    }

    fn on_record(&self, id: &Id, values: &Record<'_>, ctx: Context<'_, S>) {
        if let Some(span) = ctx.span(id) {
            let mut extensions = span.extensions_mut();
            let mut traceparent = None;
            if let Some(fields) = extensions.get_mut::<SpanFields>() {
                values.record(&mut JsonValues(|name, value| {
                    if name == TRACEPARENT {
                        traceparent = parse_traceparent(&value);
                    }
                    fields.put(name, value);
                }));
            }
            // Recorded after the span began (the request's headers read later): the span joins
            // the caller's trace from here on.
            if let (Some(trace_id), Some(context)) =
                (traceparent, extensions.get_mut::<TraceContext>())
            {
                context.trace_id = trace_id;
                trace_context::rejoin(id.into_u64(), trace_id);
            }
        }
    }

    fn on_event(&self, event: &Event<'_>, ctx: Context<'_, S>) {
        if !self.enables(event.metadata()) {
            return;
        }
        let mut fields = EventFields::default();
        event.record(&mut JsonValues(|name, value| fields.put(name, value)));
        let mut function = None;
        let mut trace = None;
        if let Some(scope) = ctx.event_scope(event) {
            for span in scope {
                function.get_or_insert_with(|| span.name());
                if trace.is_none() {
                    trace = span.extensions().get::<TraceContext>().copied();
                }
                if let Some(from_span) = span.extensions().get::<SpanFields>() {
                    for (lifted, name) in [
                        (&mut fields.agent_id, "agent_id"),
                        (&mut fields.user_id, "user_id"),
                    ] {
                        if lifted.is_none() {
                            *lifted = from_span.get(name).map(str::to_owned);
                        }
                    }
                }
            }
        }
        SCRATCH.with_borrow_mut(|scratch| {
            let Scratch { line, keys } = scratch;
            line.clear();
            keys.clear();
            format_line(line, event, &fields, function, SystemTime::now());
            if let Some(trace) = &trace {
                trace.write_json(line);
            }
            let mut fields_out = FieldWriter {
                line,
                keys,
                ids_written: trace.is_some(),
            };
            for (name, value) in &fields.other {
                fields_out.field(name, value);
            }
            if let Some(scope) = ctx.event_scope(event) {
                for span in scope {
                    if let Some(from_span) = span.extensions().get::<SpanFields>() {
                        for (name, value) in &from_span.0 {
                            if !matches!(*name, "agent_id" | "user_id") {
                                fields_out.field(name, value);
                            }
                        }
                    }
                }
            }
            line.push_str("}\n");
            self.sinks.write_line(line.as_bytes());
            if self.sinks.stdout_pretty() {
                line.clear();
                super::pretty::format_line(line, event.metadata(), &fields, SystemTime::now());
                self.sinks.write_stdout(line.as_bytes());
            }
        });
    }
}

/// Reused per thread, so formatting a line does not allocate once the buffers have grown.
#[derive(Default)]
struct Scratch {
    line: String,
    /// The field keys already written on this line.
    keys: Vec<Cow<'static, str>>,
}

thread_local! {
    static SCRATCH: std::cell::RefCell<Scratch> = std::cell::RefCell::default();
}

/// Appends `,"key":value` pairs to a line, each key once: the first field to give a key wins.
struct FieldWriter<'a> {
    line: &'a mut String,
    keys: &'a mut Vec<Cow<'static, str>>,
    /// Whether the line carries the span's `trace_id` and `span_id`: fields of those names are
    /// then written as `fields.<name>`.
    ids_written: bool,
}

impl FieldWriter<'_> {
    fn field(&mut self, name: &'static str, value: &str) {
        let ids = self.ids_written && matches!(name, "trace_id" | "span_id");
        let key: Cow<'static, str> = if ids || RESERVED.contains(&name) {
            Cow::Owned(format!("fields.{name}"))
        } else {
            Cow::Borrowed(name)
        };
        if self.keys.contains(&key) {
            return;
        }
        self.line.push(',');
        push_json_string(self.line, &key);
        self.line.push(':');
        self.line.push_str(value);
        self.keys.push(key);
    }
}

/// The line's own keys, up to `user_id`; the caller appends the fields and closes the object.
fn format_line(
    out: &mut String,
    event: &Event<'_>,
    fields: &EventFields,
    function: Option<&str>,
    now: SystemTime,
) {
    let meta = event.metadata();
    out.push_str("{\"timestamp\":\"");
    write_rfc3339(out, now);
    out.push_str("\",\"level\":\"");
    out.push_str(level_name(meta.level()));
    out.push_str("\",\"logger\":");
    push_json_string(out, meta.target());
    out.push_str(",\"message\":");
    match &fields.message {
        Some(message) => out.push_str(message),
        None => out.push_str("\"\""),
    }
    match (&fields.code_module, meta.module_path()) {
        (Some(module), _) => {
            let _ = write!(out, ",\"module\":{module}");
        }
        (None, Some(module)) => {
            out.push_str(",\"module\":");
            push_json_string(out, module);
        }
        (None, None) => {}
    }
    match (&fields.code_function, function) {
        (Some(function), _) => {
            let _ = write!(out, ",\"function\":{function}");
        }
        (None, Some(function)) => {
            out.push_str(",\"function\":");
            push_json_string(out, function);
        }
        (None, None) => {}
    }
    match (&fields.code_line, meta.line()) {
        (Some(line), _) => {
            let _ = write!(out, ",\"line\":{line}");
        }
        (None, Some(line)) => {
            let _ = write!(out, ",\"line\":{line}");
        }
        (None, None) => {}
    }
    for (key, value) in [
        ("exception", &fields.exception),
        ("agent_id", &fields.agent_id),
        ("user_id", &fields.user_id),
    ] {
        if let Some(value) = value {
            let _ = write!(out, ",\"{key}\":{value}");
        }
    }
}
