//! The exposition: host metric names and label values, the series limit, `promtool`, bucket
//! mode, and a real Prometheus scraping awkward names.
//!
//! One test binary for the concern; tests that install the recorder or subscriber with settings
//! of their own run in a process of their own (`moai_test_support::own_process`).

mod buckets;
mod cardinality;
mod edges;
mod exemplars;
mod formats;
mod golden;
mod host_names;
mod label_values;
mod native_histograms;
mod prometheus_host_names;
mod promtool;
mod protobuf;
