//! The `moai-health` binary: the guide's lines, exit codes 0/1/2, JSON, and an answer within 5 s
//! even when the database is locked.

use moai_test_support as common;

use std::process::{Command, Output};
use std::time::{Duration, Instant};

use common::temp_dir;
use moai_swarmdb::{AgentStatus, SwarmDb};
use serde_json::{Value, json};

fn run(args: &[&str]) -> (Option<i32>, String, Duration) {
    let started = Instant::now();
    let Output {
        status,
        stdout,
        stderr,
    } = Command::new(env!("CARGO_BIN_EXE_moai-health"))
        .args(args)
        .env_remove("MOAI_DB_PATH")
        .output()
        .unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&stdout),
        String::from_utf8_lossy(&stderr)
    );
    (status.code(), text, started.elapsed())
}

#[test]
fn healthy_database_lines_and_exit_zero() {
    let dir = temp_dir("cli-healthy");
    let path = dir.join("swarm.db");
    let db = SwarmDb::open(&path).unwrap();
    db.register_agent("agent-1", "expert", AgentStatus::Spawned, &json!({}))
        .unwrap();
    db.register_agent("agent-2", "expert", AgentStatus::Spawned, &json!({}))
        .unwrap();
    let db_arg = path.to_str().unwrap();

    assert_eq!(run(&["--db", db_arg]).0, Some(0));
    assert_eq!(run(&["--db", db_arg]).1, "✅ Healthy - 2 active agents\n");
    let (code, text, _) = run(&["--live", "--db", db_arg]);
    assert_eq!(
        (code, text),
        (Some(0), format!("✅ Live - SwarmDB opens at {db_arg}\n"))
    );
    assert_eq!(run(&["--startup", "--db", db_arg]).0, Some(0));

    let (code, text, _) = run(&["--ready", "--db", db_arg]);
    let lines: Vec<&str> = text.lines().collect();
    for (line, name) in lines.iter().zip([
        "database",
        "disk_space",
        "memory",
        "query_performance",
        "agents",
    ]) {
        assert!(line.contains(&format!(" {name}: ")), "{text}");
    }
    assert!(lines[4].ends_with("agents: 2 active agents"), "{text}");
    let all_healthy = lines[..5].iter().all(|l| l.starts_with('✅'));
    assert_eq!(code, Some(if all_healthy { 0 } else { 1 }), "{text}");
    assert_eq!(lines[5], "");
    assert_eq!(
        lines[6],
        if all_healthy {
            "✅ All health checks passed"
        } else {
            "❌ Some health checks failed"
        }
    );

    let (_, text, _) = run(&["--ready", "--json", "--db", db_arg]);
    let report: Value = serde_json::from_str(text.trim()).unwrap();
    assert_eq!(report["checks"]["database"]["healthy"], true);
    assert_eq!(report["checks"]["agents"]["details"]["active"], 2);
}

#[test]
fn unhealthy_database_exits_one_with_the_reason() {
    let dir = temp_dir("cli-corrupt");
    let path = dir.join("swarm.db");
    std::fs::write(&path, vec![0x42; 4096]).unwrap();
    let db_arg = path.to_str().unwrap();
    let (code, text, _) = run(&["--db", db_arg]);
    assert_eq!(code, Some(1));
    assert!(
        text.starts_with(&format!("❌ Unhealthy - cannot open SwarmDB at {db_arg}")),
        "{text}"
    );
    let (code, text, _) = run(&["--ready", "--db", db_arg]);
    assert_eq!(code, Some(1));
    assert!(
        text.contains("❌ database: Database error:") && text.contains("   Details: {'path': "),
        "{text}"
    );
    assert!(text.ends_with("❌ Some health checks failed\n"), "{text}");
    assert_eq!(run(&["--live", "--db", db_arg]).0, Some(1));
}

#[test]
fn a_locked_database_is_answered_within_five_seconds() {
    let dir = temp_dir("cli-locked");
    let path = dir.join("swarm.db");
    drop(SwarmDb::open(&path).unwrap());
    let lock = common::LockedDatabase::hold(&path, true);
    let db_arg = path.to_str().unwrap();
    for args in [
        &["--db", db_arg][..],
        &["--ready", "--db", db_arg][..],
        &["--live", "--db", db_arg][..],
    ] {
        let (code, text, took) = run(args);
        assert_eq!(code, Some(1), "{args:?}: {text}");
        assert!(took < Duration::from_secs(5), "{args:?} took {took:?}");
        assert!(text.contains("locked"), "{args:?}: {text}");
    }
    drop(lock);
}

#[test]
fn usage_errors_exit_two_naming_the_flag() {
    for (args, cause) in [
        (&["--bogus"][..], "invalid option '--bogus'"),
        (
            &["--live", "--ready"][..],
            "at most one of --live, --startup, --ready",
        ),
        (&["--db"][..], "--db needs a file path"),
        (
            &["--url", "localhost:9090"][..],
            "--url needs an http:// or https:// URL",
        ),
        (&["--json=yes"][..], "'--json'"),
    ] {
        let (code, text, _) = run(args);
        assert_eq!(code, Some(2), "{args:?}: {text}");
        assert!(text.starts_with("moai-health: "), "{args:?}: {text}");
        assert!(text.contains(cause), "{args:?}: {text}");
        assert!(text.contains("usage: moai-health"), "{text}");
    }
}

#[test]
fn help_prints_the_usage_on_stdout_and_exits_zero() {
    for flag in ["--help", "-h"] {
        let output = Command::new(env!("CARGO_BIN_EXE_moai-health"))
            .arg(flag)
            .output()
            .unwrap();
        assert_eq!(output.status.code(), Some(0), "{flag}");
        let stdout = String::from_utf8(output.stdout).unwrap();
        assert!(stdout.starts_with("usage: moai-health"), "{stdout}");
        assert!(stdout.contains("--diagnose"), "{stdout}");
        assert!(output.stderr.is_empty(), "{flag}");
    }
}
