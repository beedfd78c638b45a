//! MoAI-Flow's encodings, so that what the SDK writes reads back in MoAI-Flow's own code and
//! looks like what MoAI-Flow wrote:
//!
//! - JSON text as Python's `json.dumps` writes it by default: `", "` and `": "` separators and
//!   every non-ASCII character escaped (`"\u00dc"`), through a `serde_json` formatter;
//! - timestamps as `datetime.now().isoformat()` (`2026-11-29T12:07:22.681735`): the host's local
//!   time without an offset, as Python writes it, so that MoAI-Flow's text comparisons ("newest",
//!   the cleanup cut-off) order the SDK's rows and its own alike;
//! - instants as `time.time()`: REAL Unix seconds.

use std::io;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::Serialize;
use serde_json::Value;
use serde_json::ser::{CharEscape, Formatter, Serializer};

/// `json.dumps(value)`: Python's default separators and `ensure_ascii`.
pub(crate) fn python_json(value: &Value) -> String {
    let mut out = Vec::with_capacity(64);
    let mut serializer = Serializer::with_formatter(&mut out, PythonFormatter);
    // Writing a `Value` into a Vec fails for no input: maps have string keys, numbers are finite.
    if value.serialize(&mut serializer).is_err() {
        return value.to_string();
    }
    // The formatter writes ASCII only.
    String::from_utf8(out).unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned())
}

/// Python's `json.dumps` layout: `[1, 2]`, `{"a": 1}`, `"\u00e9"`.
struct PythonFormatter;

impl Formatter for PythonFormatter {
    fn begin_array_value<W: ?Sized + io::Write>(
        &mut self,
        w: &mut W,
        first: bool,
    ) -> io::Result<()> {
        if first { Ok(()) } else { w.write_all(b", ") }
    }

    fn begin_object_key<W: ?Sized + io::Write>(
        &mut self,
        w: &mut W,
        first: bool,
    ) -> io::Result<()> {
        if first { Ok(()) } else { w.write_all(b", ") }
    }

    fn begin_object_value<W: ?Sized + io::Write>(&mut self, w: &mut W) -> io::Result<()> {
        w.write_all(b": ")
    }

    fn write_string_fragment<W: ?Sized + io::Write>(
        &mut self,
        w: &mut W,
        fragment: &str,
    ) -> io::Result<()> {
        // serde_json has already escaped quotes, backslashes and control characters; what is
        // left outside printable ASCII (DEL and every non-ASCII character) Python writes as
        // `\uXXXX`, astral characters as a surrogate pair.
        let mut rest = fragment;
        while let Some(at) = rest.find(|c: char| !(' '..='~').contains(&c)) {
            w.write_all(&rest.as_bytes()[..at])?;
            let c = rest[at..].chars().next().unwrap_or(' ');
            let mut units = [0u16; 2];
            for unit in c.encode_utf16(&mut units) {
                write!(w, "\\u{unit:04x}")?;
            }
            rest = &rest[at + c.len_utf8()..];
        }
        w.write_all(rest.as_bytes())
    }

    fn write_char_escape<W: ?Sized + io::Write>(
        &mut self,
        w: &mut W,
        escape: CharEscape,
    ) -> io::Result<()> {
        let text: &[u8] = match escape {
            CharEscape::Quote => b"\\\"",
            CharEscape::ReverseSolidus => b"\\\\",
            CharEscape::Solidus => b"/",
            CharEscape::Backspace => b"\\b",
            CharEscape::FormFeed => b"\\f",
            CharEscape::LineFeed => b"\\n",
            CharEscape::CarriageReturn => b"\\r",
            CharEscape::Tab => b"\\t",
            CharEscape::AsciiControl(byte) => return write!(w, "\\u{:04x}", byte),
        };
        w.write_all(text)
    }
}

/// `datetime.fromtimestamp(t).isoformat()`: the local time of `time` as ISO 8601 text without an
/// offset, always with microseconds (`2026-11-29T12:07:22.681735`). The local time zone is the
/// C library's (`TZ`, else `/etc/localtime`), as Python's; UTC when it cannot be read.
#[must_use]
pub fn iso_timestamp(time: SystemTime) -> String {
    broken_down(time, libc::localtime_r)
        .or_else(|| broken_down(time, libc::gmtime_r))
        .unwrap_or_else(|| "1970-01-01T00:00:00.000000".to_owned())
}

