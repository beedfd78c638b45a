//! SwarmDB monitored by the SDK: zero wiring through the extension points, database faults,
//! the guide's `HealthChecker`, and health without pile-ups.
//!
//! One test binary for the concern; tests that install the recorder or subscriber with settings
//! of their own run in a process of their own (`moai_test_support::own_process`).

mod db_faults;
mod failed_sync;
mod health_checker;
mod health_pileup;
mod health_schedule;
mod locked_scrape;
mod zero_wiring;
