//! SwarmDB as a store: every operation on SQLite and PostgreSQL, MoAI-Flow compatibility, group
//! commit, and local time.
//!
//! One test binary for the concern; tests that install the recorder or subscriber with settings
//! of their own run in a process of their own (`moai_test_support::own_process`).

mod clock_steps;
mod swarmdb;
mod swarmdb_backends;
mod swarmdb_compat;
mod swarmdb_group_commit;
mod swarmdb_local_time;
