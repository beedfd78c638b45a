//! The exposition formats a scraper can ask for, and the choice among them by the `Accept`
//! header, as Prometheus' own client libraries choose (client_golang's
//! `expfmt.NegotiateIncludingOpenMetrics`): media ranges in order of their `q` weight (ties in
//! the order given), the first one this recorder writes wins, and text 0.0.4 when none does.

/// How metric and label names that are not valid in the classic syntax
/// (`[a-zA-Z_:][a-zA-Z0-9_:]*`) are written: the `escaping` parameter of text 1.0.0 (Prometheus
/// 3's UTF-8 names).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Escaping {
    /// Names as the host recorded them (`jobs.done`), quoted where the classic syntax cannot
    /// hold them: `{"jobs.done",job="x"} 1`.
    AllowUtf8,
    /// Each character the classic syntax does not allow becomes `_` (the classic behaviour).
    Underscores,
    /// `.` becomes `_dot_`, `_` becomes `__`, any other such character `__`: reversible for
    /// names made of letters, digits, dots and underscores.
    Dots,
    /// A name that is not valid becomes `U__` followed by its characters, `_` as `__` and each
    /// other character not allowed as `_<hex code point>_`: reversible for every name (names
    /// that sanitise alike are still one family, under the first spelling recorded).
    Values,
}

impl Escaping {
    /// Its name in an `escaping=` parameter.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Escaping::AllowUtf8 => "allow-utf-8",
            Escaping::Underscores => "underscores",
            Escaping::Dots => "dots",
            Escaping::Values => "values",
        }
    }

    /// From an `escaping=` parameter (`allow-utf-8` and `allow-utf8` both name the first).
    #[must_use]
    pub fn from_param(value: &str) -> Option<Escaping> {
        match value.trim().to_ascii_lowercase().as_str() {
            "allow-utf-8" | "allow-utf8" => Some(Escaping::AllowUtf8),
            "underscores" => Some(Escaping::Underscores),
            "dots" => Some(Escaping::Dots),
            "values" => Some(Escaping::Values),
            _ => None,
        }
    }
}

/// An exposition format.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// `text/plain; version=0.0.4`: the classic text format, and the default.
    Text004,
    /// `text/plain; version=1.0.0; escaping=...`: the text format with UTF-8 names.
    Text100(Escaping),
    /// `application/openmetrics-text; version=1.0.0` (or the older `0.0.1`, same body): counters
    /// as `_total` samples, units, exemplars, `# EOF`.
    OpenMetrics {
        /// `true` for version 0.0.1 (only the `Content-Type` differs).
        v0_0_1: bool,
    },
    /// `application/vnd.google.protobuf; proto=io.prometheus.client.MetricFamily;
    /// encoding=delimited`: `MetricFamily` messages, each preceded by its length.
    Protobuf,
}

impl Format {
    /// The format to answer an `Accept` header with (none: text 0.0.4).
    ///
    /// ```
    /// use moai_instrument::recorder::{Escaping, Format};
    ///
    /// let prometheus_3 = "text/plain;version=1.0.0;escaping=allow-utf-8;q=0.6,\
    ///     text/plain;version=0.0.4;q=0.4,*/*;q=0.1";
    /// assert_eq!(Format::negotiate(Some(prometheus_3)), Format::Text100(Escaping::AllowUtf8));
    /// assert_eq!(Format::negotiate(None), Format::Text004);
    /// ```
    #[must_use]
    pub fn negotiate(accept: Option<&str>) -> Format {
        let Some(accept) = accept else {
            return Format::Text004;
        };
        let mut ranges: Vec<(f32, usize, Option<Format>)> = accept
            .split(',')
            .enumerate()
            .filter_map(|(order, range)| {
                let (format, q) = media_range(range)?;
                (q > 0.0).then_some((q, order, format))
            })
            .collect();
        // Highest weight first; equal weights in the order the client gave them.
        ranges.sort_by(|a, b| b.0.total_cmp(&a.0).then(a.1.cmp(&b.1)));
        ranges
            .into_iter()
            .find_map(|(_, _, format)| format)
            .unwrap_or(Format::Text004)
    }

    /// The `Content-Type` that names this format (and its escaping).
    #[must_use]
    pub fn content_type(self) -> &'static str {
        match self {
            Format::Text004 => "text/plain; version=0.0.4; charset=utf-8",
            Format::Text100(Escaping::AllowUtf8) => {
                "text/plain; version=1.0.0; charset=utf-8; escaping=allow-utf-8"
            }
            Format::Text100(Escaping::Underscores) => {
                "text/plain; version=1.0.0; charset=utf-8; escaping=underscores"
            }
            Format::Text100(Escaping::Dots) => {
                "text/plain; version=1.0.0; charset=utf-8; escaping=dots"
            }
            Format::Text100(Escaping::Values) => {
                "text/plain; version=1.0.0; charset=utf-8; escaping=values"
            }
            Format::OpenMetrics { v0_0_1: false } => {
                "application/openmetrics-text; version=1.0.0; charset=utf-8"
            }
            Format::OpenMetrics { v0_0_1: true } => {
                "application/openmetrics-text; version=0.0.1; charset=utf-8"
            }
            Format::Protobuf => {
                "application/vnd.google.protobuf; proto=io.prometheus.client.MetricFamily; \
                 encoding=delimited"
            }
        }
    }
}

