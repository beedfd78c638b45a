//! What the checks measure: disk space of a filesystem, and memory as the kubelet sees it: the
//! working set (usage minus inactive page cache) against the limit of the process's own cgroup
//! (v2 `memory.max`, v1 `memory.limit_in_bytes`, found by the path in `/proc/self/cgroup`; the
//! tightest of it and its ancestors), or else the machine's.

use std::path::{Path, PathBuf};

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
/// created is judged by where it will be), counted as `df` counts it: `used` the blocks in use,
/// `total` those plus the blocks an unprivileged process may still take (the root reserve is
/// neither).
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
    // As `df` and psutil count: used blocks against what an unprivileged process can have, so
    // the root reserve counts as neither (it is not the app's to fill).
    let used = (stat.f_blocks as u64).saturating_sub(stat.f_bfree as u64) * block;
    let available = stat.f_bavail as u64 * block;
    Ok(Usage {
        used,
        total: used + available,
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

/// The total of [`memory_usage`] alone (bytes): the container's limit when one is set, else the
/// machine's memory; without reading what is in use.
pub(crate) fn memory_limit() -> Option<u64> {
    memory_limit_under(Path::new("/"))
}

fn memory_limit_under(root: &Path) -> Option<u64> {
    cgroup_v2_limit(root)
        .or_else(|| cgroup_v1_limit(root))
        .map(|(_, limit)| limit)
        .or_else(|| machine(root).map(|usage| usage.total))
}

fn read_u64(path: &Path) -> Option<u64> {
    std::fs::read_to_string(path).ok()?.trim().parse().ok()
}

/// The process's own cgroup directory for a hierarchy, from `/proc/self/cgroup`: the `0::` line
/// (v2) or the line whose controllers include `memory` (v1), below `mount`. A path the mount does
/// not show (a container whose cgroup namespace shows its own cgroup as the mount's root while
/// `/proc/self/cgroup` names the host's path) falls back to the mount itself.
fn own_cgroup(root: &Path, mount: &str, v2: bool) -> Option<PathBuf> {
    let cgroups = std::fs::read_to_string(root.join("proc/self/cgroup")).ok()?;
    let relative = cgroups.lines().find_map(|line| {
        let mut parts = line.splitn(3, ':');
        let (_, controllers, path) = (parts.next()?, parts.next()?, parts.next()?);
        let wanted = if v2 {
            controllers.is_empty()
        } else {
            controllers.split(',').any(|c| c == "memory")
        };
        wanted.then(|| path.trim_start_matches('/').to_owned())
    })?;
    let mount = root.join(mount);
    let own = mount.join(&relative);
    Some(if own.is_dir() { own } else { mount })
}

/// The smallest limit in `file` from `dir` up to `top` (a parent's limit binds its children),
/// ignoring values at or above `unlimited`, and `max`.
fn tightest_limit(dir: &Path, top: &Path, file: &str, unlimited: u64) -> Option<u64> {
    let mut tightest: Option<u64> = None;
    let mut at = Some(dir);
    while let Some(current) = at {
        if let Some(limit) = read_u64(&current.join(file)).filter(|&l| l < unlimited) {
            tightest = Some(tightest.map_or(limit, |t| t.min(limit)));
        }
        if current == top {
            break;
        }
        at = current.parent().filter(|p| p.starts_with(top));
    }
    tightest
}

/// A field of a cgroup's `memory.stat`.
fn stat_field(dir: &Path, name: &str) -> Option<u64> {
    let stat = std::fs::read_to_string(dir.join("memory.stat")).ok()?;
    stat.lines().find_map(|line| {
        let (key, value) = line.split_once(' ')?;
        (key == name).then(|| value.trim().parse().ok())?
    })
}

/// cgroup v2: the limit of the process's own cgroup (or an ancestor's, the tightest), and the
/// working set as the kubelet computes it: `memory.current` minus `inactive_file` (page cache
/// the kernel reclaims first, which never makes the container run out).
fn cgroup_v2(root: &Path) -> Option<Usage> {
    let (dir, limit) = cgroup_v2_limit(root)?;
    let current = read_u64(&dir.join("memory.current"))?;
    let inactive = stat_field(&dir, "inactive_file").unwrap_or(0);
    Some(Usage {
        used: current.saturating_sub(inactive),
        total: limit,
        source: "cgroup v2",
    })
}

/// The process's cgroup v2 directory and its tightest memory limit.
fn cgroup_v2_limit(root: &Path) -> Option<(PathBuf, u64)> {
    let top = root.join("sys/fs/cgroup");
    let dir = own_cgroup(root, "sys/fs/cgroup", true)?;
    let limit = tightest_limit(&dir, &top, "memory.max", u64::MAX)?;
    Some((dir, limit))
}

/// cgroup v1: as v2, with `memory.limit_in_bytes` (no limit reads as a huge number),
/// `memory.usage_in_bytes` and `total_inactive_file`.
fn cgroup_v1(root: &Path) -> Option<Usage> {
    let (dir, limit) = cgroup_v1_limit(root)?;
    let usage = read_u64(&dir.join("memory.usage_in_bytes"))?;
    let inactive = stat_field(&dir, "total_inactive_file").unwrap_or(0);
    Some(Usage {
        used: usage.saturating_sub(inactive),
        total: limit,
        source: "cgroup v1",
    })
}

/// The process's cgroup v1 memory directory and its tightest limit.
fn cgroup_v1_limit(root: &Path) -> Option<(PathBuf, u64)> {
    let top = root.join("sys/fs/cgroup/memory");
    let dir = own_cgroup(root, "sys/fs/cgroup/memory", false).unwrap_or_else(|| top.clone());
    let limit = tightest_limit(&dir, &top, "memory.limit_in_bytes", 1 << 60)?;
    Some((dir, limit))
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
    fn cgroup_v1_limit_of_the_processs_own_cgroup_is_found_by_its_path() {
        // A host service in a v1 hierarchy: the root has no limit, the service's cgroup has one.
        let root = fake_root(
            "v1-path",
            &[
                (
                    "proc/self/cgroup",
                    "12:cpu,cpuacct:/system.slice/app.service\n4:memory:/system.slice/app.service\n",
                ),
                (
                    "sys/fs/cgroup/memory/memory.limit_in_bytes",
                    "9223372036854771712\n",
                ),
                ("sys/fs/cgroup/memory/memory.usage_in_bytes", "900000\n"),
                (
                    "sys/fs/cgroup/memory/system.slice/app.service/memory.limit_in_bytes",
                    "1000000\n",
                ),
                (
                    "sys/fs/cgroup/memory/system.slice/app.service/memory.usage_in_bytes",
                    "600000\n",
                ),
                (
                    "sys/fs/cgroup/memory/system.slice/app.service/memory.stat",
                    "cache 500000\ntotal_inactive_file 400000\n",
                ),
                ("proc/meminfo", MEMINFO),
            ],
        );
        assert_eq!(
            memory_usage_under(&root).unwrap(),
            Usage {
                used: 200_000,
                total: 1_000_000,
                source: "cgroup v1"
            }
        );
    }

    #[test]
    fn page_cache_is_not_use_and_a_parents_limit_binds() {
        // In a container: 254 MB charged, 247 MB of it inactive page cache; the limit is the
        // pod's, one level up.
        let root = fake_root(
            "v2-cache",
            &[
                ("proc/self/cgroup", "0::/kubepods/pod1/app\n"),
                ("sys/fs/cgroup/kubepods/pod1/memory.max", "268435456\n"),
                ("sys/fs/cgroup/kubepods/pod1/app/memory.max", "max\n"),
                (
                    "sys/fs/cgroup/kubepods/pod1/app/memory.current",
                    "266338304\n",
                ),
                (
                    "sys/fs/cgroup/kubepods/pod1/app/memory.stat",
                    "anon 7340032\nfile 258998272\ninactive_file 258998272\nactive_file 0\n",
                ),
                ("proc/meminfo", MEMINFO),
            ],
        );
        let usage = memory_usage_under(&root).unwrap();
        assert_eq!(
            usage,
            Usage {
                used: 7_340_032,
                total: 268_435_456,
                source: "cgroup v2"
            }
        );
        assert!(usage.fraction() < 0.05, "{usage:?}");
        // A cgroup namespace that shows the host's path, which the mount does not have: the
        // mount's own files are the container's.
        let root = fake_root(
            "v2-ns",
            &[
                ("proc/self/cgroup", "0::/kubepods/pod9/app\n"),
                ("sys/fs/cgroup/memory.max", "1000\n"),
                ("sys/fs/cgroup/memory.current", "600\n"),
                ("sys/fs/cgroup/memory.stat", "inactive_file 100\n"),
                ("proc/meminfo", MEMINFO),
            ],
        );
        assert_eq!(memory_usage_under(&root).unwrap().used, 500);
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
