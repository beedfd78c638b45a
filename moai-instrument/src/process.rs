//! Standard `process_*` metrics, read at scrape time from the kernel (Linux `/proc`; elsewhere
//! only what `getrusage` and `getrlimit` give). `process_cpu_seconds_total` comes from
//! `getrusage` in microseconds: fractional, unlike collectors that round to whole seconds, so
//! `rate()` over a few minutes is meaningful for the CPU alert.

use metrics::{GaugeFn, Key};

use crate::catalog::{
    MEMORY_LIMIT_BYTES, MetricSpec, PROCESS_CPU_SECONDS_TOTAL, PROCESS_MAX_FDS, PROCESS_OPEN_FDS,
    PROCESS_RESIDENT_MEMORY_BYTES, PROCESS_START_TIME_SECONDS, PROCESS_THREADS,
    PROCESS_VIRTUAL_MEMORY_BYTES,
};
use crate::recorder::Registry;

/// One reading of the process.
#[derive(Debug, Default, Clone, PartialEq)]
pub(crate) struct ProcessReading {
    pub(crate) cpu_seconds: Option<f64>,
    pub(crate) resident_bytes: Option<f64>,
    pub(crate) virtual_bytes: Option<f64>,
    pub(crate) open_fds: Option<f64>,
    pub(crate) max_fds: Option<f64>,
    pub(crate) start_time_seconds: Option<f64>,
    pub(crate) threads: Option<f64>,
    /// The cgroup memory limit, else the host's memory (the `memory` health check's total).
    pub(crate) memory_limit_bytes: Option<f64>,
}

static START_TIME_SECONDS: std::sync::OnceLock<Option<f64>> = std::sync::OnceLock::new();

pub(crate) fn read() -> ProcessReading {
    let (virtual_bytes, resident_bytes) = statm().unzip();
    let (threads, start_ticks) = stat().unzip();
    ProcessReading {
        cpu_seconds: cpu_seconds(),
        resident_bytes,
        virtual_bytes,
        open_fds: std::fs::read_dir("/proc/self/fd")
            .ok()
            .map(|d| d.count().saturating_sub(1) as f64),
        max_fds: max_fds(),
        // The start time never changes: `/proc/stat` is read for it once, not at every scrape.
        start_time_seconds: *START_TIME_SECONDS.get_or_init(|| {
            start_ticks.and_then(|ticks| Some(boot_time()? + ticks / clock_ticks()?))
        }),
        threads,
        memory_limit_bytes: memory_limit(),
    }
}

/// The same total the `memory` health check judges against, so the alert and the check agree.
fn memory_limit() -> Option<f64> {
    crate::health::memory_usage().map(|usage| usage.total as f64)
}

/// Sets the `process_*` series from a fresh reading.
pub(crate) fn collect(registry: &Registry) {
    let reading = read();
    if let Some(cpu) = reading.cpu_seconds
        && let Some(counter) =
            registry.float_counter(&Key::from_static_name(PROCESS_CPU_SECONDS_TOTAL.name))
    {
        counter.set(cpu);
    }
    let gauges: [(MetricSpec, Option<f64>); 7] = [
        (MEMORY_LIMIT_BYTES, reading.memory_limit_bytes),
        (PROCESS_RESIDENT_MEMORY_BYTES, reading.resident_bytes),
        (PROCESS_VIRTUAL_MEMORY_BYTES, reading.virtual_bytes),
        (PROCESS_OPEN_FDS, reading.open_fds),
        (PROCESS_MAX_FDS, reading.max_fds),
        (PROCESS_START_TIME_SECONDS, reading.start_time_seconds),
        (PROCESS_THREADS, reading.threads),
    ];
    for (spec, value) in gauges {
        if let (Some(value), Some(gauge)) =
            (value, registry.gauge(&Key::from_static_name(spec.name)))
        {
            gauge.set(value);
        }
    }
}

fn cpu_seconds() -> Option<f64> {
    // SAFETY: `getrusage` writes only into the zeroed struct we pass, which it fully owns.
    let usage = unsafe {
        let mut usage: libc::rusage = std::mem::zeroed();
        (libc::getrusage(libc::RUSAGE_SELF, &mut usage) == 0).then_some(usage)
    }?;
    let seconds = |tv: libc::timeval| tv.tv_sec as f64 + tv.tv_usec as f64 / 1e6;
    Some(seconds(usage.ru_utime) + seconds(usage.ru_stime))
}

fn max_fds() -> Option<f64> {
    // SAFETY: `getrlimit` writes only into the zeroed struct we pass.
    let limit = unsafe {
        let mut limit: libc::rlimit = std::mem::zeroed();
        (libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) == 0).then_some(limit)
    }?;
    Some(limit.rlim_cur as f64)
}

fn page_size() -> Option<f64> {
    // SAFETY: `sysconf` has no memory effects.
    let size = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
    (size > 0).then_some(size as f64)
}

fn clock_ticks() -> Option<f64> {
    // SAFETY: `sysconf` has no memory effects.
    let ticks = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    (ticks > 0).then_some(ticks as f64)
}

/// `(virtual, resident)` bytes from `/proc/self/statm`.
fn statm() -> Option<(f64, f64)> {
    let statm = std::fs::read_to_string("/proc/self/statm").ok()?;
    let mut fields = statm.split_whitespace().map(|f| f.parse::<f64>().ok());
    let page = page_size()?;
    Some((fields.next()?? * page, fields.next()?? * page))
}

/// `(threads, start time in ticks after boot)` from `/proc/self/stat`.
fn stat() -> Option<(f64, f64)> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    // The command name may hold spaces and parentheses: fields start after the last `)`.
    let rest = &stat[stat.rfind(')')? + 2..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // `rest` starts at field 3 (state): field N is at index N - 3.
    Some((
        fields.get(20 - 3)?.parse().ok()?,
        fields.get(22 - 3)?.parse().ok()?,
    ))
}

fn boot_time() -> Option<f64> {
    let stat = std::fs::read_to_string("/proc/stat").ok()?;
    stat.lines()
        .find_map(|l| l.strip_prefix("btime "))?
        .trim()
        .parse()
        .ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cpu_time_is_fractional_and_grows_with_work() {
        let before = read().cpu_seconds.unwrap();
        let started = std::time::Instant::now();
        let mut x = 0u64;
        while started.elapsed() < std::time::Duration::from_millis(120) {
            x = std::hint::black_box(x.wrapping_mul(31).wrapping_add(7));
        }
        let after = read().cpu_seconds.unwrap();
        assert!(after - before >= 0.05, "{before} -> {after}");
        assert!(
            after.fract() != 0.0 || before.fract() != 0.0,
            "not truncated to whole seconds"
        );
    }

    #[test]
    fn linux_readings_are_plausible() {
        let reading = read();
        let rss = reading.resident_bytes.unwrap();
        assert!(rss > 1e5 && rss < 1e10, "{rss}");
        assert!(reading.virtual_bytes.unwrap() >= rss);
        assert!(reading.open_fds.unwrap() >= 3.0);
        assert!(reading.max_fds.unwrap() >= reading.open_fds.unwrap());
        assert!(reading.threads.unwrap() >= 1.0);
        assert!(reading.memory_limit_bytes.unwrap() >= rss);
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs_f64();
        let start = reading.start_time_seconds.unwrap();
        assert!(
            start <= now + 1.0 && start > now - 3600.0,
            "{start} vs {now}"
        );
    }
}
