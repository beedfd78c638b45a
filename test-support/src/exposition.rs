//! Reading the Prometheus text exposition back.

/// The value of one sample line, e.g. `moai_flow_events_total{event_type="spawn"}`; `None` when
/// the series is absent or its value is not a number.
pub fn sample(exposition: &str, series: &str) -> Option<f64> {
    exposition
        .lines()
        .filter(|l| !l.starts_with('#'))
        .find_map(|line| {
            let (name, value) = line.rsplit_once(' ')?;
            (name == series).then(|| value.parse().ok())?
        })
}
