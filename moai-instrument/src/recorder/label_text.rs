//! Labels as the text formats write them: `key="value"` pairs joined by commas, values escaped
//! (`\`, `"` and newline). A series' labels never change, so the registry writes this text once,
//! when the series is registered, and text 0.0.4 and OpenMetrics copy it at each scrape instead
//! of escaping every value again (the largest part of rendering a labelled counter).

use metrics::Key;

/// `a="x",b="y"` for `key`'s labels (already in their exposition form); empty without labels.
pub(crate) fn labels_text(key: &Key) -> Box<str> {
    let mut out = String::new();
    for (i, label) in key.labels().enumerate() {
        if i > 0 {
            out.push(',');
        }
        out.push_str(label.key());
        out.push_str("=\"");
        escape_label_value(&mut out, label.value());
        out.push('"');
    }
    out.into_boxed_str()
}

/// Label values escape `\`, `"` and newline; everything else is written as is.
pub(crate) fn escape_label_value(out: &mut String, value: &str) {
    escape(out, value, |b| match b {
        b'\\' => Some("\\\\"),
        b'"' => Some("\\\""),
        b'\n' => Some("\\n"),
        _ => None,
    });
}

/// `text` with each byte that `escaped` names replaced; text without any is copied whole. Only
/// ASCII bytes are ever replaced, so the pieces copied between them are whole characters.
pub(crate) fn escape(out: &mut String, text: &str, escaped: impl Fn(u8) -> Option<&'static str>) {
    let mut from = 0;
    for (at, &byte) in text.as_bytes().iter().enumerate() {
        if let Some(replacement) = escaped(byte) {
            out.push_str(&text[from..at]);
            out.push_str(replacement);
            from = at + 1;
        }
    }
    out.push_str(&text[from..]);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn label_values_round_trip_through_escaping() {
        let mut out = String::new();
        escape_label_value(&mut out, "a\"b\\c\nd\\\"é");
        assert_eq!(out, r#"a\"b\\c\nd\\\"é"#);
    }

    #[test]
    fn labels_are_joined_in_key_order_as_given() {
        let key = Key::from_parts(
            "m",
            vec![
                metrics::Label::new("b", "x\"y"),
                metrics::Label::new("a", "значение"),
            ],
        );
        assert_eq!(&*labels_text(&key), r#"b="x\"y",a="значение""#);
        assert_eq!(&*labels_text(&Key::from_name("m")), "");
    }
}
