//! Log lines under stress: any field content gives exactly one valid JSON object per line, and a
//! flood of lines from many threads into a slow writer neither deadlocks nor loses a line (the
//! writer applies back-pressure). The fields of enclosing spans are at the top level of each
//! line, innermost span first, the event's own fields winning, and no key is ever written twice.

use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

use proptest::strategy::{Strategy, ValueTree};
use proptest::test_runner::TestRunner;
use serde_json::Value;

/// Every line the subscriber wrote, as written.
static LINES: Mutex<Vec<Vec<u8>>> = Mutex::new(Vec::new());

fn install() {
    static ONCE: OnceLock<()> = OnceLock::new();
    ONCE.get_or_init(|| {
        let subscriber = moai_instrument::__test_support::json_subscriber(|line| {
            // A slow sink: every line costs 20 µs, as a congested disk or pipe would.
            let until = Instant::now() + Duration::from_micros(20);
            while Instant::now() < until {}
            LINES.lock().unwrap().push(line.to_vec());
        });
        tracing::subscriber::set_global_default(subscriber).unwrap();
    });
}

/// The lines whose `marker` field is `marker`, each checked: one line, valid JSON, no key twice.
fn lines_with(marker: &str) -> Vec<Value> {
    raw_lines_with(marker)
        .into_iter()
        .map(|(_, line)| line)
        .collect()
}

/// Like [`lines_with`], with each line's keys in the order written.
fn raw_lines_with(marker: &str) -> Vec<(Vec<String>, Value)> {
    LINES
        .lock()
        .unwrap()
        .iter()
        .map(|raw| {
            let text = std::str::from_utf8(raw).expect("UTF-8");
            assert!(
                text.ends_with('\n') && text.matches('\n').count() == 1,
                "one line per event: {text:?}"
            );
            let line = serde_json::from_str::<Value>(text)
                .unwrap_or_else(|e| panic!("invalid JSON {text:?}: {e}"));
            let keys = keys_in_order(text.trim_end());
            assert_eq!(
                keys.len(),
                line.as_object().unwrap().len(),
                "a key written twice: {text}"
            );
            (keys, line)
        })
        .filter(|(_, line)| line["marker"] == marker)
        .collect()
}

/// The keys of a flat JSON object as written, repeats included (a JSON parser keeps one of a
/// repeated key silently). Every value of a log line is a string, number or boolean.
fn keys_in_order(object: &str) -> Vec<String> {
    let bytes = object.as_bytes();
    // The end of the string that starts at `i` (the index of its closing quote).
    let string_end = |mut i: usize| {
        i += 1;
        while bytes[i] != b'"' {
            i += if bytes[i] == b'\\' { 2 } else { 1 };
        }
        i
    };
    let mut keys = Vec::new();
    let mut i = 1;
    while bytes.get(i) == Some(&b'"') {
        let end = string_end(i);
        keys.push(serde_json::from_str(&object[i..=end]).unwrap());
        i = end + 2;
        if bytes[i] == b'"' {
            i = string_end(i) + 1;
        } else {
            while bytes[i] != b',' && bytes[i] != b'}' {
                i += 1;
            }
        }
        i += 1;
    }
    keys
}

#[test]
fn any_field_content_gives_one_valid_json_line() {
    install();
    let mut runner = TestRunner::deterministic();
    let strategy = proptest::string::string_regex("(?s).{0,60}").unwrap();
    let mut sent = Vec::new();
    for n in 0..500u32 {
        let content = strategy.new_tree(&mut runner).unwrap().current();
        let span = tracing::info_span!("job", agent_id = %content, user_id = n);
        let _entered = span.enter();
        tracing::info!(marker = "content", n, note = %content, debug = ?content, "{content}");
        sent.push(content);
    }
    let lines = lines_with("content");
    assert_eq!(lines.len(), sent.len());
    for (line, content) in lines.iter().zip(&sent) {
        assert_eq!(line["note"], content.as_str());
        assert_eq!(line["message"], content.as_str());
        assert_eq!(line["agent_id"], content.as_str());
        assert_eq!(line["debug"], format!("{content:?}"));
    }
}

#[test]
fn a_flood_into_a_slow_writer_loses_nothing_and_finishes() {
    install();
    const THREADS: u64 = 4;
    const PER_THREAD: u64 = 2_000;
    let started = Instant::now();
    std::thread::scope(|s| {
        for t in 0..THREADS {
            s.spawn(move || {
                for n in 0..PER_THREAD {
                    tracing::warn!(marker = "flood", t, n, "flood line");
                }
            });
        }
    });
    let lines = lines_with("flood");
    let mut seen = std::collections::HashSet::new();
    for line in &lines {
        assert!(
            seen.insert((line["t"].as_u64().unwrap(), line["n"].as_u64().unwrap())),
            "duplicate {line}"
        );
    }
    assert_eq!(
        seen.len() as u64,
        THREADS * PER_THREAD,
        "every line arrived exactly once"
    );
    assert!(
        started.elapsed() < Duration::from_secs(30),
        "no deadlock: {:?}",
        started.elapsed()
    );
}

#[tracing::instrument(skip_all, fields(request_id = %id, session_id = "outer", agent_id = "a-outer"))]
fn handle_request(id: &str) {
    let task = tracing::info_span!(
        "task",
        task_id = 7,
        session_id = "inner",
        line = "span line",
        level = 3,
        user_id = "u-inner"
    );
    task.in_scope(|| {
        tracing::info!(marker = "spans", "nested");
        tracing::info!(
            marker = "spans",
            session_id = "event",
            line = "event line",
            "own fields win"
        );
    });
    tracing::info!(marker = "spans", "outer only");
}

