//! The attribute macros: every fn shape, exact values, the summary window, nothing before
//! installation, `testing::capture`, and expected errors (`ok_if`, `error_if`).
//!
//! One test binary for the concern; tests that install the recorder or subscriber with settings
//! of their own run in a process of their own (`moai_test_support::own_process`).

mod capture;
mod expected_errors;
mod not_installed;
mod shapes;
mod values;
mod window;
