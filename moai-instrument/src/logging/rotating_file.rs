//! The log file, rotated daily in-process with a fixed number of old files kept: the guide's
//! logrotate policy (`daily`, `rotate 7`) without an external tool.
//!
//! - **Day boundary**: `moai-flow.log` is the current local day (the process's time zone, UTC
//!   where none is set, as logrotate and Python's `TimedRotatingFileHandler` count days). At the
//!   first line after a day boundary it is renamed `moai-flow.log.YYYY-MM-DD` (the day it
//!   covers) and a new one is started.
//! - **Real elapsed time**: the next boundary is scheduled on the monotonic clock when a file is
//!   opened, so a wall clock that steps forward (a VM restored from a snapshot, an NTP mistake)
//!   neither rotates early nor repeatedly, and one that steps back does not postpone the
//!   rotation past the real boundary. A step of the wall clock is reported once.
//! - **Retention** touches only files rotation makes: plain files named exactly
//!   `moai-flow.log.YYYY-MM-DD` or `moai-flow.log.YYYY-MM-DD.N`; beyond the newest `keep` they are
//!   deleted, at start-up too. Anything else is left alone and reported once; a file that cannot
//!   be pruned never stops start-up.
//! - **A file that cannot silently vanish**: every [`CHECK_EVERY`] (the writer's lines, and a
//!   watcher thread when no line comes) the path is compared with the open file. A file deleted
//!   or replaced, or its whole directory removed, is recreated (directory included), and the
//!   lines written since the last check, which went to the unlinked file, are written again into
//!   the new one: nothing is lost. A rename (logrotate, `MOAI_LOG_ROTATION=external`) is
//!   followed as Python's `WatchedFileHandler` does: the lines meanwhile are in the renamed file,
//!   which still exists. (With logrotate's `compress`, keep `delaycompress`, as the shipped
//!   config does: a renamed file compressed and removed within one check would have its last
//!   lines written again.)
//! - **Whole lines**: each line is written while a lock is held, so lines from many threads
//!   never interleave, and whole or not at all: a write the disk cuts short is truncated away, so
//!   a full disk costs whole lines (counted by the caller), never a torn one.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError, Weak};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use crate::timestamp::date;

/// How often the path is compared with the open file (and a wall-clock step looked for).
pub(crate) const CHECK_EVERY: Duration = Duration::from_millis(200);

/// Bytes of lines kept for a rewrite after the file vanished; lines past this between two checks
/// are not kept, and counted as lost if the file turns out gone.
const REWRITE_LIMIT: usize = 8 * 1024 * 1024;

/// A wall-clock step at least this large is reported.
const CLOCK_STEP: Duration = Duration::from_secs(60);

/// The clocks the file reads: the wall clock names days, the monotonic one measures time.
pub(crate) trait Clock: Send + Sync + 'static {
    /// Now, on the wall clock.
    fn wall(&self) -> SystemTime;
    /// Now, on a clock that never steps (time since a fixed start).
    fn monotonic(&self) -> Duration;
    /// Seconds east of UTC of the local time zone at `time` (`tm_gmtoff`).
    fn utc_offset(&self, time: SystemTime) -> i64;
}

/// The process's clocks and the C library's time zone (`TZ`, else `/etc/localtime`).
pub(crate) struct SystemClock {
    start: Instant,
}

impl SystemClock {
    pub(crate) fn new() -> Self {
        SystemClock {
            start: Instant::now(),
        }
    }
}

impl Clock for SystemClock {
    fn wall(&self) -> SystemTime {
        SystemTime::now()
    }

    fn monotonic(&self) -> Duration {
        self.start.elapsed()
    }

    fn utc_offset(&self, time: SystemTime) -> i64 {
        let secs: libc::time_t = unix_seconds(time);
        // SAFETY: `tm` is plain data that `localtime_r` fills in; both pointers are valid for the
        // call, and `localtime_r` keeps no shared buffer.
        let tm = unsafe {
            let mut tm: libc::tm = std::mem::zeroed();
            (!libc::localtime_r(&secs, &mut tm).is_null()).then_some(tm)
        };
        // `c_long`: `i64` here, `i32` on 32-bit targets.
        #[allow(clippy::useless_conversion)]
        tm.map_or(0, |tm| i64::from(tm.tm_gmtoff))
    }
}

