//! A host's `Debug` or `Display` that fails (returns `fmt::Error`, tokio-rs/tracing#1965) never
//! panics the host's thread: the field, the message or the error chain gets a placeholder, and
//! the line is written. Property test over which of an event's values fail.

use std::error::Error;
use std::fmt;
use std::sync::{Arc, Mutex};

use moai_instrument::__test_support::json_subscriber;
use proptest::prelude::*;
use serde_json::Value;

const PLACEHOLDER: &str = "<unprintable: its formatting failed>";

/// A value whose formatting fails when `fails`, else prints `text`.
#[derive(Clone)]
struct Flaky {
    fails: bool,
    text: String,
}

impl fmt::Debug for Flaky {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.fails {
            return Err(fmt::Error);
        }
        write!(f, "{:?}", self.text)
    }
}

impl fmt::Display for Flaky {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.fails {
            // Writes part of the value first, as a real formatter failing midway does.
            f.write_str("partial")?;
            return Err(fmt::Error);
        }
        f.write_str(&self.text)
    }
}

/// An error whose `Display` may fail, with a cause whose `Display` may fail too.
#[derive(Debug)]
struct FlakyError {
    me: Flaky,
    cause: Option<Box<FlakyError>>,
}

impl fmt::Display for FlakyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.me, f)
    }
}

impl Error for FlakyError {
    fn source(&self) -> Option<&(dyn Error + 'static)> {
        self.cause.as_deref().map(|c| c as &(dyn Error + 'static))
    }
}

#[moai_instrument::timed_query(query_type = "unprintable_query")]
fn failing_query(error: FlakyError) -> Result<(), FlakyError> {
    Err(error)
}

fn flaky() -> impl Strategy<Value = Flaky> {
    (any::<bool>(), "[a-z]{0,12}").prop_map(|(fails, text)| Flaky { fails, text })
}

fn shown(value: &Flaky) -> String {
    if value.fails {
        PLACEHOLDER.to_owned()
    } else {
        value.text.clone()
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 128, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn failing_formatters_become_placeholders_never_panics(
        debugged in flaky(),
        displayed in flaky(),
        message in flaky(),
        outer in flaky(),
        inner in flaky(),
    ) {
        let lines: Arc<Mutex<Vec<String>>> = Arc::default();
        let sink = Arc::clone(&lines);
        let subscriber = json_subscriber(move |line| {
            sink.lock().unwrap().push(String::from_utf8_lossy(line).into_owned());
        });
        let error = FlakyError {
            me: outer.clone(),
            cause: Some(Box::new(FlakyError { me: inner.clone(), cause: None })),
        };
        let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            tracing::subscriber::with_default(subscriber, || {
                tracing::info!(value = ?debugged, shown = %displayed, "event {}", message);
                tracing::error!(error = &error as &dyn Error, "failed");
                // In a capture, so the query records (and logs its failure) with no recorder.
                let (_, snapshot) = moai_instrument::testing::capture(|| failing_query(error));
                assert_eq!(
                    snapshot.counter("moai_flow_errors_total", &[("operation", "unprintable_query")]),
                    Some(1)
                );
            });
        }));
        prop_assert!(outcome.is_ok(), "logging panicked the host's thread");
        let lines = lines.lock().unwrap();
        prop_assert_eq!(lines.len(), 3, "every event is one line: {:?}", lines);
        let parsed: Vec<Value> = lines.iter().map(|l| serde_json::from_str(l).unwrap()).collect();
        prop_assert_eq!(parsed[0]["value"].as_str().unwrap(), if debugged.fails {
            PLACEHOLDER.to_owned()
        } else {
            format!("{:?}", debugged.text)
        });
        prop_assert_eq!(parsed[0]["shown"].as_str().unwrap(), shown(&displayed));
        let expected_message = if message.fails {
            PLACEHOLDER.to_owned()
        } else {
            format!("event {}", message.text)
        };
        prop_assert_eq!(parsed[0]["message"].as_str().unwrap(), expected_message);
        // The error chain: each link placeholder or text (a cause equal to text already in the
        // chain is not repeated).
        let exception = parsed[1]["exception"].as_str().unwrap();
        prop_assert!(exception.starts_with(&shown(&outer)), "{}", exception);
        prop_assert!(exception.contains(&shown(&inner)), "{}", exception);
        prop_assert_eq!(parsed[2]["level"].as_str().unwrap(), "ERROR");
        prop_assert_eq!(parsed[2]["query_type"].as_str().unwrap(), "unprintable_query");
    }
}
