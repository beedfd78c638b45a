//! `moai-flow`'s command line, through `lexopt` (see the workspace's Cargo.toml for why not clap).
//! `--flag value` and `--flag=value` both work; `--help` prints the usage on stdout and exits 0;
//! anything else wrong is an error naming the flag and the cause, for `main` to exit 2 with.

use std::ffi::OsString;
use std::time::Duration;

#[derive(Debug)]
pub(crate) struct Args {
    pub(crate) agents: u32,
    pub(crate) rate: u32,
    pub(crate) duration: Option<Duration>,
    /// Stop stepping after this many steps, but keep serving (stable counters for checks).
    pub(crate) steps: Option<u64>,
    /// Failing operations per second, to see the error alerts fire.
    pub(crate) error_rate: u32,
}

const USAGE: &str = "usage: moai-flow [--agents N] [--rate STEPS_PER_SEC] [--duration-secs S] \
                     [--steps N] [--error-rate FAILURES_PER_SEC]

  --agents N           agents in the simulated swarm (1 to 100000; default 20)
  --rate N             steps per second (1 to 1000000; default 50)
  --duration-secs S    stop after S seconds (default: run until a signal)
  --steps N            stop stepping after N steps, but keep serving
  --error-rate N       failing operations per second (at most 10000; default 0)
  -h, --help           print this and exit

Settings come from the environment (MOAI_METRICS_ADDR, MOAI_LOG_DIR, MOAI_DB_PATH, ...).";

/// What the command line asks for.
enum Parsed {
    Run(Args),
    Help,
}

/// The process's arguments. `--help` prints the usage on stdout and exits 0 here; `Err` is the
/// message for stderr (the cause, then the usage), for an exit status of 2.
pub(crate) fn parse_args() -> Result<Args, String> {
    match parse(std::env::args_os().skip(1)) {
        Ok(Parsed::Run(args)) => Ok(args),
        Ok(Parsed::Help) => {
            println!("{USAGE}");
            std::process::exit(0);
        }
        Err(err) => Err(format!("moai-flow: {err}\n{USAGE}")),
    }
}

fn parse(args: impl IntoIterator<Item = OsString>) -> Result<Parsed, lexopt::Error> {
    use lexopt::prelude::*;
    let mut parsed = Args {
        agents: 20,
        rate: 50,
        duration: None,
        steps: None,
        error_rate: 0,
    };
    let mut parser = lexopt::Parser::from_args(args);
    while let Some(arg) = parser.next()? {
        match arg {
            Long("agents") => {
                parsed.agents = number(&mut parser, "--agents")?.clamp(1, 100_000) as u32
            }
            Long("rate") => parsed.rate = number(&mut parser, "--rate")?.clamp(1, 1_000_000) as u32,
            Long("duration-secs") => {
                parsed.duration = Some(Duration::from_secs(number(&mut parser, "--duration-secs")?))
            }
            Long("steps") => parsed.steps = Some(number(&mut parser, "--steps")?),
            Long("error-rate") => {
                parsed.error_rate = number(&mut parser, "--error-rate")?.min(10_000) as u32
            }
            Short('h') | Long("help") => return Ok(Parsed::Help),
            _ => return Err(arg.unexpected()),
        }
    }
    Ok(Parsed::Run(parsed))
}

/// The flag's value as a whole number, or an error naming the flag and what was wrong.
fn number(parser: &mut lexopt::Parser, flag: &str) -> Result<u64, lexopt::Error> {
    let value = parser.value()?;
    let text = value.to_string_lossy();
    text.parse::<u64>()
        .map_err(|e| format!("{flag} needs a whole number, not {text:?} ({e})").into())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(args: &[&str]) -> Result<Args, String> {
        match parse(args.iter().map(OsString::from)) {
            Ok(Parsed::Run(args)) => Ok(args),
            Ok(Parsed::Help) => Err("help".into()),
            Err(err) => Err(err.to_string()),
        }
    }

    #[test]
    fn defaults_flags_and_clamping() {
        let args = run(&[]).unwrap();
        assert_eq!((args.agents, args.rate, args.error_rate), (20, 50, 0));
        assert_eq!((args.duration, args.steps), (None, None));
        let args = run(&[
            "--agents=0",
            "--rate",
            "9999999",
            "--duration-secs",
            "3",
            "--steps",
            "7",
            "--error-rate=20000",
        ])
        .unwrap();
        assert_eq!(
            (args.agents, args.rate, args.error_rate),
            (1, 1_000_000, 10_000)
        );
        assert_eq!(args.duration, Some(Duration::from_secs(3)));
        assert_eq!(args.steps, Some(7));
        assert_eq!(run(&["--agents", "200000"]).unwrap().agents, 100_000);
    }

    #[test]
    fn help_and_errors_name_the_flag_and_cause() {
        assert_eq!(run(&["-h"]).err().as_deref(), Some("help"));
        assert_eq!(
            run(&["--agents", "3", "--help"]).err().as_deref(),
            Some("help")
        );
        let err = run(&["--rate", "fast"]).unwrap_err();
        assert!(err.contains("--rate") && err.contains("\"fast\""), "{err}");
        let err = run(&["--agents", "-5"]).unwrap_err();
        assert!(err.contains("--agents") && err.contains("\"-5\""), "{err}");
        let err = run(&["--steps"]).unwrap_err();
        assert!(err.contains("--steps") && err.contains("missing"), "{err}");
        let err = run(&["--bogus"]).unwrap_err();
        assert!(err.contains("--bogus"), "{err}");
        let err = run(&["stray"]).unwrap_err();
        assert!(err.contains("stray"), "{err}");
    }
}
