//! Health: the periodic check round, the `progress` liveness check, and the recent p95 that
//! `query_performance` judges.
//!
//! One test binary for the concern; tests that install the recorder or subscriber with settings
//! of their own run in a process of their own (`moai_test_support::own_process`).

mod progress;
mod query_window;
