//! `init()` and `Config::build()`: misconfiguration errors that leave nothing behind, and the
//! building blocks in a host's own subscriber and router.
//!
//! One test binary for the concern; tests that install the recorder or subscriber with settings
//! of their own run in a process of their own (`moai_test_support::own_process`).

mod building_blocks;
mod init_errors;
