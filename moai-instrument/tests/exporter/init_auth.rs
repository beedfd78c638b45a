//! With `MOAI_METRICS_TOKEN` set, `/metrics` needs `Authorization: Bearer <token>`; without it
//! the answer is 401 and reveals nothing. The health endpoints stay open for the kubelet.

use moai_test_support as common;

use common::{http, temp_dir};
use moai_instrument::Config;

#[test]
fn metrics_require_the_bearer_token_and_probes_do_not() {
    if !common::own_process() {
        return;
    }
    let guard = Config::new()
        .with_env(common::env_of(&[
            ("MOAI_METRICS_TOKEN", "s3cret-token"),
            ("MOAI_METRICS_ADDR", "127.0.0.1:0"),
        ]))
        .expect("valid settings")
        .log_dir(Some(temp_dir("auth")))
        .init()
        .expect("init");
    let addr = guard.metrics_addr().expect("the exporter listens");
    for headers in [
        &[][..],
        &[("Authorization", "Bearer wrong-token!")][..],
        &[("Authorization", "Bearer s3cret-toke")][..],
        &[("Authorization", "s3cret-token")][..],
        &[("Authorization", "Basic czNjcmV0LXRva2Vu")][..],
    ] {
        let (status, head, body) = http(addr, "GET", "/metrics", headers);
        assert_eq!(status, 401, "{headers:?}");
        assert!(head.contains("WWW-Authenticate: Bearer"), "{head}");
        assert!(
            !body.contains("moai_flow") && !body.contains("process_"),
            "a 401 reveals nothing: {body}"
        );
    }
    let (status, _, body) = http(
        addr,
        "GET",
        "/metrics",
        &[("Authorization", "Bearer s3cret-token")],
    );
    assert_eq!(status, 200);
    assert!(body.contains("moai_flow_build_info"));
    for probe in ["/livez", "/readyz", "/healthz"] {
        assert_eq!(http(addr, "GET", probe, &[]).0, 200, "{probe}");
    }
    let printed = format!("{:?}", Config::new().metrics_token("s3cret-token"));
    assert!(
        !printed.contains("s3cret"),
        "the token is never printed: {printed}"
    );
}
