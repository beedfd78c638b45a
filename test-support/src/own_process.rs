//! Tests that need a process of their own (they install the global recorder or subscriber with
//! settings of their own, or check what happens before installation) share a test binary with
//! the others: the test runs itself again in a child process of the same binary, filtered to
//! its own name, and asserts that the child passed.
//!
//! ```text
//! #[test]
//! fn init_serves_metrics() {
//!     if !common::own_process() {
//!         return; // the parent: the child ran this test and passed
//!     }
//!     let guard = Config::new().init().unwrap();
//!     // ...
//! }
//! ```

use std::process::{Command, Stdio};

/// Set in the child to the name of the test it runs.
const CHILD: &str = "MOAI_TEST_OWN_PROCESS";

/// `true` in the child, which runs the test's body; in the parent, runs the calling test in a
/// child process (the same test binary, `--exact` its name), fails with the child's output when
/// it fails, and returns `false`. The test's name is its thread's, as the test harness names it.
pub fn own_process() -> bool {
    own_process_with_env(&[])
}

/// [`own_process`], the child started with `env` set (`TZ`, say: a process-wide setting that a
/// test may not change while other threads run).
pub fn own_process_with_env(env: &[(&str, &str)]) -> bool {
    let current = std::thread::current();
    let name = current
        .name()
        .filter(|name| *name != "main")
        .expect(
            "own_process() needs the test's name from its thread: run with --test-threads above 1",
        )
        .to_owned();
    if std::env::var(CHILD).is_ok_and(|running| running == name) {
        return true;
    }
    let exe = std::env::current_exe().expect("the test binary's path");
    let output = Command::new(exe)
        .args([
            name.as_str(),
            "--exact",
            "--nocapture",
            "--test-threads",
            "2",
        ])
        .env(CHILD, &name)
        .envs(env.iter().copied())
        .stdin(Stdio::null())
        .output()
        .expect("run the test in a process of its own");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let ran = stdout.contains("1 passed") || stdout.contains("1 failed");
    assert!(
        output.status.success() && ran,
        "{name} failed in its own process ({}):\n--- stdout\n{stdout}\n--- stderr\n{}",
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
    false
}

/// The harness's name of test `$name` in the calling module (`module::name`, without the crate),
/// for [`alone`] and [`child_test`].
#[macro_export]
macro_rules! test_name {
    ($name:literal) => {
        concat!(module_path!(), "::", $name)
            .split_once("::")
            .map_or($name, |(_, test)| test)
    };
}

/// The arguments that make this test binary run test `test` alone, printing what it prints: for a
/// child process of a test's own (the `child_*` tests that a test runs with an environment
/// variable, under `strace`, with a resource limit, ...).
pub fn alone(test: &str) -> [&str; 4] {
    [test, "--exact", "--nocapture", "--test-threads=1"]
}

/// A command that runs this test binary's test `test` alone (see [`alone`]).
pub fn child_test(test: &str) -> Command {
    let mut command = Command::new(std::env::current_exe().expect("the test binary's path"));
    command.args(alone(test));
    command
}
