//! `moai-health`'s command line, through `lexopt` (see the workspace's Cargo.toml for why not
//! clap). `--flag value` and `--flag=value` both work; `--help` prints the usage on stdout and
//! exits 0; anything else wrong is an error naming the flag and the cause, for an exit status of 2.

use std::ffi::OsString;

use crate::diagnose;

pub(crate) const USAGE: &str = "usage: moai-health [--live | --startup | --ready] [--json] \
                     [--db PATH | --db-url URL]\n       \
                     moai-health --url http(s)://HOST:PORT [--live | --startup | --ready] [--json] \
                     [ACCESS]\n       \
                     moai-health --diagnose [--metrics-url URL] [--prometheus URL] \
                     [--alertmanager URL] [--grafana URL] [ACCESS]

  (no mode)          basic check: \"✅ Healthy - N active agents\"
  --live, --startup  liveness and startup probes: SwarmDB opens
  --ready            the comprehensive check, one line per check
  --json             the report as JSON
  --db PATH          the SwarmDB file (default: MOAI_DB_PATH, else .moai/memory/swarm.db)
  --db-url URL       SwarmDB on PostgreSQL, postgres://... (default: MOAI_DB_URL when set)
  --url URL          ask the running app at URL (its /healthz, or /livez for --live)
  --diagnose         the guide's Troubleshooting checks, against --metrics-url, --prometheus,
                     --alertmanager and --grafana (defaults: the guide's ports on localhost)

ACCESS, for an exporter secured by a web config (MOAI_WEB_CONFIG):
  --ca-file PATH     the CA that signed the app's certificate, PEM (default: SSL_CERT_FILE,
                     else the system's)
  --cert-file PATH, --key-file PATH
                     a client certificate and its key, PEM, when the app asks for one
  --basic-auth-user USER, --basic-auth-password-file PATH
                     a basic_auth_users user and a file holding its password (for /metrics;
                     without them MOAI_METRICS_TOKEN is sent as a bearer token when set)
  -h, --help         print this and exit

Exit status: 0 healthy, 1 unhealthy (or the app could not be asked), 2 usage error.";

#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum Mode {
    Basic,
    Live,
    Ready,
}

pub(crate) struct Args {
    pub mode: Mode,
    pub json: bool,
    pub db: String,
    /// A PostgreSQL URL: SwarmDB on the server instead of the file.
    pub db_url: Option<String>,
    /// Ask the running app at this base URL instead of opening the database.
    pub url: Option<String>,
    /// Run the Troubleshooting checks against these parts.
    pub diagnose: Option<diagnose::Targets>,
    /// TLS and credentials for `--url` and `--diagnose`.
    pub access: crate::http::Access,
}

/// What the command line asks for.
enum Parsed {
    Run(Box<Args>),
    Help,
}

/// The process's arguments (and `MOAI_DB_PATH` / `MOAI_DB_URL` for the database). `--help`
/// prints the usage on stdout and exits 0 here; `Err` is the message for stderr (the cause, then
/// the usage), for an exit status of 2.
pub(crate) fn parse_args() -> Result<Args, String> {
    // The app's own default, so that the probe looks where the app writes.
    let db = std::env::var("MOAI_DB_PATH").unwrap_or_else(|_| {
        moai_instrument::Config::new()
            .configured_db_path()
            .display()
            .to_string()
    });
    let db_url = std::env::var("MOAI_DB_URL")
        .ok()
        .filter(|u| !u.trim().is_empty());
    match parse(std::env::args_os().skip(1), db, db_url) {
        Ok(Parsed::Run(args)) => Ok(*args),
        Ok(Parsed::Help) => {
            println!("{USAGE}");
            std::process::exit(0);
        }
        Err(err) => Err(format!("moai-health: {err}\n{USAGE}")),
    }
}

