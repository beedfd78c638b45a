//! Expected errors: `ok_if` makes a result its fn names a success (no error count, no ERROR
//! line), `error_if` makes any result its fn names a failure, and nothing else.

use moai_instrument::testing::capture;
use moai_instrument::timed_query;

#[derive(Debug, PartialEq)]
enum LookupError {
    NotFound,
    Unavailable,
}

impl std::fmt::Display for LookupError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            LookupError::NotFound => "not found",
            LookupError::Unavailable => "unavailable",
        })
    }
}

impl std::error::Error for LookupError {}

fn is_not_found(result: &Result<u32, LookupError>) -> bool {
    matches!(result, Err(LookupError::NotFound))
}

#[timed_query(query_type = "expected_get", ok_if = is_not_found)]
fn get(id: u32) -> Result<u32, LookupError> {
    match id {
        0 => Err(LookupError::NotFound),
        1 => Err(LookupError::Unavailable),
        n => Ok(n),
    }
}

mod judges {
    /// Any path works, as with autometrics.
    #[allow(clippy::ptr_arg)] // the judge takes the fn's return type, `&Vec<u32>`
    pub(crate) fn is_empty(rows: &Vec<u32>) -> bool {
        rows.is_empty()
    }
}

#[timed_query(query_type = "expected_rows", error_if = judges::is_empty)]
fn rows(n: u32) -> Vec<u32> {
    (0..n).collect()
}

fn only_unavailable(result: &Result<u32, LookupError>) -> bool {
    matches!(result, Err(LookupError::Unavailable))
}

#[timed_query(query_type = "expected_strict", error_if = only_unavailable)]
fn strict(id: u32) -> Result<u32, LookupError> {
    get(id)
}

fn errors(snapshot: &moai_instrument::testing::Snapshot, operation: &str) -> Option<u64> {
    snapshot.counter("moai_flow_errors_total", &[("operation", operation)])
}

fn calls(snapshot: &moai_instrument::testing::Snapshot, query_type: &str) -> Option<u64> {
    snapshot.histogram_count(
        "moai_flow_query_duration_seconds",
        &[("query_type", query_type)],
    )
}

#[test]
fn ok_if_makes_an_expected_err_a_success() {
    let ((), snapshot) = capture(|| {
        for _ in 0..10 {
            assert_eq!(get(0), Err(LookupError::NotFound));
        }
        assert_eq!(get(1), Err(LookupError::Unavailable));
        assert_eq!(get(5), Ok(5));
    });
    assert_eq!(
        calls(&snapshot, "expected_get"),
        Some(12),
        "every call is timed"
    );
    assert_eq!(
        errors(&snapshot, "expected_get"),
        Some(1),
        "only the unexpected Err counts"
    );
}

#[test]
fn error_if_makes_any_result_it_names_a_failure_and_nothing_else() {
    let ((), snapshot) = capture(|| {
        assert!(rows(0).is_empty());
        assert_eq!(rows(3).len(), 3);
        // An `Err` the judge does not name is no failure; one it names is, with its error.
        let _ = strict(0);
        let _ = strict(1);
        let _ = strict(2);
    });
    assert_eq!(errors(&snapshot, "expected_rows"), Some(1));
    assert_eq!(calls(&snapshot, "expected_rows"), Some(2));
    assert_eq!(errors(&snapshot, "expected_strict"), Some(1));
    assert_eq!(calls(&snapshot, "expected_strict"), Some(3));
}

#[test]
fn expected_errors_log_no_error_line_and_judged_failures_say_so() {
    moai_test_support::metrics();
    let _ = get(0);
    let _ = rows(0);
    assert!(
        moai_test_support::log_lines("Failed to expected_get: not found").is_empty(),
        "no ERROR line for an expected error"
    );
    let judged = moai_test_support::log_lines("Failed to expected_rows");
    assert!(
        judged
            .iter()
            .any(|line| line.contains("judged a failure by judges::is_empty")),
        "{judged:?}"
    );
}
