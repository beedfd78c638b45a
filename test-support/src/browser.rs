//! A real headless browser (Debian's Chromium) loading a page from a test's server: the DOM it
//! built, as the browser saw it. The browser is ended by its process id when the page is in or
//! after 60 s, and its profile directory removed.

use std::io::Read;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::process::{Reaped, temp_dir};
use crate::tools::tool;

/// The DOM Chromium built for `url` (`--dump-dom`): the page after parsing, as a browser renders
/// it. A missing `chromium` fails the test with the command that installs it.
pub fn rendered_dom(url: &str) -> String {
    let chromium = tool("chromium").expect("chromium");
    let profile = temp_dir("chromium-profile");
    let mut child = Reaped(
        Command::new(chromium)
            .args([
                "--headless",
                // Tests run as root in CI containers, where Chromium's sandbox cannot start.
                "--no-sandbox",
                "--disable-gpu",
                "--disable-dev-shm-usage",
                "--no-first-run",
                &format!("--user-data-dir={}", profile.display()),
                "--dump-dom",
                url,
            ])
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("start chromium"),
    );
    let mut stdout = child.0.stdout.take().expect("chromium's stdout");
    let reading = std::thread::spawn(move || {
        let mut dom = String::new();
        let _ = stdout.read_to_string(&mut dom);
        dom
    });
    let started = Instant::now();
    while child.0.try_wait().ok().flatten().is_none() {
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "chromium did not load {url} within 60 s"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    let dom = reading.join().unwrap_or_default();
    drop(child);
    let _ = std::fs::remove_dir_all(profile);
    dom
}
