//! `moai-flow`'s command line as a user meets it: `--help` on stdout with exit status 0, and a bad
//! flag or value refused with exit status 2 and a message naming the flag and the cause.

use std::process::Command;

fn moai_flow(args: &[&str]) -> (Option<i32>, String, String) {
    let output = Command::new(env!("CARGO_BIN_EXE_moai-flow"))
        .args(args)
        // Never reached when the arguments are refused; a safe address if they were not.
        .env("MOAI_METRICS_ADDR", "127.0.0.1:0")
        .env("MOAI_LOG_DIR", "none")
        .output()
        .expect("run moai-flow");
    (
        output.status.code(),
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

#[test]
fn help_prints_the_usage_on_stdout_and_exits_zero() {
    for flag in ["--help", "-h"] {
        let (code, stdout, stderr) = moai_flow(&[flag]);
        assert_eq!(code, Some(0), "{flag}: {stderr}");
        assert!(stdout.starts_with("usage: moai-flow"), "{stdout}");
        for listed in [
            "--agents",
            "--rate",
            "--duration-secs",
            "--steps",
            "--error-rate",
        ] {
            assert!(stdout.contains(listed), "{listed} missing from {stdout}");
        }
        assert!(stderr.is_empty(), "{flag}: {stderr}");
    }
}

#[test]
fn bad_flags_and_values_exit_two_naming_the_flag_and_cause() {
    for (args, cause) in [
        (
            &["--rate", "fast"][..],
            "--rate needs a whole number, not \"fast\"",
        ),
        (
            &["--agents=-3"][..],
            "--agents needs a whole number, not \"-3\"",
        ),
        (
            &["--duration-secs"][..],
            "missing argument for option '--duration-secs'",
        ),
        (&["--bogus"][..], "invalid option '--bogus'"),
    ] {
        let (code, stdout, stderr) = moai_flow(args);
        assert_eq!(code, Some(2), "{args:?}: {stderr}");
        assert!(stderr.starts_with("moai-flow: "), "{args:?}: {stderr}");
        assert!(stderr.contains(cause), "{args:?}: {stderr}");
        assert!(stderr.contains("usage: moai-flow"), "{stderr}");
        assert!(stdout.is_empty(), "{args:?}: nothing runs: {stdout}");
    }
}
