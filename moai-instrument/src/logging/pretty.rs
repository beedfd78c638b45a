//! The human line on stdout (`MOAI_LOG_FORMAT=pretty`): `timestamp LEVEL logger: message k=v ...`,
//! made from the fields the JSON line already rendered, so both formats show the same values.

use std::time::SystemTime;

use super::fields::{EventFields, level_name};
use crate::timestamp::write_rfc3339;

/// Writes one human line (with its newline) into `out`. Field values keep their JSON rendering:
/// strings quoted and escaped, so a line never spans two terminal lines.
pub(super) fn format_line(
    out: &mut String,
    meta: &tracing::Metadata<'_>,
    fields: &EventFields,
    now: SystemTime,
) {
    write_rfc3339(out, now);
    out.push(' ');
    let level = level_name(meta.level());
    out.push_str(level);
    for _ in level.len()..7 {
        out.push(' ');
    }
    out.push(' ');
    out.push_str(meta.target());
    out.push_str(": ");
    if let Some(message) = &fields.message {
        // The message is a JSON string: shown without its quotes, escapes kept.
        let inner = message
            .strip_prefix('"')
            .and_then(|m| m.strip_suffix('"'))
            .unwrap_or(message);
        out.push_str(inner);
    }
    for (key, value) in [
        ("agent_id", &fields.agent_id),
        ("user_id", &fields.user_id),
        ("exception", &fields.exception),
    ] {
        if let Some(value) = value {
            push_field(out, key, value);
        }
    }
    for (key, value) in &fields.other {
        push_field(out, key, value);
    }
    out.push('\n');
}

fn push_field(out: &mut String, key: &str, value: &str) {
    out.push(' ');
    out.push_str(key);
    out.push('=');
    out.push_str(value);
}
