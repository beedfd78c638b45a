//! `GET /`: the landing page exporters serve by convention, loaded in a real headless browser
//! (Chromium): it names the program and the SDK's version, links the four endpoints with links
//! a browser follows, and says which need credentials.

use moai_test_support as common;

use common::browser::rendered_dom;
use common::temp_dir;
use moai_instrument::Config;

#[test]
fn the_landing_page_renders_in_a_browser_and_links_every_endpoint() {
    if !common::own_process() {
        return;
    }
    let guard = Config::new()
        .metrics_addr("127.0.0.1:0")
        .metrics_token("a-token")
        .log_dir(Some(temp_dir("landing-page")))
        .init()
        .unwrap();
    let base = format!("http://{}/", guard.metrics_addr().unwrap());
    let dom = rendered_dom(&base);
    let program = std::env::current_exe().unwrap();
    let program = program.file_stem().unwrap().to_string_lossy();
    assert!(
        dom.contains(&format!("<title>{program} exporter</title>")),
        "{dom}"
    );
    assert!(
        dom.contains(&format!("moai-instrument {}", env!("CARGO_PKG_VERSION"))),
        "{dom}"
    );
    for (path, says) in [
        ("metrics", "the metrics (needs a bearer token)"),
        ("livez", "liveness (open)"),
        ("readyz", "readiness (open)"),
        ("healthz", "every health check, as JSON (open)"),
    ] {
        assert!(
            dom.contains(&format!("<a href=\"{path}\">/{path}</a>: {says}")),
            "{path}: {dom}"
        );
    }
    // The links lead where they say: the browser loads each open one.
    let health = rendered_dom(&format!("{base}healthz"));
    assert!(health.contains("\"checks\""), "{health}");
    let live = rendered_dom(&format!("{base}livez"));
    assert!(live.contains("ok ("), "{live}");
}
