//! The `moai-health` binary: probes against a database, and `--url` against a running app (in a
//! process of its own, `moai_test_support::own_process`).

mod moai_health_cli;
mod moai_health_url;
