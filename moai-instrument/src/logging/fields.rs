//! An event's and a span's fields rendered as JSON values once, when recorded, for the JSON line
//! and the human line alike; and JSON string escaping.

use std::fmt::{self, Write as _};

use tracing::Level;
use tracing::field::{Field, Visit};

/// Everything an event carries, rendered as JSON values in the order recorded.
#[derive(Default)]
pub(super) struct EventFields {
    /// `code.module`, `code.function`, `code.line`: where the event is about, when an SDK helper
    /// logs on behalf of the user's code (e.g. a failed `#[timed_query]` fn).
    pub(super) code_module: Option<String>,
    pub(super) code_function: Option<String>,
    pub(super) code_line: Option<String>,
    pub(super) message: Option<String>,
    pub(super) exception: Option<String>,
    pub(super) agent_id: Option<String>,
    pub(super) user_id: Option<String>,
    pub(super) other: Vec<(&'static str, String)>,
}

impl EventFields {
    pub(super) fn put(&mut self, name: &'static str, value: String) {
        match name {
            "message" => self.message = Some(value),
            "code.module" => self.code_module = Some(value),
            "code.function" => self.code_function = Some(value),
            "code.line" => self.code_line = Some(value),
            "error" if self.exception.is_none() => self.exception = Some(value),
            "agent_id" => self.agent_id = Some(value),
            "user_id" => self.user_id = Some(value),
            name => self.other.push((name, value)),
        }
    }
}

/// A `tracing` visitor that renders each field as a JSON value and hands it to `put`.
pub(super) struct JsonValues<F: FnMut(&'static str, String)>(pub(super) F);

impl<F: FnMut(&'static str, String)> Visit for JsonValues<F> {
    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        // A host's `Debug` may fail (return `fmt::Error`); `format!` would then panic in the
        // host's thread. The field gets a placeholder instead.
        (self.0)(
            field.name(),
            json_string(&crate::error::debug_or_placeholder(value)),
        );
    }
    fn record_str(&mut self, field: &Field, value: &str) {
        (self.0)(field.name(), json_string(value));
    }
    fn record_i64(&mut self, field: &Field, value: i64) {
        (self.0)(field.name(), value.to_string());
    }
    fn record_u64(&mut self, field: &Field, value: u64) {
        (self.0)(field.name(), value.to_string());
    }
    fn record_i128(&mut self, field: &Field, value: i128) {
        (self.0)(field.name(), value.to_string());
    }
    fn record_u128(&mut self, field: &Field, value: u128) {
        (self.0)(field.name(), value.to_string());
    }
    fn record_bool(&mut self, field: &Field, value: bool) {
        (self.0)(field.name(), value.to_string());
    }
    fn record_f64(&mut self, field: &Field, value: f64) {
        // JSON has no NaN or infinity: those are written as strings.
        let rendered = if value.is_finite() {
            format!("{value:?}")
        } else {
            json_string(&value.to_string())
        };
        (self.0)(field.name(), rendered);
    }
    fn record_error(&mut self, field: &Field, value: &(dyn std::error::Error + 'static)) {
        (self.0)(field.name(), json_string(&crate::error::error_chain(value)));
    }
}

pub(super) fn level_name(level: &Level) -> &'static str {
    // The guide's (Python's) names, which existing log queries filter on.
    match *level {
        Level::ERROR => "ERROR",
        Level::WARN => "WARNING",
        Level::INFO => "INFO",
        Level::DEBUG => "DEBUG",
        Level::TRACE => "TRACE",
    }
}

pub(super) fn json_string(value: &str) -> String {
    let mut out = String::with_capacity(value.len() + 2);
    push_json_string(&mut out, value);
    out
}

/// Appends `value` as a JSON string: quotes, backslashes and every control character escaped.
pub(crate) fn push_json_string(out: &mut String, value: &str) {
    out.push('"');
    let mut start = 0;
    for (i, byte) in value.bytes().enumerate() {
        let escape = match byte {
            b'"' => "\\\"",
            b'\\' => "\\\\",
            b'\n' => "\\n",
            b'\r' => "\\r",
            b'\t' => "\\t",
            0..=0x1f | 0x7f => "",
            _ => continue,
        };
        out.push_str(&value[start..i]);
        if escape.is_empty() {
            let _ = write!(out, "\\u{byte:04x}");
        } else {
            out.push_str(escape);
        }
        start = i + 1;
    }
    out.push_str(&value[start..]);
    out.push('"');
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strings_escape_quotes_backslashes_and_control_characters() {
        let mut out = String::new();
        push_json_string(&mut out, "a\"b\\c\nd\u{0}e\u{1b}f\u{7f}ü");
        assert_eq!(out, r#""a\"b\\c\nd\u0000e\u001bf\u007fü""#);
    }
}
