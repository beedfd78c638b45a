//! The reference app with `MOAI_WEB_CONFIG`, as an operator deploys it: the web config of
//! `deploy/k8s/web-config-secret.yaml` with the files cert-manager would project beside it, the
//! kubelet's probes of `deploy/k8s/secured-patch.yaml` (HTTPS, no certificate, no credentials),
//! `deploy/prometheus.yml`'s https job settings in a real Prometheus, and `moai-health` over
//! HTTPS (`--url`, `--diagnose`) naming TLS and authentication failures as such.

mod support;

use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

use moai_test_support::prometheus::Prometheus;
use moai_test_support::tls::{Authority, Pair, bcrypt_hash, https_get};
use serde_yaml_ng::Value;
use support::{Reaped, deploy_file, moai_health, start_app_with, temp_dir, wait_for};

const PASSWORD: &str = "correct horse battery staple";

/// The shipped web config, with its example hash replaced by one of [`PASSWORD`], in `dir`
/// beside `tls.crt`, `tls.key` and `ca.crt` (as the projected volume holds them); and the
/// client certificate Prometheus presents, from the same CA.
struct Deployed {
    dir: PathBuf,
    ca: PathBuf,
    prometheus_cert: Pair,
    web_config: PathBuf,
}

fn deploy_web_config(name: &str) -> Deployed {
    let dir = temp_dir(name);
    let authority = Authority::new(&dir, "issuer");
    let server = authority.issue("server", &["127.0.0.1"]);
    std::fs::rename(&server.cert, dir.join("tls.crt")).unwrap();
    std::fs::rename(&server.key, dir.join("tls.key")).unwrap();
    std::fs::copy(&authority.ca_file, dir.join("ca.crt")).unwrap();
    let prometheus_cert = authority.issue("prometheus", &["prometheus.monitoring.svc"]);
    let secret: Value = serde_yaml_ng::from_str(
        &std::fs::read_to_string(deploy_file("k8s/web-config-secret.yaml")).unwrap(),
    )
    .unwrap();
    let mut web: Value =
        serde_yaml_ng::from_str(secret["stringData"]["web.yml"].as_str().unwrap()).unwrap();
    web["basic_auth_users"]["prometheus"] = Value::String(bcrypt_hash(PASSWORD));
    let web_config = dir.join("web.yml");
    std::fs::write(&web_config, serde_yaml_ng::to_string(&web).unwrap()).unwrap();
    Deployed {
        ca: dir.join("ca.crt"),
        dir,
        prometheus_cert,
        web_config,
    }
}

fn start(deployed: &Deployed) -> (Reaped, std::net::SocketAddr) {
    let (app, addr) = start_app_with(
        &deployed.dir,
        "127.0.0.1:0",
        &["--agents", "2", "--rate", "20"],
        &[("MOAI_WEB_CONFIG", deployed.web_config.to_str().unwrap())],
    );
    (app, addr.parse().unwrap())
}

#[test]
fn the_shipped_manifests_and_prometheus_job_work_against_the_secured_app() {
    let deployed = deploy_web_config("secured-deploy");
    let (_app, addr) = start(&deployed);

    // The kubelet: the patch's probes over HTTPS, with no certificate and no credentials.
    let patch: Value = serde_yaml_ng::from_str(
        &std::fs::read_to_string(deploy_file("k8s/secured-patch.yaml")).unwrap(),
    )
    .unwrap();
    let container = &patch["spec"]["template"]["spec"]["containers"][0];
    let mount = container["volumeMounts"][0]["mountPath"].as_str().unwrap();
    let web_config = container["env"][0]["value"].as_str().unwrap();
    assert_eq!(container["env"][0]["name"], "MOAI_WEB_CONFIG");
    assert!(
        web_config.starts_with(mount),
        "{web_config} is in the mounted {mount}"
    );
    for probe in ["livenessProbe", "readinessProbe", "startupProbe"] {
        let get = &container[probe]["httpGet"];
        assert_eq!(get["scheme"], "HTTPS", "{probe}");
        let path = get["path"].as_str().unwrap();
        let reply = https_get(addr, path, &deployed.ca, None, None).unwrap();
        assert_eq!(reply.status, 200, "{probe} {path}: {reply:?}");
    }
    // The metrics need the user, whoever asks.
    let anonymous = https_get(addr, "/metrics", &deployed.ca, None, None).unwrap();
    assert_eq!(anonymous.status, 401);
    let headers = https_get(addr, "/livez", &deployed.ca, None, None)
        .unwrap()
        .head;
    assert!(
        headers.contains("Strict-Transport-Security: max-age=31536000"),
        "{headers}"
    );

    // Prometheus with deploy/prometheus.yml's https job settings, their files made here.
    let shipped = std::fs::read_to_string(deploy_file("prometheus.yml")).unwrap();
    let block = shipped
        .split("# --- https job settings ---\n")
        .nth(1)
        .and_then(|rest| rest.split("    # --- end ---").next())
        .expect("prometheus.yml has the https job settings");
    let password_file = deployed.dir.join("moai-flow-password");
    std::fs::write(&password_file, format!("{PASSWORD}\n")).unwrap();
    let settings: String = block
        .lines()
        .map(|line| {
            let line = line.trim_start().trim_start_matches('#');
            let line = line.strip_prefix(' ').unwrap_or(line);
            format!("    {line}\n")
        })
        .filter(|line| !line.trim_start().starts_with('#'))
        .collect::<String>()
        .replace(
            "/etc/prometheus/secrets/moai-flow-ca.crt",
            deployed.ca.to_str().unwrap(),
        )
        .replace(
            "/etc/prometheus/secrets/prometheus.crt",
            deployed.prometheus_cert.cert.to_str().unwrap(),
        )
        .replace(
            "/etc/prometheus/secrets/prometheus.key",
            deployed.prometheus_cert.key.to_str().unwrap(),
        )
        .replace(
            "/etc/prometheus/secrets/moai-flow-password",
            password_file.to_str().unwrap(),
        );
    assert!(
        settings.contains("scheme: https") && settings.contains("password_file"),
        "{settings}"
    );
    let prometheus = Prometheus::start_with("moai-flow", addr, &settings).expect("prometheus");
    wait_for("the https job up", Duration::from_secs(20), || {
        (prometheus.value("up{job=\"moai-flow\"}") == Some(1.0)).then_some(())
    });
    wait_for(
        "the app's events in Prometheus",
        Duration::from_secs(20),
        || {
            prometheus
                .value("sum(moai_flow_events_total{job=\"moai-flow\"})")
                .filter(|v| *v > 0.0)
        },
    );
}

