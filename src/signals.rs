//! SIGTERM (what Kubernetes sends before killing a pod), SIGINT (Ctrl-C), SIGQUIT and SIGHUP (a
//! closed terminal, or a supervisor's reload) all ask the main loop to stop, so the shutdown line
//! is logged, the log file flushed and SwarmDB closed on the way out. `main` installs the
//! handlers before anything else, so a signal in the first milliseconds is handled the same way.
//! The SDK reopens an externally rotated log file by itself, so SIGHUP needs no reload meaning.
//!
//! Through `signal-hook`, whose handler only stores to an atomic flag (async-signal-safe).

use std::sync::Arc;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicBool, Ordering};

use signal_hook::consts::{SIGHUP, SIGINT, SIGQUIT, SIGTERM};

fn flag() -> &'static Arc<AtomicBool> {
    static STOP: OnceLock<Arc<AtomicBool>> = OnceLock::new();
    STOP.get_or_init(|| Arc::new(AtomicBool::new(false)))
}

/// Installs the handlers for SIGTERM, SIGINT, SIGQUIT and SIGHUP.
pub(crate) fn install() -> std::io::Result<()> {
    for signal in [SIGTERM, SIGINT, SIGQUIT, SIGHUP] {
        signal_hook::flag::register(signal, Arc::clone(flag()))?;
    }
    Ok(())
}

/// Whether a stop was requested.
pub(crate) fn stop_requested() -> bool {
    flag().load(Ordering::SeqCst)
}
