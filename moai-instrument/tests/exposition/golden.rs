//! The exposition, byte for byte: one registry of awkward host series (escapes in label values,
//! names and keys that need sanitising or quoting, non-finite gauges, empty label values,
//! histograms in each mode) rendered in every format and compared with the files under
//! `tests/exposition/golden/`, so that a faster encoder cannot change a single byte. Only the
//! `golden_*` families are compared (the SDK's own series depend on what the test binary links).
//!
//! After an intended change of the output: `MOAI_BLESS=1 cargo test -p moai-instrument --test
//! exposition golden`, then review the diff of the files.

use std::path::PathBuf;

use moai_instrument::__test_support::{detached_recorder, in_scope};
use moai_instrument::recorder::{Escaping, Format};
use moai_instrument::{Config, HistogramMode, MetricsHandle, metrics};

const FORMATS: [(&str, Format); 9] = [
    ("text-0.0.4", Format::Text004),
    (
        "text-1.0.0-allow-utf8",
        Format::Text100(Escaping::AllowUtf8),
    ),
    (
        "text-1.0.0-underscores",
        Format::Text100(Escaping::Underscores),
    ),
    ("text-1.0.0-dots", Format::Text100(Escaping::Dots)),
    ("text-1.0.0-values", Format::Text100(Escaping::Values)),
    ("openmetrics-1.0.0", Format::OpenMetrics { v0_0_1: false }),
    ("openmetrics-0.0.1", Format::OpenMetrics { v0_0_1: true }),
    ("protobuf", Format::Protobuf),
    // Twice: a second render reuses the buffers sized by the first.
    ("text-0.0.4", Format::Text004),
];

fn registry(mode: HistogramMode) -> MetricsHandle {
    let handle = detached_recorder(
        Config::new()
            .histogram_mode(mode)
            .histogram_buckets([0.005, 0.05, 0.5, 5.0]),
    )
    .expect("a detached recorder");
    in_scope(&handle, || {
        metrics::describe_counter!(
            "golden_requests_total",
            "Requests by \"route\"\\method\nend"
        );
        for i in 0..12u64 {
            metrics::counter!(
                "golden_requests_total",
                "route" => format!("/api/{i}"),
                "method" => if i % 2 == 0 { "GET" } else { "POST" }
            )
            .increment(i * 1_000_003);
        }
        metrics::counter!("golden_escapes_total", "value" => "a\"b\\c\nd").increment(1);
        metrics::counter!("golden_escapes_total", "value" => "").increment(2);
        metrics::counter!("golden.dotted.name", "key.with.dots" => "x", "ключ" => "значение")
            .increment(3);
        metrics::counter!("golden_no_labels").increment(u64::MAX);
        metrics::gauge!("golden_gauge", "kind" => "nan").set(f64::NAN);
        metrics::gauge!("golden_gauge", "kind" => "inf").set(f64::INFINITY);
        metrics::gauge!("golden_gauge", "kind" => "neg_inf").set(f64::NEG_INFINITY);
        metrics::gauge!("golden_gauge", "kind" => "tiny").set(-1.5e-300);
        metrics::gauge!("golden_gauge", "kind" => "big").set(123_456_789.125);
        metrics::gauge!("golden_gauge", "kind" => "zero").set(0.0);
        metrics::describe_histogram!("golden_latency_seconds", "Latency of golden work");
        for (op, scale) in [("read", 1e-3), ("write", 0.2)] {
            let h = metrics::histogram!("golden_latency_seconds", "op" => op);
            for i in 1..=50 {
                h.record(scale * f64::from(i));
            }
        }
        metrics::histogram!("golden_empty_seconds").record(f64::NAN);
    });
    handle
}

/// The lines of the `golden_*` families (and `# EOF`), in order.
fn golden_text(body: &[u8]) -> String {
    let text = String::from_utf8(body.to_vec()).expect("text exposition is UTF-8");
    let mut out = String::new();
    for line in text.lines() {
        let name = line
            .strip_prefix("# HELP ")
            .or_else(|| line.strip_prefix("# TYPE "))
            .or_else(|| line.strip_prefix("# UNIT "))
            .unwrap_or(line)
            .trim_start_matches(['{', '"'])
            .trim_start_matches("U__");
        if name.starts_with("golden") || line == "# EOF" {
            out.push_str(line);
            out.push('\n');
        }
    }
    out
}

fn varint(bytes: &[u8], at: &mut usize) -> u64 {
    let mut value = 0u64;
    for shift in (0..64).step_by(7) {
        let byte = bytes[*at];
        *at += 1;
        value |= u64::from(byte & 0x7f) << shift;
        if byte < 0x80 {
            break;
        }
    }
    value
}

/// The delimited `MetricFamily` messages of the `golden_*` families, as hex, one per line.
fn golden_protobuf(body: &[u8]) -> String {
    let mut out = String::new();
    let mut at = 0;
    while at < body.len() {
        let length = varint(body, &mut at) as usize;
        let message = &body[at..at + length];
        at += length;
        // Field 1 (the name) comes first: tag 0x0a, its length, the name.
        assert_eq!(message[0], 0x0a, "a family starts with its name");
        let mut inner = 1;
        let name_length = varint(message, &mut inner) as usize;
        if message[inner..inner + name_length].starts_with(b"golden") {
            for byte in message {
                out.push_str(&format!("{byte:02x}"));
            }
            out.push('\n');
        }
    }
    out
}

#[test]
fn every_format_writes_the_same_bytes_as_recorded() {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/exposition/golden");
    let bless = std::env::var_os("MOAI_BLESS").is_some();
    let mut differences = Vec::new();
    for (mode_name, mode) in [
        ("summary", HistogramMode::Summary),
        ("buckets", HistogramMode::Buckets),
        ("native", HistogramMode::Native),
    ] {
        let handle = registry(mode);
        for (format_name, format) in FORMATS {
            let body = handle.render_as(format);
            let got = match format {
                Format::Protobuf => golden_protobuf(&body),
                _ => golden_text(&body),
            };
            assert!(got.lines().count() >= 6, "{mode_name} {format_name}: {got}");
            let path = dir.join(format!("{mode_name}.{format_name}.txt"));
            if bless {
                std::fs::create_dir_all(&dir).unwrap();
                std::fs::write(&path, &got).unwrap();
                continue;
            }
            let want = std::fs::read_to_string(&path)
                .unwrap_or_else(|e| panic!("{}: {e} (MOAI_BLESS=1 writes it)", path.display()));
            if got != want {
                differences.push(format!(
                    "{}:\n--- want\n{want}--- got\n{got}",
                    path.display()
                ));
            }
        }
    }
    assert!(differences.is_empty(), "{}", differences.join("\n"));
}