/// `time` as ISO 8601 text without an offset through `convert` (`localtime_r` or `gmtime_r`);
/// `None` when the C library cannot convert it.
fn broken_down(
    time: SystemTime,
    convert: unsafe extern "C" fn(*const libc::time_t, *mut libc::tm) -> *mut libc::tm,
) -> Option<String> {
    let since = time.duration_since(UNIX_EPOCH).unwrap_or_default();
    let secs = libc::time_t::try_from(since.as_secs()).ok()?;
    // SAFETY: `tm` is plain data that `convert` fills in; both pointers are valid for the call,
    // and the `_r` variants keep no shared buffer.
    let tm = unsafe {
        let mut tm: libc::tm = std::mem::zeroed();
        (!convert(&secs, &mut tm).is_null()).then_some(tm)
    }?;
    Some(format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:06}",
        i64::from(tm.tm_year) + 1900,
        tm.tm_mon + 1,
        tm.tm_mday,
        tm.tm_hour,
        tm.tm_min,
        tm.tm_sec,
        since.subsec_micros()
    ))
}

/// [`iso_timestamp`] of now: the form of event timestamps and `last_updated` in SwarmDB.
#[must_use]
pub fn iso_timestamp_now() -> String {
    iso_timestamp(SystemTime::now())
}

/// `time.time()` of an instant: seconds since the Unix epoch (negative before it).
pub(crate) fn unix_seconds(time: SystemTime) -> f64 {
    match time.duration_since(UNIX_EPOCH) {
        Ok(after) => after.as_secs_f64(),
        Err(before) => -before.duration().as_secs_f64(),
    }
}

/// The instant of a REAL Unix-seconds column; `None` for a value no `SystemTime` holds.
pub(crate) fn from_unix_seconds(seconds: f64) -> Option<SystemTime> {
    let magnitude = Duration::try_from_secs_f64(seconds.abs()).ok()?;
    if seconds >= 0.0 {
        UNIX_EPOCH.checked_add(magnitude)
    } else {
        UNIX_EPOCH.checked_sub(magnitude)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn json_is_written_as_python_writes_it() {
        // Byte for byte what the fixture's MoAI-Flow stored for the same values (keys in
        // `serde_json::Map` order, sorted, where Python keeps the caller's order).
        assert_eq!(
            python_json(&json!({"n": 6, "prompt": "Ünïcode ✓"})),
            r#"{"n": 6, "prompt": "\u00dcn\u00efcode \u2713"}"#
        );
        assert_eq!(
            python_json(
                &json!({"k": 0, "nested": {"list": [1, 2.5, null, true], "s": "tab\there"}})
            ),
            r#"{"k": 0, "nested": {"list": [1, 2.5, null, true], "s": "tab\there"}}"#
        );
        assert_eq!(
            python_json(&json!({"prompt": "Fix \"quoted\" bug\nline 2"})),
            r#"{"prompt": "Fix \"quoted\" bug\nline 2"}"#
        );
        assert_eq!(
            python_json(&json!("😀\u{7f}\u{1}")),
            r#""\ud83d\ude00\u007f\u0001""#
        );
        assert_eq!(python_json(&json!({})), "{}");
        assert_eq!(python_json(&json!([])), "[]");
    }

    #[test]
    fn unix_seconds_round_trip() {
        let t = UNIX_EPOCH + Duration::from_micros(1_795_954_042_680_440);
        let back = from_unix_seconds(unix_seconds(t)).unwrap();
        let drift = back.duration_since(t).unwrap_or_else(|e| e.duration());
        assert!(drift < Duration::from_micros(1), "{drift:?}");
        assert_eq!(from_unix_seconds(f64::NAN), None);
        assert_eq!(
            broken_down(t, libc::gmtime_r).as_deref(),
            Some("2026-11-29T12:07:22.680440")
        );
    }
}