/// One media range of an `Accept` header: the format it asks for (`None`: one this recorder
/// does not write) and its weight. `None` for a range that cannot be read.
fn media_range(range: &str) -> Option<(Option<Format>, f32)> {
    let mut parts = range.split(';');
    let media = parts.next()?.trim().to_ascii_lowercase();
    let (mut version, mut escaping, mut q) = (None, None, 1.0f32);
    let (mut proto, mut encoding): (Option<String>, Option<String>) = (None, None);
    for param in parts {
        let (name, value) = param.split_once('=')?;
        let value = value.trim().trim_matches('"');
        match name.trim().to_ascii_lowercase().as_str() {
            "version" => version = Some(value.to_owned()),
            "escaping" => escaping = Some(value.to_owned()),
            "q" => {
                q = value
                    .parse()
                    .ok()
                    .filter(|q: &f32| (0.0..=1.0).contains(q))?
            }
            "proto" => proto = Some(value.to_owned()),
            "encoding" => encoding = Some(value.to_owned()),
            _ => {}
        }
    }
    let escaping = match escaping.as_deref() {
        None => Some(Escaping::Underscores),
        Some(value) => Escaping::from_param(value),
    };
    let format = match (media.as_str(), version.as_deref()) {
        ("text/plain", None | Some("0.0.4")) => Some(Format::Text004),
        ("text/plain", Some("1.0.0")) => escaping.map(Format::Text100),
        ("application/openmetrics-text", Some("1.0.0")) => {
            Some(Format::OpenMetrics { v0_0_1: false })
        }
        ("application/openmetrics-text", None | Some("0.0.1")) => {
            Some(Format::OpenMetrics { v0_0_1: true })
        }
        ("application/vnd.google.protobuf", _) => (proto.as_deref()
            == Some("io.prometheus.client.MetricFamily")
            && encoding.as_deref() == Some("delimited"))
        .then_some(Format::Protobuf),
        ("*/*" | "text/*", _) => Some(Format::Text004),
        _ => None,
    };
    Some((format, q))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prometheus_accept_headers_choose_what_prometheus_prefers() {
        // Prometheus 2.42's default scrape protocols.
        let prometheus_2 = "application/openmetrics-text;version=1.0.0,application/openmetrics-text;\
            version=0.0.1;q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1";
        assert_eq!(
            Format::negotiate(Some(prometheus_2)),
            Format::OpenMetrics { v0_0_1: false }
        );
        let old = "application/openmetrics-text; version=0.0.1,text/plain;version=0.0.4;q=0.5";
        assert_eq!(
            Format::negotiate(Some(old)),
            Format::OpenMetrics { v0_0_1: true }
        );
        for (escaping, format) in [
            ("allow-utf-8", Escaping::AllowUtf8),
            ("allow-utf8", Escaping::AllowUtf8),
            ("underscores", Escaping::Underscores),
            ("dots", Escaping::Dots),
            ("values", Escaping::Values),
        ] {
            let accept = format!("text/plain;version=1.0.0;escaping={escaping}");
            assert_eq!(Format::negotiate(Some(&accept)), Format::Text100(format));
        }
        assert_eq!(
            Format::negotiate(Some("text/plain;version=1.0.0")),
            Format::Text100(Escaping::Underscores)
        );
        // Prometheus 2.42 with --enable-feature=native-histograms, as it sends it.
        let native = "application/vnd.google.protobuf;proto=io.prometheus.client.MetricFamily;\
            encoding=delimited,application/openmetrics-text;version=1.0.0;q=0.8,\
            application/openmetrics-text;version=0.0.1;q=0.75,text/plain;version=0.0.4;q=0.5,\
            */*;q=0.1";
        assert_eq!(Format::negotiate(Some(native)), Format::Protobuf);
        let text_protobuf =
            "application/vnd.google.protobuf;proto=io.prometheus.client.MetricFamily;encoding=text";
        assert_eq!(Format::negotiate(Some(text_protobuf)), Format::Text004);
    }

    #[test]
    fn weights_order_the_choice_and_unknown_ranges_are_skipped() {
        let accept =
            "text/plain;version=0.0.4;q=0.3,application/openmetrics-text;version=1.0.0;q=0.9";
        assert_eq!(
            Format::negotiate(Some(accept)),
            Format::OpenMetrics { v0_0_1: false }
        );
        assert_eq!(Format::negotiate(Some("application/json")), Format::Text004);
        assert_eq!(
            Format::negotiate(Some("application/openmetrics-text;version=1.0.0;q=0")),
            Format::Text004
        );
        assert_eq!(
            Format::negotiate(Some("text/plain;version=9.9.9")),
            Format::Text004
        );
        assert_eq!(
            Format::negotiate(Some("text/plain;version=1.0.0;escaping=bogus")),
            Format::Text004
        );
        assert_eq!(Format::negotiate(Some(",,;;q=x")), Format::Text004);
    }
}
