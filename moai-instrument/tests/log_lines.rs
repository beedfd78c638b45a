//! Log lines under stress: any field content gives exactly one valid JSON object per line, and a
//! flood of lines from many threads into a slow writer neither deadlocks nor loses a line (the
//! writer applies back-pressure).

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
        let subscriber = moai_instrument::__private::json_subscriber(|line| {
            // A slow sink: every line costs 20 µs, as a congested disk or pipe would.
            let until = Instant::now() + Duration::from_micros(20);
            while Instant::now() < until {}
            LINES.lock().unwrap().push(line.to_vec());
        });
        tracing::subscriber::set_global_default(subscriber).unwrap();
    });
}

fn lines_with(marker: &str) -> Vec<Value> {
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
            serde_json::from_str::<Value>(text)
                .unwrap_or_else(|e| panic!("invalid JSON {text:?}: {e}"))
        })
        .filter(|line| line["marker"] == marker)
        .collect()
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
