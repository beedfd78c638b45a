//! Health: the periodic check round and the `progress` liveness check.
//!
//! One test binary for the concern; tests that install the recorder or subscriber with settings
//! of their own run in a process of their own (`moai_test_support::own_process`).

mod progress;