/// `db` and `db_url` are the defaults from the environment.
fn parse(
    args: impl IntoIterator<Item = OsString>,
    db: String,
    db_url: Option<String>,
) -> Result<Parsed, lexopt::Error> {
    use lexopt::prelude::*;
    let mut parsed = Args {
        mode: Mode::Basic,
        json: false,
        db,
        db_url,
        url: None,
        diagnose: None,
        access: crate::http::Access::default(),
    };
    let mut targets = diagnose::Targets::default();
    let mut diagnose_flags = Vec::new();
    let mut mode_given = false;
    let (mut db_given, mut db_url_given) = (false, false);
    let mut parser = lexopt::Parser::from_args(args);
    while let Some(arg) = parser.next()? {
        let mode = match arg {
            Long("live") | Long("startup") => Mode::Live,
            Long("ready") => Mode::Ready,
            Long("json") => {
                parsed.json = true;
                continue;
            }
            Long("db") => {
                parsed.db = value(&mut parser, "--db", "a file path")?;
                parsed.db_url = None;
                db_given = true;
                continue;
            }
            Long("db-url") => {
                parsed.db_url = Some(value(&mut parser, "--db-url", "a postgres:// URL")?);
                db_url_given = true;
                continue;
            }
            Long("url") => {
                parsed.url = Some(http_url(&mut parser, "--url")?);
                continue;
            }
            Long(name @ ("ca-file" | "cert-file" | "key-file" | "basic-auth-password-file")) => {
                let flag = format!("--{name}");
                let path = Some(value(&mut parser, &flag, "a file path")?);
                match &flag[2..] {
                    "ca-file" => parsed.access.ca_file = path,
                    "cert-file" => parsed.access.cert_file = path,
                    "key-file" => parsed.access.key_file = path,
                    _ => parsed.access.basic_auth_password_file = path,
                }
                continue;
            }
            Long("basic-auth-user") => {
                parsed.access.basic_auth_user =
                    Some(value(&mut parser, "--basic-auth-user", "a user name")?);
                continue;
            }
            Long("diagnose") => {
                parsed.diagnose = Some(diagnose::Targets::default());
                continue;
            }
            Long(name @ ("metrics-url" | "prometheus" | "alertmanager" | "grafana")) => {
                // Owned: `name` borrows the parser, which reads the value next.
                let flag = format!("--{name}");
                let url = http_url(&mut parser, &flag)?;
                match &flag[2..] {
                    "metrics-url" => targets.metrics_url = url,
                    "prometheus" => targets.prometheus = url,
                    "alertmanager" => targets.alertmanager = url,
                    _ => targets.grafana = Some(url),
                }
                diagnose_flags.push(flag);
                continue;
            }
            Short('h') | Long("help") => return Ok(Parsed::Help),
            _ => return Err(arg.unexpected()),
        };
        if mode_given {
            return Err("give at most one of --live, --startup, --ready".into());
        }
        (parsed.mode, mode_given) = (mode, true);
    }
    if db_given && db_url_given {
        return Err("give --db PATH or --db-url URL, not both".into());
    }
    if parsed.url.is_some() && (db_given || db_url_given) {
        return Err(
            "--url asks the running app, --db and --db-url check a database from here: give one"
                .into(),
        );
    }
    let access = &parsed.access;
    let access_given = access.ca_file.is_some()
        || access.cert_file.is_some()
        || access.key_file.is_some()
        || access.basic_auth_user.is_some()
        || access.basic_auth_password_file.is_some();
    if access_given && parsed.url.is_none() && parsed.diagnose.is_none() {
        return Err(
            "--ca-file, --cert-file, --key-file and --basic-auth-* go with --url or --diagnose"
                .into(),
        );
    }
    if parsed.diagnose.is_some() {
        if mode_given || parsed.url.is_some() || parsed.json {
            return Err(
                "--diagnose takes only --metrics-url, --prometheus, --alertmanager, --grafana"
                    .into(),
            );
        }
        parsed.diagnose = Some(targets);
    } else if let Some(flag) = diagnose_flags.first() {
        return Err(format!("{flag} goes with --diagnose").into());
    }
    Ok(Parsed::Run(Box::new(parsed)))
}

