//! Standard `process_*` metrics, read at scrape time from the kernel (Linux `/proc`; elsewhere
//! only what `getrusage` and `getrlimit` give). `process_cpu_seconds_total` comes from
//! `getrusage` in microseconds: fractional, unlike collectors that round to whole seconds, so
//! `rate()` over a few minutes is meaningful for the CPU alert.

use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

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

/// How long a memory limit reading is served before it is read again: the limit moves only when
/// the container is resized, and reading it walks the cgroup tree (a dozen small files).
const MEMORY_LIMIT_REFRESH: Duration = Duration::from_secs(5);

/// A fresh reading, but for the memory limit (at most [`MEMORY_LIMIT_REFRESH`] old). Costs a few
/// system calls: `/proc/self/stat` read once into a stack buffer, a `stat` of `/proc/self/fd`,
/// `getrusage` and `getrlimit`.
pub(crate) fn read() -> ProcessReading {
    let stat = stat();
    let page = page_size();
    ProcessReading {
        cpu_seconds: cpu_seconds(),
        resident_bytes: stat.as_ref().and_then(|s| Some(s.resident_pages * page?)),
        virtual_bytes: stat.as_ref().map(|s| s.virtual_bytes),
        open_fds: open_fds(),
        max_fds: max_fds(),
        // The start time never changes: `/proc/stat` is read for it once, not at every scrape.
        start_time_seconds: *START_TIME_SECONDS.get_or_init(|| {
            let ticks = stat.as_ref()?.start_ticks;
            Some(boot_time()? + ticks / clock_ticks()?)
        }),
        threads: stat.as_ref().map(|s| s.threads),
        memory_limit_bytes: memory_limit(Instant::now()),
    }
}

/// The same total the `memory` health check judges against, so the alert and the check agree;
/// read again once the last reading is [`MEMORY_LIMIT_REFRESH`] old.
fn memory_limit(now: Instant) -> Option<f64> {
    static LAST: Mutex<Option<(Instant, Option<f64>)>> = Mutex::new(None);
    let mut last = LAST.lock().unwrap_or_else(PoisonError::into_inner);
    match *last {
        Some((at, limit)) if now.saturating_duration_since(at) < MEMORY_LIMIT_REFRESH => limit,
        _ => {
            let limit = crate::health::memory_limit().map(|bytes| bytes as f64);
            *last = Some((now, limit));
            limit
        }
    }
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

/// The fields of `/proc/self/stat` the metrics use.
struct Stat {
    threads: f64,
    /// Ticks after boot.
    start_ticks: f64,
    virtual_bytes: f64,
    resident_pages: f64,
}

/// `/proc/self/stat`, read with one `read` into a stack buffer (the line is a few hundred bytes;
/// `fs::read_to_string` would add a `statx` and a second `read`).
fn stat() -> Option<Stat> {
    let mut buffer = [0u8; 2048];
    let mut file = std::fs::File::open("/proc/self/stat").ok()?;
    let read = std::io::Read::read(&mut file, &mut buffer).ok()?;
    let stat = std::str::from_utf8(&buffer[..read]).ok()?;
    // The command name may hold spaces and parentheses: fields start after the last `)`.
    let rest = &stat[stat.rfind(')')? + 2..];
    // `rest` starts at field 3 (state): field N is the (N - 3)th.
    let mut fields = rest.split_ascii_whitespace().skip(20 - 3);
    let threads = fields.next()?.parse().ok()?;
    let start_ticks = fields.nth(1)?.parse().ok()?;
    let virtual_bytes = fields.next()?.parse().ok()?;
    let resident_pages = fields.next()?.parse().ok()?;
    Some(Stat {
        threads,
        start_ticks,
        virtual_bytes,
        resident_pages,
    })
}

/// Open file descriptors: Linux (6.2 and later) gives their number as the size of
/// `/proc/self/fd`, one `stat`; older kernels say 0 there, and the directory is counted.
fn open_fds() -> Option<f64> {
    let size = std::fs::metadata("/proc/self/fd").ok()?.len();
    if size > 0 {
        return Some(size as f64);
    }
    let entries = std::fs::read_dir("/proc/self/fd").ok()?.count();
    // The directory handle of the count itself is one of them.
    Some(entries.saturating_sub(1) as f64)
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
    fn open_descriptors_are_counted_exactly() {
        // Other tests of this binary open files too: retried until a quiet moment.
        for _ in 0..50 {
            let before = open_fds().unwrap();
            let files: Vec<std::fs::File> = (0..3)
                .map(|_| std::fs::File::open("/proc/self/stat").unwrap())
                .collect();
            let during = open_fds().unwrap();
            drop(files);
            let listed = std::fs::read_dir("/proc/self/fd").unwrap().count() as f64 - 1.0;
            let after = open_fds().unwrap();
            if during == before + 3.0 && after == before && (listed - after).abs() < 1.0 {
                return;
            }
        }
        panic!("open_fds never matched the files opened and the directory's count");
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