fn unix_seconds(time: SystemTime) -> i64 {
    match time.duration_since(UNIX_EPOCH) {
        Ok(d) => d.as_secs() as i64,
        Err(e) => -(e.duration().as_secs_f64().ceil() as i64),
    }
}

/// The local day number (days since 1970-01-01 in the local time zone) of `time`.
fn local_day(clock: &dyn Clock, time: SystemTime) -> i64 {
    (unix_seconds(time) + clock.utc_offset(time)).div_euclid(86_400)
}

/// How long after `time` the next local midnight is (at least a second).
fn until_next_midnight(clock: &dyn Clock, time: SystemTime) -> Duration {
    let local = unix_seconds(time) + clock.utc_offset(time);
    let left = 86_400 - local.rem_euclid(86_400);
    // The offset at the boundary itself (a daylight-saving change that night moves it).
    let boundary = time + Duration::from_secs(left as u64);
    let shift = clock.utc_offset(time) - clock.utc_offset(boundary);
    Duration::from_secs((left + shift).clamp(1, 2 * 86_400) as u64)
}

/// Told how many lines were lost (see [`RotatingFile::on_lost`]).
type LostLines = Box<dyn Fn(u64) + Send>;

pub(crate) struct RotatingFile {
    path: PathBuf,
    /// Rotated files kept; `None` leaves rotation to an outside tool (logrotate).
    keep: Option<usize>,
    clock: Arc<dyn Clock>,
    state: Mutex<State>,
    /// Something the SDK reports once (a foreign file in the directory, a clock step) was seen.
    reported_foreign: AtomicBool,
    /// Told how many lines could not be written again after the file vanished.
    on_lost: Mutex<Option<LostLines>>,
}

struct State {
    file: File,
    /// The local day the open file covers (its rotated name).
    day: i64,
    /// When to rotate next, on the monotonic clock; `None` when an outside tool rotates.
    next_rotation: Option<Duration>,
    last_check: Duration,
    /// Lines written since the last check found the file in place.
    unchecked: Vec<u8>,
    /// Lines dropped from `unchecked` because it was full: lost if the file turns out gone.
    unchecked_overflow: u64,
    /// Wall minus monotonic time at the last check, to see the wall clock step.
    wall_offset: f64,
}

impl RotatingFile {
    /// Opens (creating the directory and the file) `path`, rotating first if it was last written
    /// on an earlier day.
    pub(crate) fn open(
        path: &Path,
        keep: Option<usize>,
        clock: Arc<dyn Clock>,
    ) -> io::Result<Self> {
        let file = open_append(path)?;
        let now = clock.wall();
        let today = local_day(&*clock, now);
        let written = file
            .metadata()?
            .modified()
            .map(|t| local_day(&*clock, t))
            .unwrap_or(today);
        let mono = clock.monotonic();
        let log = RotatingFile {
            path: path.to_owned(),
            keep,
            state: Mutex::new(State {
                file,
                day: today,
                next_rotation: keep.map(|_| mono + until_next_midnight(&*clock, now)),
                last_check: mono,
                unchecked: Vec::new(),
                unchecked_overflow: 0,
                wall_offset: offset(&*clock),
            }),
            clock,
            reported_foreign: AtomicBool::new(false),
            on_lost: Mutex::new(None),
        };
        {
            let mut state = log.state.lock().unwrap_or_else(PoisonError::into_inner);
            if keep.is_some() && written < today && state.file.metadata()?.len() > 0 {
                state.day = written;
                log.rotate(&mut state)?;
            } else if keep.is_some() {
                log.prune();
            }
        }
        Ok(log)
    }

    pub(crate) fn path(&self) -> &Path {
        &self.path
    }