/// `moai-health` with `args` (SSL_CERT_FILE cleared, so only `--ca-file` is trusted): exit code
/// and stdout and stderr together.
fn health(args: &[&str]) -> (Option<i32>, String) {
    let output = Command::new(moai_health())
        .args(args)
        .env_remove("SSL_CERT_FILE")
        .env_remove("MOAI_METRICS_TOKEN")
        .output()
        .expect("moai-health runs");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    (output.status.code(), text)
}

#[test]
fn moai_health_asks_a_secured_app_over_https_and_names_tls_and_auth_failures() {
    let deployed = deploy_web_config("secured-health");
    // The exec-probe setup: a client certificate required of everyone.
    let web = std::fs::read_to_string(&deployed.web_config)
        .unwrap()
        .replace("VerifyClientCertIfGiven", "RequireAndVerifyClientCert");
    std::fs::write(&deployed.web_config, web).unwrap();
    let (_app, addr) = start(&deployed);
    let url = format!("https://{addr}");
    let ca = deployed.ca.to_str().unwrap();
    let cert = deployed.prometheus_cert.cert.to_str().unwrap();
    let key = deployed.prometheus_cert.key.to_str().unwrap();
    let tls = ["--ca-file", ca, "--cert-file", cert, "--key-file", key];

    for mode in ["--live", "--ready"] {
        let (code, text) = health(&[&["--url", &url, mode][..], &tls].concat());
        assert_eq!(code, Some(0), "{mode}: {text}");
    }
    let (code, text) = health(&["--url", &url, "--live", "--ca-file", ca]);
    assert_eq!(code, Some(1), "{text}");
    assert!(text.contains("TLS failed"), "no client certificate: {text}");
    let (code, text) = health(&[
        "--url",
        &url,
        "--live",
        "--cert-file",
        cert,
        "--key-file",
        key,
    ]);
    assert_eq!(code, Some(1), "{text}");
    assert!(text.contains("TLS failed"), "an untrusted server: {text}");
    let (code, text) = health(&["--url", &format!("http://{addr}"), "--live"]);
    assert_eq!(code, Some(1), "{text}");
    assert!(text.contains("HTTP request to an HTTPS server"), "{text}");
    let other = Authority::new(&deployed.dir, "other").issue("other", &["127.0.0.1"]);
    let (code, text) = health(&[
        "--url",
        &url,
        "--live",
        "--ca-file",
        ca,
        "--cert-file",
        cert,
        "--key-file",
        other.key.to_str().unwrap(),
    ]);
    assert_eq!(code, Some(2), "{text}");
    assert!(text.contains("does not go with --cert-file"), "{text}");
    let (code, text) = health(&["--url", &url, "--live", "--cert-file", cert]);
    assert_eq!(code, Some(2), "{text}");
    assert!(
        text.contains("--cert-file and --key-file go together"),
        "{text}"
    );

    // --diagnose: the exporter finding passes with the credentials, and says which part failed.
    let good = deployed.dir.join("password");
    std::fs::write(&good, PASSWORD).unwrap();
    let wrong = deployed.dir.join("wrong-password");
    std::fs::write(&wrong, "guess").unwrap();
    let metrics_url = format!("{url}/metrics");
    let diagnose = |extra: &[&str]| {
        let args = [
            &["--diagnose", "--metrics-url", &metrics_url][..],
            &[
                "--prometheus",
                "http://127.0.0.1:1",
                "--alertmanager",
                "http://127.0.0.1:1",
            ],
            extra,
        ]
        .concat();
        let (_, text) = health(&args);
        text.lines()
            .skip_while(|l| !l.contains(" exporter reachable: "))
            .take(2)
            .collect::<Vec<_>>()
            .join("\n")
    };
    let user = [
        "--basic-auth-user",
        "prometheus",
        "--basic-auth-password-file",
    ];
    let finding = diagnose(&[&tls[..], &user, &[good.to_str().unwrap()]].concat());
    assert!(finding.trim_start().starts_with('✅'), "{finding}");
    let finding = diagnose(&[&tls[..], &user, &[wrong.to_str().unwrap()]].concat());
    assert!(
        finding.contains("401: authentication failed") && finding.contains("--basic-auth-user"),
        "{finding}"
    );
    let finding = diagnose(&[&["--ca-file", ca][..], &user, &[good.to_str().unwrap()]].concat());
    assert!(
        finding.contains("TLS failed") && finding.contains("--ca-file"),
        "{finding}"
    );
}
