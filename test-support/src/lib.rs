//! Test helpers shared by the SDK's integration tests (`moai-instrument/tests`) and the
//! workspace's end-to-end tests (`tests/`): one copy of each, so both trees start servers, read
//! expositions and end child processes the same way. Not published.
//!
//! Helpers fail the test (panic) with a message that says what was wrong: tests are their only
//! callers.

pub mod browser;
pub mod exposition;
pub mod fixture;
pub mod heap;
pub mod http;
pub mod locked_db;
pub mod own_process;
pub mod postgres;
pub mod process;
pub mod prometheus;
pub mod proxy;
pub mod recorder;
pub mod registrations;
pub mod servers;
pub mod sinks;
pub mod tls;
pub mod tools;

pub use exposition::sample;
pub use http::{encode, get, http};
pub use locked_db::{LockedDatabase, stored_event_ids};
pub use own_process::{alone, child_test, own_process, own_process_with_env};
pub use process::{Reaped, ScratchDir, files_text, free_port, temp_dir, wait_for};
pub use recorder::{
    Switch, env_of, install_log_capture, log_lines, metrics, metrics_with, resident_mb,
    thread_count, value,
};
pub use tools::{promtool_check_metrics, promtool_lint, python_with_client, run_with_stdin, tool};