    /// Calls `lost` with the number of lines that could not be written again after the file or
    /// its directory vanished (more than [`REWRITE_LIMIT`] bytes between two checks).
    pub(crate) fn on_lost(&self, lost: impl Fn(u64) + Send + 'static) {
        *self.on_lost.lock().unwrap_or_else(PoisonError::into_inner) = Some(Box::new(lost));
    }

    pub(crate) fn write_line(&self, line: &[u8]) -> io::Result<()> {
        let mut state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        let now = self.clock.monotonic();
        if now.saturating_sub(state.last_check) >= CHECK_EVERY {
            self.check(&mut state)?;
        }
        if state.next_rotation.is_some_and(|at| now >= at) {
            self.rotate(&mut state)?;
        }
        write_whole(&mut state.file, line)?;
        if state.unchecked.len() + line.len() <= REWRITE_LIMIT {
            state.unchecked.extend_from_slice(line);
        } else {
            state.unchecked_overflow += 1;
        }
        Ok(())
    }

    pub(crate) fn flush(&self) -> io::Result<()> {
        let mut state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        state.file.flush()?;
        state.file.sync_data()
    }

    /// Compares the path with the open file now (the watcher's tick), recreating a vanished one.
    pub(crate) fn check_now(&self) -> io::Result<()> {
        let mut state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        self.check(&mut state)?;
        if state
            .next_rotation
            .is_some_and(|at| self.clock.monotonic() >= at)
        {
            self.rotate(&mut state)?;
        }
        Ok(())
    }

    /// Reopens the path when it no longer names the open file. A file that was deleted or
    /// replaced (the open one has no name left) gets the lines written since the last check
    /// again; a renamed one keeps them. Also reports a step of the wall clock, once per step.
    fn check(&self, state: &mut State) -> io::Result<()> {
        state.last_check = self.clock.monotonic();
        let wall_offset = offset(&*self.clock);
        if (wall_offset - state.wall_offset).abs() >= CLOCK_STEP.as_secs_f64() {
            report(&format!(
                "the wall clock stepped by {:+.0} s; log rotation keeps to real elapsed time",
                wall_offset - state.wall_offset
            ));
        }
        state.wall_offset = wall_offset;
        let open = state.file.metadata()?;
        let same = match fs::metadata(&self.path) {
            Ok(current) => current.dev() == open.dev() && current.ino() == open.ino(),
            Err(e) if e.kind() == io::ErrorKind::NotFound => false,
            Err(e) => return Err(e),
        };
        if same {
            state.unchecked.clear();
            state.unchecked_overflow = 0;
            return Ok(());
        }
        let vanished = open.nlink() == 0;
        state.file.flush()?;
        let mut file = open_append(&self.path)?;
        if vanished {
            report(&format!(
                "the log file {} was deleted or replaced; recreated it and wrote the last {} \
                 bytes again",
                self.path.display(),
                state.unchecked.len()
            ));
            write_whole(&mut file, &state.unchecked)?;
            if state.unchecked_overflow > 0
                && let Some(lost) = &*self.on_lost.lock().unwrap_or_else(PoisonError::into_inner)
            {
                lost(state.unchecked_overflow);
            }
        }
        state.file = file;
        state.unchecked.clear();
        state.unchecked_overflow = 0;
        Ok(())
    }

    fn rotate(&self, state: &mut State) -> io::Result<()> {
        let now = self.clock.wall();
        let rotated = self.free_rotated_name(state.day);
        state.file.flush()?;
        fs::rename(&self.path, &rotated)?;
        state.file = open_append(&self.path)?;
        state.unchecked.clear();
        state.unchecked_overflow = 0;
        // The new file covers the next day, whatever a stepped wall clock says now (a wall clock
        // days ahead does not name it).
        let shown = local_day(&*self.clock, now);
        state.day = if shown > state.day + 1 && shown - state.day <= 2 {
            shown
        } else {
            state.day + 1
        };
        // The next boundary is the first wall-clock midnight at least 12 h away: a wall clock
        // behind (or ahead) by less than that at this real boundary still schedules the next one
        // a day later, not a second rotation moments from now.
        let mut left = until_next_midnight(&*self.clock, now);
        if left < Duration::from_secs(12 * 3_600) {
            left += Duration::from_secs(86_400);
        }
        state.next_rotation = Some(self.clock.monotonic() + left);
        self.prune();
        Ok(())
    }

