//! The embedded exporter over real HTTP: endpoints, the bearer token, hostile clients, scrape
//! load, probes under a scrape flood, a tokio runtime, and `Routes` served from a host's own router.
//!
//! One test binary for the concern; tests that install the recorder or subscriber with settings
//! of their own run in a process of their own (`moai_test_support::own_process`).

mod hostile_clients;
mod init_auth;
mod init_exporter;
mod init_in_tokio;
mod keep_alive;
mod landing_page;
mod probe_flood;
mod scrape_load;
mod web_config;
