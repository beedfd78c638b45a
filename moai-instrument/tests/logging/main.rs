//! Logging: the JSON line under stress, sink faults (a full disk, a stalled pipe), and a log
//! file that cannot take lines.
//!
//! One test binary for the concern; tests that install the recorder or subscriber with settings
//! of their own run in a process of their own (`moai_test_support::own_process`).

mod init_log_failure;
mod log_faults;
mod log_file_life;
mod log_lines;
mod unprintable;