/// The flag's value, `what` naming what it should be. A value that is itself a flag (`--db
/// --json`) is refused: the value was forgotten, and the flag would otherwise be lost.
fn value(parser: &mut lexopt::Parser, flag: &str, what: &str) -> Result<String, lexopt::Error> {
    let value = parser.value().map_err(|_| format!("{flag} needs {what}"))?;
    match value.into_string() {
        Ok(text) if text.starts_with("--") => {
            Err(format!("{flag} needs {what}, not the flag {text}").into())
        }
        Ok(text) => Ok(text),
        Err(raw) => Err(format!("{flag} needs {what}, not the non-UTF-8 {raw:?}").into()),
    }
}

/// The flag's value when it is an `http://` or `https://` URL.
fn http_url(parser: &mut lexopt::Parser, flag: &str) -> Result<String, lexopt::Error> {
    let url = value(parser, flag, "an http:// or https:// URL")?;
    if url.starts_with("http://") || url.starts_with("https://") {
        Ok(url)
    } else {
        Err(format!("{flag} needs an http:// or https:// URL, not {url:?}").into())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(args: &[&str]) -> Result<Args, String> {
        let db_url = Some("postgres://env".to_owned());
        match parse(args.iter().map(OsString::from), "env.db".into(), db_url) {
            Ok(Parsed::Run(args)) => Ok(*args),
            Ok(Parsed::Help) => Err("help".into()),
            Err(err) => Err(err.to_string()),
        }
    }

    #[test]
    fn modes_database_and_urls() {
        let args = run(&[]).unwrap();
        assert_eq!((args.mode, args.json), (Mode::Basic, false));
        assert_eq!(args.db_url.as_deref(), Some("postgres://env"));
        let args = run(&["--startup", "--db=other.db", "--json"]).unwrap();
        assert_eq!((args.mode, args.json), (Mode::Live, true));
        assert_eq!((args.db.as_str(), args.db_url), ("other.db", None));
        let args = run(&["--ready", "--url", "http://127.0.0.1:9090"]).unwrap();
        assert_eq!(args.mode, Mode::Ready);
        assert_eq!(args.url.as_deref(), Some("http://127.0.0.1:9090"));
        let args = run(&["--diagnose", "--grafana", "http://g:3000"]).unwrap();
        let targets = args.diagnose.unwrap();
        assert_eq!(targets.grafana.as_deref(), Some("http://g:3000"));
        assert_eq!(targets.prometheus, "http://localhost:9091");
    }

    #[test]
    fn help_and_errors_name_the_flag_and_cause() {
        assert_eq!(run(&["--ready", "-h"]).err().as_deref(), Some("help"));
        for (args, expected) in [
            (&["--bogus"][..], "--bogus"),
            (&["--db"], "--db needs a file path"),
            (&["--db", "--json"], "not the flag --json"),
            (&["--db-url"], "--db-url needs a postgres:// URL"),
            (
                &["--url", "localhost:9090"],
                "--url needs an http:// or https:// URL",
            ),
            (&["--ca-file"], "--ca-file needs a file path"),
            (&["--live", "--ready"], "at most one"),
            (
                &["--prometheus", "http://p"],
                "--prometheus goes with --diagnose",
            ),
            (&["--diagnose", "--json"], "--diagnose takes only"),
        ] {
            let err = run(args).map(|_| ()).unwrap_err();
            assert!(err.contains(expected), "{args:?}: {err}");
        }
    }

    #[test]
    fn conflicting_targets_are_usage_errors() {
        assert!(
            run(&["--db", "a.db", "--db-url", "postgres://x"])
                .err()
                .unwrap()
                .contains("not both")
        );
        assert!(
            run(&["--url", "http://x:9090", "--db", "a.db"])
                .err()
                .unwrap()
                .contains("give one")
        );
        let args = run(&["--url", "https://x:9090", "--ca-file", "ca.pem"]).unwrap();
        assert_eq!(args.access.ca_file.as_deref(), Some("ca.pem"));
        // A database from the environment is only a default: --url alone is fine.
        assert!(run(&["--url", "http://x:9090"]).is_ok());
    }
}
