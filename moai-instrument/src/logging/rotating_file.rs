//! The log file, rotated daily in-process with a fixed number of old files kept: the guide's
//! logrotate policy (`daily`, `rotate 7`) without an external tool.
//!
//! `moai-flow.log` is the current day; at the first line of a new UTC day it is renamed
//! `moai-flow.log.YYYY-MM-DD` (the day it covers) and a new one is started. After each rotation,
//! and at start-up, rotated files beyond the newest `keep` are deleted: retention holds even for
//! files left by earlier runs, which tracing-appender would only prune on its own rollovers.
//! Each line is written while a lock is held, so lines from many threads never interleave, and
//! whole or not at all: a write the disk cuts short is truncated away, so a full disk costs
//! whole lines (counted by the caller), never a torn one.
//!
//! With rotation left to an outside tool (logrotate renaming the file), the writer notices within
//! [`REOPEN_CHECK`] that its path names another file, and reopens it, as Python's
//! `WatchedFileHandler` does. Lines written meanwhile land in the renamed file: none is lost,
//! unlike logrotate's `copytruncate`, which drops what is written between its copy and truncate.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant, SystemTime};

/// How often, at most, an externally rotated file's path is checked for a rename.
pub(crate) const REOPEN_CHECK: Duration = Duration::from_millis(200);

use crate::timestamp::{date, day_number};

pub(crate) struct RotatingFile {
    path: PathBuf,
    /// Rotated files kept; `None` leaves rotation to an outside tool (logrotate).
    keep: Option<usize>,
    clock: fn() -> SystemTime,
    state: Mutex<State>,
}

struct State {
    file: File,
    day: i64,
    last_check: Instant,
}