    /// `moai-flow.log.YYYY-MM-DD`, or `.YYYY-MM-DD.N` if that name is taken (a clock stepped back).
    fn free_rotated_name(&self, day: i64) -> PathBuf {
        let base = format!("{}.{}", self.file_name(), date(day));
        let mut candidate = self.path.with_file_name(&base);
        let mut n = 1;
        while fs::symlink_metadata(&candidate).is_ok() {
            candidate = self.path.with_file_name(format!("{base}.{n}"));
            n += 1;
        }
        candidate
    }

    fn file_name(&self) -> String {
        self.path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default()
    }

    /// Deletes rotated files beyond the newest `keep`: only plain files named as rotation names
    /// them. Anything else is reported once and left alone; a failure is reported, never fatal.
    fn prune(&self) {
        let dir = match self.path.parent() {
            Some(d) if !d.as_os_str().is_empty() => d.to_owned(),
            _ => PathBuf::from("."),
        };
        let Ok(entries) = fs::read_dir(&dir) else {
            return;
        };
        let prefix = format!("{}.", self.file_name());
        let mut rotated: Vec<(String, PathBuf)> = Vec::new();
        let mut foreign: Vec<String> = Vec::new();
        for entry in entries.flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            let Some(suffix) = name.strip_prefix(&prefix) else {
                continue;
            };
            let plain = entry.file_type().is_ok_and(|t| t.is_file());
            match rotation_key(suffix) {
                Some(key) if plain => rotated.push((key, entry.path())),
                _ => foreign.push(name),
            }
        }
        if !foreign.is_empty() && !self.reported_foreign.swap(true, Ordering::Relaxed) {
            report(&format!(
                "left alone in {}: {} (not a file log rotation made)",
                dir.display(),
                foreign.join(", ")
            ));
        }
        rotated.sort();
        let excess = rotated
            .len()
            .saturating_sub(self.keep.unwrap_or(usize::MAX));
        for (_, old) in &rotated[..excess] {
            if let Err(error) = fs::remove_file(old) {
                report(&format!("cannot prune {}: {error}", old.display()));
            }
        }
    }
}

/// The sort key of a rotated file's suffix `YYYY-MM-DD` or `YYYY-MM-DD.N` (`N` a number), `None`
/// for any other name: `YYYY-MM-DD` then `N` zero-padded, so the order is by day, then by
/// rotation on that day.
fn rotation_key(suffix: &str) -> Option<String> {
    let (day, n) = match suffix.split_once('.') {
        Some((day, n)) => (day, Some(n)),
        None => (suffix, None),
    };
    let b = day.as_bytes();
    let is_date = b.len() == 10
        && b[4] == b'-'
        && b[7] == b'-'
        && b.iter()
            .enumerate()
            .all(|(i, c)| i == 4 || i == 7 || c.is_ascii_digit());
    if !is_date {
        return None;
    }
    match n {
        None => Some(format!("{day}.{:020}", 0)),
        Some(n) if !n.is_empty() && n.bytes().all(|c| c.is_ascii_digit()) && n.len() <= 19 => {
            Some(format!("{day}.{n:0>20}"))
        }
        Some(_) => None,
    }
}

/// Wall minus monotonic time, in seconds: constant while neither clock steps.
fn offset(clock: &dyn Clock) -> f64 {
    let wall = clock
        .wall()
        .duration_since(UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64());
    wall - clock.monotonic().as_secs_f64()
}

/// One JSON line on stderr about the log file itself (the log cannot carry news of its own
/// trouble).
fn report(message: &str) {
    let mut line =
        String::from("{\"level\":\"WARNING\",\"logger\":\"moai_instrument::logging\",\"message\":");
    super::fields::push_json_string(&mut line, message);
    line.push_str("}\n");
    let _ = io::stderr().write_all(line.as_bytes());
}