#[test]
fn span_fields_are_at_the_top_level_innermost_first() {
    install();
    handle_request("r-1");
    let lines = raw_lines_with("spans");
    let find = |message: &str| {
        lines
            .iter()
            .find(|(_, l)| l["message"] == message)
            .unwrap_or_else(|| panic!("no line {message:?}: {lines:?}"))
    };

    let (keys, nested) = find("nested");
    assert_eq!(
        keys,
        &[
            "timestamp",
            "level",
            "logger",
            "message",
            "module",
            "function",
            "line",
            "agent_id",
            "user_id",
            // Inside a span: its W3C ids.
            "trace_id",
            "span_id",
            // The event's own fields, then the innermost span's, then the outer span's that are
            // not already there.
            "marker",
            "task_id",
            "session_id",
            "fields.line",
            "fields.level",
            "request_id",
        ]
    );
    assert_eq!(nested["request_id"], "r-1");
    assert_eq!(nested["session_id"], "inner", "the innermost span wins");
    assert_eq!(nested["task_id"], 7);
    assert_eq!(nested["fields.line"], "span line");
    assert_eq!(nested["fields.level"], 3);
    assert_eq!(nested["level"], "INFO");
    assert_eq!(nested["agent_id"], "a-outer");
    assert_eq!(nested["user_id"], "u-inner");
    assert_eq!(nested["function"], "task");

    let (_, own) = find("own fields win");
    assert_eq!(own["session_id"], "event");
    assert_eq!(own["fields.line"], "event line");
    assert_eq!(own["task_id"], 7);
    assert_eq!(own["request_id"], "r-1");

    let (_, outer) = find("outer only");
    assert_eq!(outer["session_id"], "outer");
    assert_eq!(outer["request_id"], "r-1");
    assert!(outer.get("task_id").is_none(), "{outer}");
    assert_eq!(outer["function"], "handle_request");
}

#[test]
fn span_fields_recorded_later_replace_their_value() {
    install();
    let span = tracing::info_span!("job", task_id = tracing::field::Empty, step = 1);
    let _entered = span.enter();
    tracing::info!(marker = "recorded", "before");
    span.record("task_id", 9);
    tracing::info!(marker = "recorded", "after");
    span.record("task_id", "ten");
    span.record("step", 2);
    tracing::info!(marker = "recorded", "again");
    let lines = lines_with("recorded");
    assert_eq!(lines.len(), 3);
    assert!(lines[0].get("task_id").is_none(), "{}", lines[0]);
    assert_eq!(lines[0]["step"], 1);
    assert_eq!(lines[1]["task_id"], 9);
    assert_eq!(lines[2]["task_id"], "ten");
    assert_eq!(lines[2]["step"], 2);
}

#[test]
fn lines_inside_a_span_carry_w3c_trace_and_span_ids() {
    install();
    let hex = |v: &Value, len: usize| {
        let s = v.as_str().unwrap_or_else(|| panic!("not a string: {v}"));
        assert!(
            s.len() == len
                && s.bytes()
                    .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase()),
            "{s}"
        );
        s.to_owned()
    };
    tracing::info!(marker = "trace-outside", "no span");
    {
        let request = tracing::info_span!("request", request_id = "r1");
        let _r = request.enter();
        tracing::info!(
            marker = "trace-outer",
            trace_id = "the host's own",
            "in the request"
        );
        let query = tracing::info_span!("query");
        let _q = query.enter();
        tracing::info!(marker = "trace-inner", "in the query");
    }
    {
        // An incoming request that carries its caller's trace.
        let traceparent = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
        let joined = tracing::info_span!("handler", traceparent);
        let _j = joined.enter();
        tracing::info!(marker = "trace-joined", "joined the caller's trace");
        // Recorded after the span began: the span joins from then on.
        let late = tracing::info_span!("late", traceparent = tracing::field::Empty);
        let _l = late.enter();
        late.record(
            "traceparent",
            "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
        );
        tracing::info!(marker = "trace-late", "recorded later");
    }
    let outside = &lines_with("trace-outside")[0];
    assert!(outside.get("trace_id").is_none() && outside.get("span_id").is_none());
    let outer = &lines_with("trace-outer")[0];
    let inner = &lines_with("trace-inner")[0];
    let trace = hex(&outer["trace_id"], 32);
    assert_eq!(
        hex(&inner["trace_id"], 32),
        trace,
        "one trace for the request"
    );
    assert_ne!(hex(&outer["span_id"], 16), hex(&inner["span_id"], 16));
    assert_eq!(
        outer["fields.trace_id"], "the host's own",
        "a host field is kept, renamed"
    );
    let joined = &lines_with("trace-joined")[0];
    assert_eq!(joined["trace_id"], "4bf92f3577b34da6a3ce929d0e0e4736");
    assert_ne!(joined["span_id"], "00f067aa0ba902b7", "a span of its own");
    assert_eq!(
        lines_with("trace-late")[0]["trace_id"],
        "0af7651916cd43dd8448eb211c80319c"
    );
    // The keys follow the line's own keys, before the event's fields.
    let (keys, _) = &raw_lines_with("trace-inner")[0];
    let at = |k: &str| keys.iter().position(|x| x == k).unwrap();
    assert!(
        at("line") < at("trace_id") && at("span_id") < at("marker"),
        "{keys:?}"
    );
}