impl RotatingFile {
    /// Opens (creating the directory and the file) `path`, rotating first if it was last written
    /// on an earlier day.
    pub(crate) fn open(
        path: &Path,
        keep: Option<usize>,
        clock: fn() -> SystemTime,
    ) -> io::Result<Self> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            fs::create_dir_all(dir)?;
        }
        let file = open_append(path)?;
        let today = day_number(clock());
        let written = file.metadata()?.modified().map(day_number).unwrap_or(today);
        let log = RotatingFile {
            path: path.to_owned(),
            keep,
            clock,
            state: Mutex::new(State {
                file,
                day: today,
                last_check: Instant::now(),
            }),
        };
        {
            let mut state = log.state.lock().unwrap_or_else(PoisonError::into_inner);
            if keep.is_some() && written < today && state.file.metadata()?.len() > 0 {
                state.day = written;
                log.rotate(&mut state, today)?;
            }
        }
        if keep.is_some() {
            log.prune()?;
        }
        Ok(log)
    }

    pub(crate) fn path(&self) -> &Path {
        &self.path
    }

    pub(crate) fn write_line(&self, line: &[u8]) -> io::Result<()> {
        let today = day_number((self.clock)());
        let mut state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        match self.keep {
            Some(_) if today > state.day => self.rotate(&mut state, today)?,
            Some(_) => {}
            None if state.last_check.elapsed() >= REOPEN_CHECK => {
                self.reopen_if_renamed(&mut state)?
            }
            None => {}
        }
        write_whole(&mut state.file, line)
    }

    pub(crate) fn flush(&self) -> io::Result<()> {
        let mut state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        state.file.flush()?;
        state.file.sync_data()
    }

    /// Reopens the path when it no longer names the open file (renamed or removed outside).
    fn reopen_if_renamed(&self, state: &mut State) -> io::Result<()> {
        state.last_check = Instant::now();
        let open = state.file.metadata()?;
        let same = match fs::metadata(&self.path) {
            Ok(current) => current.dev() == open.dev() && current.ino() == open.ino(),
            Err(e) if e.kind() == io::ErrorKind::NotFound => false,
            Err(e) => return Err(e),
        };
        if !same {
            state.file.flush()?;
            state.file = open_append(&self.path)?;
        }
        Ok(())
    }

    fn rotate(&self, state: &mut State, today: i64) -> io::Result<()> {
        let rotated = self.free_rotated_name(state.day);
        state.file.flush()?;
        fs::rename(&self.path, &rotated)?;
        state.file = open_append(&self.path)?;
        state.day = today;
        self.prune()
    }

    /// `moai-flow.log.YYYY-MM-DD`, or `.YYYY-MM-DD.N` if that name is taken (a clock stepped back).
    fn free_rotated_name(&self, day: i64) -> PathBuf {
        let base = format!("{}.{}", self.file_name(), date(day));
        let mut candidate = self.path.with_file_name(&base);
        let mut n = 1;
        while candidate.exists() {
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

    /// Deletes rotated files beyond the newest `keep` (names sort by date).
    fn prune(&self) -> io::Result<()> {
        let dir = match self.path.parent() {
            Some(d) if !d.as_os_str().is_empty() => d.to_owned(),
            _ => PathBuf::from("."),
        };
        let prefix = format!("{}.", self.file_name());
        let mut rotated: Vec<PathBuf> = fs::read_dir(&dir)?
            .filter_map(Result::ok)
            .filter(|e| e.file_name().to_string_lossy().starts_with(&prefix))
            .map(|e| e.path())
            .collect();
        rotated.sort();
        let excess = rotated
            .len()
            .saturating_sub(self.keep.unwrap_or(usize::MAX));
        for old in &rotated[..excess] {
            fs::remove_file(old)?;
        }
        Ok(())
    }
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

fn open_append(path: &Path) -> io::Result<File> {
    OpenOptions::new().create(true).append(true).open(path)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicU64, Ordering};
    use std::time::{Duration, UNIX_EPOCH};

    static FAKE_DAY: AtomicU64 = AtomicU64::new(20_000);

    fn fake_clock() -> SystemTime {
        UNIX_EPOCH + Duration::from_secs(FAKE_DAY.load(Ordering::SeqCst) * 86_400 + 3_600)
    }

    fn temp_dir(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("moai-rotate-{name}-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        dir
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
        let log = RotatingFile::open(&path, Some(7), fake_clock).unwrap();
        let mut written = Vec::new();
        for day in 0..12u64 {
            FAKE_DAY.store(20_000 + day, Ordering::SeqCst);
            for n in 0..3 {
                let line = format!("day {day} line {n}\n");
                log.write_line(line.as_bytes()).unwrap();
                written.push(line);
            }
        }
        log.flush().unwrap();
        let mut names: Vec<String> = fs::read_dir(path.parent().unwrap())
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
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
        fs::remove_dir_all(&dir).unwrap();
    }

    static CONCURRENT_DAY: AtomicU64 = AtomicU64::new(40_000);

    fn concurrent_clock() -> SystemTime {
        UNIX_EPOCH + Duration::from_secs(CONCURRENT_DAY.load(Ordering::SeqCst) * 86_400)
    }

    #[test]
    fn rotation_during_concurrent_writes_keeps_every_line_exactly_once() {
        let dir = temp_dir("concurrent");
        let path = dir.join("moai-flow.log");
        let log = RotatingFile::open(&path, Some(30), concurrent_clock).unwrap();
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
                CONCURRENT_DAY.fetch_add(1, Ordering::SeqCst);
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
        fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn external_rotation_never_renames_or_prunes() {
        let dir = temp_dir("external");
        let path = dir.join("moai-flow.log");
        fs::create_dir_all(&dir).unwrap();
        fs::write(dir.join("moai-flow.log.1"), "logrotate's\n").unwrap();
        let log = RotatingFile::open(&path, None, || {
            UNIX_EPOCH + Duration::from_secs(50_000 * 86_400)
        })
        .unwrap();
        log.write_line(b"a\n").unwrap();
        assert_eq!(fs::read_dir(&dir).unwrap().count(), 2);
        assert_eq!(fs::read_to_string(&path).unwrap(), "a\n");
        fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn external_rename_is_followed_without_losing_a_line() {
        let dir = temp_dir("rename");
        let path = dir.join("moai-flow.log");
        let log = RotatingFile::open(&path, None, SystemTime::now).unwrap();
        log.write_line(b"before\n").unwrap();
        fs::rename(&path, dir.join("moai-flow.log.1")).unwrap();
        // Until the next check, lines still reach the renamed file: nothing is lost.
        log.write_line(b"between\n").unwrap();
        std::thread::sleep(REOPEN_CHECK);
        log.write_line(b"after\n").unwrap();
        assert_eq!(
            fs::read_to_string(dir.join("moai-flow.log.1")).unwrap(),
            "before\nbetween\n"
        );
        assert_eq!(fs::read_to_string(&path).unwrap(), "after\n");
        fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn a_file_from_an_earlier_day_is_rotated_at_open() {
        let dir = temp_dir("reopen");
        let path = dir.join("moai-flow.log");
        fs::create_dir_all(&dir).unwrap();
        fs::write(&path, "yesterday\n").unwrap();
        // The file's mtime is today (real clock), far before day 30,000: it is rotated.
        let log = RotatingFile::open(&path, Some(7), || {
            UNIX_EPOCH + Duration::from_secs(40_000 * 86_400)
        })
        .unwrap();
        log.write_line(b"today\n").unwrap();
        assert_eq!(fs::read_to_string(&path).unwrap(), "today\n");
        let rotated: Vec<_> = fs::read_dir(&dir).unwrap().filter_map(Result::ok).collect();
        assert_eq!(rotated.len(), 2);
        fs::remove_dir_all(&dir).unwrap();
    }
}
