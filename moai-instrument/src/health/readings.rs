//! What the checks measure: disk space of a filesystem, memory against the container's limit
//! (cgroup v2 `memory.max`, v1 `memory.limit_in_bytes`) or else the machine's.

use std::path::Path;

/// Used and total bytes of something, and where the numbers came from.
#[derive(Debug, Clone, PartialEq)]
pub struct Usage {
    /// Bytes in use.
    pub used: u64,
    /// Bytes available in all.
    pub total: u64,
    /// `filesystem`, `cgroup v2`, `cgroup v1` or `machine`.
    pub source: &'static str,
}

impl Usage {
    /// `used / total`, 0 when the total is unknown.
    #[must_use]
    pub fn fraction(&self) -> f64 {
        if self.total == 0 {
            0.0
        } else {
            self.used as f64 / self.total as f64
        }
    }
}

/// The filesystem holding `path` (or its nearest existing ancestor, so a database not yet
/// created is judged by where it will be).
pub fn disk_usage(path: &Path) -> std::io::Result<Usage> {
    let mut dir = path;
    while !dir.exists() {
        dir = dir
            .parent()
            .filter(|p| !p.as_os_str().is_empty())
            .unwrap_or(Path::new("."));
    }
    let c_path = std::ffi::CString::new(dir.as_os_str().as_encoded_bytes())
        .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidInput, e))?;
    // SAFETY: `statvfs` writes only into the zeroed struct we own; `c_path` is NUL-terminated
    // and outlives the call.
    let stat = unsafe {
        let mut stat: libc::statvfs = std::mem::zeroed();
        if libc::statvfs(c_path.as_ptr(), &mut stat) != 0 {
            return Err(std::io::Error::last_os_error());
        }
        stat
    };
    let block = stat.f_frsize as u64;
    let total = stat.f_blocks as u64 * block;
    // Unprivileged callers can use `f_bavail`, not the root reserve: judge what the app can use.
    let available = stat.f_bavail as u64 * block;
    Ok(Usage {
        used: total.saturating_sub(available),
        total,
        source: "filesystem",
    })
}

/// Memory in use against the container's limit when one is set, else the machine's.
#[must_use]
pub fn memory_usage() -> Option<Usage> {
    memory_usage_under(Path::new("/"))
}

/// [`memory_usage`] reading `/proc` and `/sys` below `root` (tests give a fake tree).
#[must_use]
pub fn memory_usage_under(root: &Path) -> Option<Usage> {
    cgroup_v2(root)
        .or_else(|| cgroup_v1(root))
        .or_else(|| machine(root))
}

fn read_u64(path: &Path) -> Option<u64> {
    std::fs::read_to_string(path).ok()?.trim().parse().ok()
}

fn cgroup_v2(root: &Path) -> Option<Usage> {
    let cgroups = std::fs::read_to_string(root.join("proc/self/cgroup")).ok()?;
    let relative = cgroups
        .lines()
        .find_map(|l| l.strip_prefix("0::"))?
        .trim_start_matches('/');
    let dir = root.join("sys/fs/cgroup").join(relative);
    // `max` means no limit: the machine's memory is the bound.
    let limit = read_u64(&dir.join("memory.max"))?;
    let used = read_u64(&dir.join("memory.current"))?;
    Some(Usage {
        used,
        total: limit,
        source: "cgroup v2",
    })
}

fn cgroup_v1(root: &Path) -> Option<Usage> {
    let dir = root.join("sys/fs/cgroup/memory");
    let limit = read_u64(&dir.join("memory.limit_in_bytes"))?;
    // v1 reports "no limit" as a huge number (page-aligned i64::MAX).
    if limit >= 1 << 60 {
        return None;
    }
    let used = read_u64(&dir.join("memory.usage_in_bytes"))?;
    Some(Usage {
        used,
        total: limit,
        source: "cgroup v1",
    })
}

fn machine(root: &Path) -> Option<Usage> {
    let meminfo = std::fs::read_to_string(root.join("proc/meminfo")).ok()?;
    let field = |name: &str| -> Option<u64> {
        let line = meminfo.lines().find(|l| l.starts_with(name))?;
        line.split_whitespace()
            .nth(1)?
            .parse::<u64>()
            .ok()
            .map(|kb| kb * 1024)
    };
    let total = field("MemTotal:")?;
    let available = field("MemAvailable:")?;
    Some(Usage {
        used: total.saturating_sub(available),
        total,
        source: "machine",
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A directory standing for `/`, holding `files` (path, content).
    fn fake_root(name: &str, files: &[(&str, &str)]) -> std::path::PathBuf {
        let root = moai_test_support::temp_dir(&format!("readings-{name}"));
        for (path, content) in files {
            let path = root.join(path);
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(path, content).unwrap();
        }
        root
    }

    const MEMINFO: &str =
        "MemTotal:       1000 kB\nMemFree:         100 kB\nMemAvailable:    250 kB\n";

    #[test]
    fn cgroup_v2_limit_wins_over_the_machine() {
        let root = fake_root(
            "v2",
            &[
                ("proc/self/cgroup", "0::/kubepods/pod1\n"),
                ("sys/fs/cgroup/kubepods/pod1/memory.max", "2000\n"),
                ("sys/fs/cgroup/kubepods/pod1/memory.current", "1900\n"),
                ("proc/meminfo", MEMINFO),
            ],
        );
        let usage = memory_usage_under(&root).unwrap();
        assert_eq!(
            usage,
            Usage {
                used: 1900,
                total: 2000,
                source: "cgroup v2"
            }
        );
        assert!((usage.fraction() - 0.95).abs() < 1e-12);
    }

    #[test]
    fn cgroup_v2_without_limit_and_v1_fall_back() {
        let root = fake_root(
            "v2-max",
            &[
                ("proc/self/cgroup", "0::/\n"),
                ("sys/fs/cgroup/memory.max", "max\n"),
                ("sys/fs/cgroup/memory.current", "5\n"),
                ("proc/meminfo", MEMINFO),
            ],
        );
        assert_eq!(
            memory_usage_under(&root).unwrap(),
            Usage {
                used: 750 * 1024,
                total: 1000 * 1024,
                source: "machine"
            }
        );
        let root = fake_root(
            "v1",
            &[
                ("sys/fs/cgroup/memory/memory.limit_in_bytes", "4096\n"),
                ("sys/fs/cgroup/memory/memory.usage_in_bytes", "1024\n"),
                ("proc/meminfo", MEMINFO),
            ],
        );
        assert_eq!(
            memory_usage_under(&root).unwrap(),
            Usage {
                used: 1024,
                total: 4096,
                source: "cgroup v1"
            }
        );
        let root = fake_root(
            "v1-unlimited",
            &[
                (
                    "sys/fs/cgroup/memory/memory.limit_in_bytes",
                    "9223372036854771712\n",
                ),
                ("sys/fs/cgroup/memory/memory.usage_in_bytes", "1024\n"),
                ("proc/meminfo", MEMINFO),
            ],
        );
        assert_eq!(memory_usage_under(&root).unwrap().source, "machine");
    }

    #[test]
    fn real_readings_are_plausible() {
        let memory = memory_usage().unwrap();
        assert!(
            memory.total > 0 && memory.used <= memory.total,
            "{memory:?}"
        );
        let disk = disk_usage(Path::new("/tmp/does/not/exist/yet.db")).unwrap();
        assert!(disk.total > 0 && disk.used <= disk.total, "{disk:?}");
    }
}