/// Checks the file every [`CHECK_EVERY`] while it exists, so a vanished file or directory is
/// recreated within a second even when no line is written. Holds a weak reference: it ends by
/// itself once the file is dropped.
pub(crate) fn watch(file: &Arc<RotatingFile>) -> io::Result<()> {
    let weak: Weak<RotatingFile> = Arc::downgrade(file);
    std::thread::Builder::new()
        .name("moai-log-watch".into())
        .spawn(move || {
            while let Some(file) = weak.upgrade() {
                // A failure here (the directory cannot be recreated) shows in the next write,
                // which the sink counts.
                let _ = file.check_now();
                drop(file);
                std::thread::sleep(CHECK_EVERY);
            }
        })
        .map(drop)
}

/// Writes all of `line` or none of it: a write cut short (the disk filled mid-line) is undone by
/// truncating the file back to where the line began, so the next line never continues a torn
/// one. Only this process appends to the file, so the length before the write is where the line
/// began.
fn write_whole(file: &mut File, line: &[u8]) -> io::Result<()> {
    let before = file.metadata()?.len();
    match file.write_all(line) {
        Ok(()) => Ok(()),
        Err(error) => {
            if file.metadata().is_ok_and(|m| m.len() > before) {
                // Freeing the torn bytes needs no new disk space.
                file.set_len(before)?;
            }
            Err(error)
        }
    }
}

/// Opens `path` for appending, creating it and its directory when missing.
fn open_append(path: &Path) -> io::Result<File> {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        fs::create_dir_all(dir)?;
    }
    OpenOptions::new().create(true).append(true).open(path)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicI64, AtomicU64};

    /// A clock the test moves: wall seconds, monotonic nanoseconds, and a UTC offset.
    struct FakeClock {
        wall: AtomicI64,
        mono: AtomicU64,
        offset: AtomicI64,
    }

    impl FakeClock {
        fn at(day: i64, hour: i64) -> Arc<FakeClock> {
            Arc::new(FakeClock {
                wall: AtomicI64::new(day * 86_400 + hour * 3_600),
                mono: AtomicU64::new(0),
                offset: AtomicI64::new(0),
            })
        }

        /// Real time passes: both clocks move.
        fn pass(&self, d: Duration) {
            self.wall.fetch_add(d.as_secs() as i64, Ordering::SeqCst);
            self.mono.fetch_add(d.as_nanos() as u64, Ordering::SeqCst);
        }

        /// Only the wall clock steps.
        fn step_wall(&self, secs: i64) {
            self.wall.fetch_add(secs, Ordering::SeqCst);
        }
    }

    impl Clock for FakeClock {
        fn wall(&self) -> SystemTime {
            UNIX_EPOCH + Duration::from_secs(self.wall.load(Ordering::SeqCst) as u64)
        }
        fn monotonic(&self) -> Duration {
            Duration::from_nanos(self.mono.load(Ordering::SeqCst))
        }
        fn utc_offset(&self, _: SystemTime) -> i64 {
            self.offset.load(Ordering::SeqCst)
        }
    }

    const DAY: Duration = Duration::from_secs(86_400);

    fn temp_dir(name: &str) -> PathBuf {
        let dir = moai_test_support::temp_dir(&format!("rotate-{name}"));
        let _ = fs::remove_dir_all(&dir);
        dir
    }

    fn names(dir: &Path) -> Vec<String> {
        let mut names: Vec<String> = fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        names
    }

    #[test]
    fn rotates_daily_and_keeps_seven_old_files_with_every_line_once() {
        let dir = temp_dir("daily");
        let path = dir.join("logs").join("moai-flow.log");
        // Files from an earlier run beyond retention are pruned too.
        fs::create_dir_all(path.parent().unwrap()).unwrap();
        for d in 0..3 {
            fs::write(
                dir.join("logs")
                    .join(format!("moai-flow.log.1999-01-0{}", d + 1)),
                "old\n",
            )
            .unwrap();
        }
        let clock = FakeClock::at(20_000, 1);
        let log = RotatingFile::open(&path, Some(7), clock.clone()).unwrap();
        let mut written = Vec::new();
        for day in 0..12u64 {
            if day > 0 {
                clock.pass(DAY);
            }
            for n in 0..3 {
                let line = format!("day {day} line {n}\n");
                log.write_line(line.as_bytes()).unwrap();
                written.push(line);
            }
        }
        log.flush().unwrap();
        let names = names(path.parent().unwrap());
        assert_eq!(names.len(), 8, "current + 7 rotated: {names:?}");
        assert_eq!(names[0], "moai-flow.log");
        assert_eq!(names[7], format!("moai-flow.log.{}", date(20_010)));
        // Every line of the kept days is present exactly once, in the file of its day.
        let kept: String = names
            .iter()
            .map(|n| fs::read_to_string(dir.join("logs").join(n)).unwrap())
            .collect();
        for line in &written[(12 - 8) * 3..] {
            assert_eq!(kept.matches(line.as_str()).count(), 1, "{line}");
        }
        let today = fs::read_to_string(&path).unwrap();
        assert_eq!(today, "day 11 line 0\nday 11 line 1\nday 11 line 2\n");
    }

    #[test]
    fn rotation_during_concurrent_writes_keeps_every_line_exactly_once() {
        let dir = temp_dir("concurrent");
        let path = dir.join("moai-flow.log");
        let clock = FakeClock::at(40_000, 0);
        let log = RotatingFile::open(&path, Some(30), clock.clone()).unwrap();
        std::thread::scope(|s| {
            for t in 0..4 {
                let log = &log;
                s.spawn(move || {
                    for n in 0..5_000 {
                        log.write_line(format!("{t} {n}\n").as_bytes()).unwrap();
                    }
                });
            }
            // Ten day changes while the writers run.
            for _ in 0..10 {
                std::thread::sleep(Duration::from_millis(2));
                clock.pass(DAY);
            }
        });
        let mut lines = std::collections::HashSet::new();
        let mut files = 0;
        for entry in fs::read_dir(&dir).unwrap() {
            files += 1;
            for line in fs::read_to_string(entry.unwrap().path()).unwrap().lines() {
                assert!(lines.insert(line.to_owned()), "{line} appears twice");
            }
        }
        assert_eq!(lines.len(), 4 * 5_000, "every line is in exactly one file");
        assert!(files > 1, "the writers saw rotations");
    }

    #[test]
    fn external_rotation_never_renames_or_prunes() {
        let dir = temp_dir("external");
        let path = dir.join("moai-flow.log");
        fs::create_dir_all(&dir).unwrap();
        fs::write(dir.join("moai-flow.log.1"), "logrotate's\n").unwrap();
        let clock = FakeClock::at(50_000, 0);
        let log = RotatingFile::open(&path, None, clock.clone()).unwrap();
        clock.pass(3 * DAY);
        log.write_line(b"a\n").unwrap();
        assert_eq!(fs::read_dir(&dir).unwrap().count(), 2);
        assert_eq!(fs::read_to_string(&path).unwrap(), "a\n");
    }

    #[test]
    fn external_rename_is_followed_without_losing_a_line() {
        let dir = temp_dir("rename");
        let path = dir.join("moai-flow.log");
        let clock = FakeClock::at(50_000, 0);
        let log = RotatingFile::open(&path, None, clock.clone()).unwrap();
        log.write_line(b"before\n").unwrap();
        fs::rename(&path, dir.join("moai-flow.log.1")).unwrap();
        // Until the next check, lines still reach the renamed file: nothing is lost.
        log.write_line(b"between\n").unwrap();
        clock.pass(CHECK_EVERY);
        log.write_line(b"after\n").unwrap();
        assert_eq!(
            fs::read_to_string(dir.join("moai-flow.log.1")).unwrap(),
            "before\nbetween\n"
        );
        assert_eq!(fs::read_to_string(&path).unwrap(), "after\n");
    }

    #[test]
    fn a_file_from_an_earlier_day_is_rotated_at_open() {
        let dir = temp_dir("reopen");
        let path = dir.join("moai-flow.log");
        fs::create_dir_all(&dir).unwrap();
        fs::write(&path, "yesterday\n").unwrap();
        // The file's mtime is today (real clock), far before day 40,000: it is rotated.
        let log = RotatingFile::open(&path, Some(7), FakeClock::at(40_000, 0)).unwrap();
        log.write_line(b"today\n").unwrap();
        assert_eq!(fs::read_to_string(&path).unwrap(), "today\n");
        assert_eq!(fs::read_dir(&dir).unwrap().count(), 2);
    }

    #[test]
    fn a_deleted_file_or_directory_is_recreated_with_every_line() {
        // Daily rotation by the SDK, and rotation left to logrotate (`external`) alike.
        for (delete_dir, keep) in [
            (false, Some(7)),
            (true, Some(7)),
            (false, None),
            (true, None),
        ] {
            let dir = temp_dir(&format!("vanish-{delete_dir}-{}", keep.is_some()));
            let logs = dir.join("logs");
            let path = logs.join("moai-flow.log");
            let clock = FakeClock::at(50_000, 0);
            let log = RotatingFile::open(&path, keep, clock.clone()).unwrap();
            log.write_line(b"1 before\n").unwrap();
            clock.pass(CHECK_EVERY);
            log.check_now().unwrap();
            if delete_dir {
                fs::remove_dir_all(&logs).unwrap();
            } else {
                fs::remove_file(&path).unwrap();
            }
            // These go to the unlinked file until the next check...
            log.write_line(b"2 during\n").unwrap();
            log.write_line(b"3 during\n").unwrap();
            clock.pass(CHECK_EVERY);
            // ... which recreates the file and writes them again.
            log.check_now().unwrap();
            log.write_line(b"4 after\n").unwrap();
            assert_eq!(
                fs::read_to_string(&path).unwrap(),
                "2 during\n3 during\n4 after\n",
                "delete_dir {delete_dir}, keep {keep:?}"
            );
        }
    }

    #[test]
    fn a_replaced_file_gets_the_lines_that_went_to_the_old_one() {
        let dir = temp_dir("replaced");
        let path = dir.join("moai-flow.log");
        let clock = FakeClock::at(50_000, 0);
        let log = RotatingFile::open(&path, Some(7), clock.clone()).unwrap();
        clock.pass(CHECK_EVERY);
        log.write_line(b"a\n").unwrap();
        let other = dir.join("other");
        fs::write(&other, "someone else's\n").unwrap();
        fs::rename(&other, &path).unwrap();
        log.write_line(b"b\n").unwrap();
        clock.pass(CHECK_EVERY);
        log.write_line(b"c\n").unwrap();
        assert_eq!(
            fs::read_to_string(&path).unwrap(),
            "someone else's\na\nb\nc\n",
            "the lines written since the last check are written again"
        );
    }

    #[test]
    fn only_files_rotation_made_are_pruned_and_foreign_ones_never_stop_start_up() {
        let dir = temp_dir("foreign");
        let path = dir.join("moai-flow.log");
        fs::create_dir_all(dir.join("moai-flow.log.0-archive")).unwrap();
        fs::create_dir_all(dir.join("moai-flow.log.2000-01-01")).unwrap();
        fs::write(dir.join("moai-flow.log.bak"), "keep me\n").unwrap();
        for d in 1..=9 {
            fs::write(dir.join(format!("moai-flow.log.2000-02-0{d}")), "old\n").unwrap();
        }
        let log = RotatingFile::open(&path, Some(3), FakeClock::at(50_000, 0)).unwrap();
        log.write_line(b"x\n").unwrap();
        let names = names(&dir);
        assert_eq!(
            names,
            [
                "moai-flow.log",
                "moai-flow.log.0-archive",
                "moai-flow.log.2000-01-01",
                "moai-flow.log.2000-02-07",
                "moai-flow.log.2000-02-08",
                "moai-flow.log.2000-02-09",
                "moai-flow.log.bak",
            ]
        );
    }

    #[test]
    fn the_day_is_the_local_day() {
        // Tokyo, UTC+9: the day ends at 15:00 UTC.
        let dir = temp_dir("tokyo");
        let path = dir.join("moai-flow.log");
        let clock = FakeClock::at(50_000, 14); // 23:00 in Tokyo
        clock.offset.store(9 * 3_600, Ordering::SeqCst);
        let log = RotatingFile::open(&path, Some(7), clock.clone()).unwrap();
        log.write_line(b"23:00\n").unwrap();
        clock.pass(Duration::from_secs(59 * 60));
        log.write_line(b"23:59\n").unwrap();
        assert_eq!(names(&dir), ["moai-flow.log"], "not yet midnight in Tokyo");
        clock.pass(Duration::from_secs(2 * 60));
        log.write_line(b"00:01\n").unwrap();
        assert_eq!(
            names(&dir),
            [
                "moai-flow.log".to_owned(),
                format!("moai-flow.log.{}", date(50_000))
            ]
        );
        assert_eq!(fs::read_to_string(&path).unwrap(), "00:01\n");
    }

    #[test]
    fn the_system_clock_reads_the_process_time_zone() {
        if !moai_test_support::own_process_with_env(&[("TZ", "Asia/Tokyo")]) {
            return;
        }
        let clock = SystemClock::new();
        assert_eq!(
            clock.utc_offset(SystemTime::now()),
            9 * 3_600,
            "Tokyo is UTC+9"
        );
        // 2026-12-07T15:00:00Z is midnight in Tokyo: the local day changes there, not at 00:00Z.
        let before = UNIX_EPOCH + Duration::from_secs(1_796_655_599);
        let after = before + Duration::from_secs(2);
        assert_eq!(local_day(&clock, after) - local_day(&clock, before), 1);
        assert_eq!(until_next_midnight(&clock, before), Duration::from_secs(1));
    }

    #[test]
    fn a_wall_clock_step_neither_rotates_early_nor_postpones_the_real_boundary() {
        let dir = temp_dir("clock-step");
        let path = dir.join("moai-flow.log");
        let clock = FakeClock::at(50_000, 12);
        let log = RotatingFile::open(&path, Some(7), clock.clone()).unwrap();
        log.write_line(b"noon\n").unwrap();
        // Forward 8 days for 20 s (an NTP mistake), then back.
        clock.step_wall(8 * 86_400);
        for _ in 0..100 {
            clock.pass(Duration::from_millis(200));
            log.write_line(b"stepped\n").unwrap();
        }
        clock.step_wall(-8 * 86_400);
        assert_eq!(
            names(&dir),
            ["moai-flow.log"],
            "no rotation for a step forward"
        );
        // A step back of an hour: the boundary stays at the real midnight.
        clock.step_wall(-3_600);
        clock.pass(Duration::from_secs(12 * 3_600 - 20));
        log.write_line(b"midnight\n").unwrap();
        assert_eq!(
            names(&dir),
            [
                "moai-flow.log".to_owned(),
                format!("moai-flow.log.{}", date(50_000))
            ],
            "rotated at the real boundary although the wall clock says 23:00"
        );
        // The wall clock still an hour behind: no second rotation at its midnight an hour later;
        // the next at that clock's next midnight, a day and an hour on.
        clock.pass(Duration::from_secs(2 * 3_600));
        log.write_line(b"two hours later\n").unwrap();
        assert_eq!(names(&dir).len(), 2, "one rotation for one real day");
        clock.pass(Duration::from_secs(23 * 3_600 + 60));
        log.write_line(b"next real midnight\n").unwrap();
        assert_eq!(
            names(&dir),
            [
                "moai-flow.log".to_owned(),
                format!("moai-flow.log.{}", date(50_000)),
                format!("moai-flow.log.{}", date(50_001)),
            ]
        );
    }

    #[test]
    fn rotation_keys_accept_exactly_the_names_rotation_makes() {
        assert!(rotation_key("2026-12-07").is_some());
        assert!(rotation_key("2026-12-07.3").is_some());
        assert!(rotation_key("2026-12-07.10") > rotation_key("2026-12-07.9"));
        for foreign in [
            "0-archive",
            "2026-12-7",
            "2026-12-07.",
            "2026-12-07.x",
            "bak",
            "1",
        ] {
            assert_eq!(rotation_key(foreign), None, "{foreign}");
        }
    }
}
