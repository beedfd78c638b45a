//! `MOAI_WEB_CONFIG`: the exporter secured as exporter-toolkit's web config says (TLS, client
//! certificates, basic auth, headers), scraped by a real Prometheus over TLS with basic auth and
//! a client certificate, credentials and certificates rotated while the app runs, and broken
//! files refused at start (naming the key) or, later, kept out while the last good one serves.

use std::path::{Path, PathBuf};
use std::time::Duration;

use moai_test_support as common;

use common::prometheus::Prometheus;
use common::tls::{Authority, Pair, Reply, basic_auth, bcrypt_hash, https_get, self_signed};
use common::{files_text, http, temp_dir, wait_for};
use moai_instrument::Config;

/// A server CA with a certificate for 127.0.0.1, a client CA with a client certificate, and a
/// self-signed client certificate no CA vouches for.
struct Pki {
    dir: PathBuf,
    server_ca: Authority,
    server: Pair,
    client_ca: Authority,
    client: Pair,
    stranger: Pair,
}

fn pki(name: &str) -> Pki {
    let dir = temp_dir(name);
    let server_ca = Authority::new(&dir, "server");
    let server = server_ca.issue("server", &["127.0.0.1", "localhost"]);
    let client_ca = Authority::new(&dir, "clients");
    let client = client_ca.issue("prometheus", &["prometheus.monitoring.svc"]);
    let stranger = self_signed(&dir, "stranger", &["prometheus.monitoring.svc"]);
    Pki {
        dir,
        server_ca,
        server,
        client_ca,
        client,
        stranger,
    }
}

/// Writes the web config the way an operator edits it: a new file renamed over the old one.
fn write_config(file: &Path, yaml: &str) {
    let next = file.with_extension("next");
    std::fs::write(&next, yaml).unwrap();
    std::fs::rename(&next, file).unwrap();
}

fn tls_section(pki: &Pki, client_auth: &str) -> String {
    let mut yaml = format!(
        "tls_server_config:\n  cert_file: {}\n  key_file: {}\n",
        pki.server.cert.file_name().unwrap().to_str().unwrap(),
        pki.server.key.display()
    );
    if client_auth != "NoClientCert" {
        yaml.push_str(&format!(
            "  client_auth_type: {client_auth}\n  client_ca_file: {}\n",
            pki.client_ca.ca_file.display()
        ));
    }
    yaml
}

fn users(user: &str, password: &str) -> String {
    format!("basic_auth_users:\n  {user}: '{}'\n", bcrypt_hash(password))
}

fn start(web_config: &Path, log_dir: &Path) -> moai_instrument::Guard {
    Config::new()
        .with_env(common::env_of(&[
            ("MOAI_METRICS_ADDR", "127.0.0.1:0"),
            ("MOAI_WEB_CONFIG", web_config.to_str().unwrap()),
        ]))
        .expect("valid settings")
        .log_dir(Some(log_dir))
        .init()
        .expect("init with the web config")
}

fn get(
    pki: &Pki,
    addr: std::net::SocketAddr,
    path: &str,
    client: Option<&Pair>,
    auth: Option<&str>,
) -> Result<Reply, String> {
    https_get(addr, path, &pki.server_ca.ca_file, client, auth)
}

#[test]
fn tls_client_certificates_and_basic_auth_guard_the_metrics_and_leave_the_probes_open() {
    if !common::own_process() {
        return;
    }
    let pki = pki("web-config-tls");
    let file = pki.dir.join("web.yml");
    write_config(
        &file,
        &format!(
            "{}{}http_server_config:\n  headers:\n    X-Frame-Options: deny\n",
            tls_section(&pki, "RequireAndVerifyClientCert"),
            users("prometheus", "first password")
        ),
    );
    let guard = start(&file, &pki.dir.join("logs"));
    let addr = guard.metrics_addr().unwrap();
    let client = Some(&pki.client);
    let right = basic_auth("prometheus", "first password");

    let reply = get(&pki, addr, "/metrics", client, Some(&right)).unwrap();
    assert_eq!(reply.status, 200, "{reply:?}");
    assert!(reply.body.contains("moai_flow_build_info"));
    assert!(
        reply
            .body
            .contains("moai_instrument_web_config_last_reload_successful 1"),
        "the reload gauge is there from the start"
    );
    assert!(
        reply.head.contains("X-Frame-Options: deny"),
        "{}",
        reply.head
    );

    for auth in [
        None,
        Some(basic_auth("prometheus", "first passwor")),
        Some(basic_auth("someone", "first password")),
        Some("Bearer first password".to_owned()),
    ] {
        let reply = get(&pki, addr, "/metrics", client, auth.as_deref()).unwrap();
        assert_eq!(reply.status, 401, "{auth:?}: {reply:?}");
        assert!(
            reply.head.contains("WWW-Authenticate: Basic"),
            "{}",
            reply.head
        );
        assert!(!reply.body.contains("moai_flow"), "a 401 reveals nothing");
    }
    // The scheme in any case.
    let lower = right.replacen("Basic", "basic", 1);
    assert_eq!(
        get(&pki, addr, "/metrics", client, Some(&lower))
            .unwrap()
            .status,
        200
    );

    // The kubelet needs no password (over TLS, with the certificate the server requires).
    for probe in ["/livez", "/readyz", "/healthz"] {
        let reply = get(&pki, addr, probe, client, None).unwrap();
        assert_eq!(reply.status, 200, "{probe}: {reply:?}");
    }
    let page = get(&pki, addr, "/", client, None).unwrap();
    assert_eq!(page.status, 200);
    assert!(
        page.head.contains("Content-Type: text/html"),
        "{}",
        page.head
    );
    assert!(
        page.body
            .contains("/metrics</a>: the metrics (needs a basic-auth user)")
            && page.body.contains("/livez</a>: liveness (open)"),
        "{}",
        page.body
    );

    // No certificate, or one from no trusted CA: no TLS session, no answer.
    for (who, cert) in [("none", None), ("self-signed", Some(&pki.stranger))] {
        let refused = get(&pki, addr, "/metrics", cert, Some(&right));
        assert!(refused.is_err(), "{who}: {refused:?}");
    }
    // Plain HTTP on the TLS port: told so, in plain HTTP, and no metrics.
    let (status, _, body) = http(addr, "GET", "/metrics", &[("Authorization", &right)]);
    assert_eq!(status, 400);
    assert!(body.contains("HTTP request to an HTTPS server"), "{body}");
    assert!(!body.contains("moai_flow"));
}

#[test]
fn credentials_client_auth_and_certificates_rotate_without_a_restart() {
    if !common::own_process() {
        return;
    }
    let pki = pki("web-config-rotate");
    let file = pki.dir.join("web.yml");
    write_config(
        &file,
        &format!(
            "{}{}",
            tls_section(&pki, "NoClientCert"),
            users("prometheus", "old")
        ),
    );
    let logs = pki.dir.join("logs");
    let guard = start(&file, &logs);
    let addr = guard.metrics_addr().unwrap();
    let (old, new) = (
        basic_auth("prometheus", "old"),
        basic_auth("prometheus", "new"),
    );
    assert_eq!(
        get(&pki, addr, "/metrics", None, Some(&old))
            .unwrap()
            .status,
        200
    );
    let first_cert = get(&pki, addr, "/livez", None, None).unwrap().server_cert;

    // A new password and a client certificate required: the next connection follows.
    write_config(
        &file,
        &format!(
            "{}{}",
            tls_section(&pki, "RequireAndVerifyClientCert"),
            users("prometheus", "new")
        ),
    );
    let client = Some(&pki.client);
    assert_eq!(
        get(&pki, addr, "/metrics", client, Some(&old))
            .unwrap()
            .status,
        401
    );
    let reply = get(&pki, addr, "/metrics", client, Some(&new)).unwrap();
    assert_eq!(reply.status, 200, "{reply:?}");
    assert!(
        get(&pki, addr, "/metrics", None, Some(&new)).is_err(),
        "a client without a certificate is refused"
    );

    // A renewed server certificate, written over the old files: served from the next connection.
    let renewed = pki.server_ca.issue("server-renewed", &["127.0.0.1"]);
    std::fs::copy(&renewed.key, &pki.server.key).unwrap();
    std::fs::copy(&renewed.cert, &pki.server.cert).unwrap();
    let reply = get(&pki, addr, "/metrics", client, Some(&new)).unwrap();
    assert_eq!(reply.status, 200);
    assert!(
        reply.server_cert != first_cert,
        "the renewed certificate is served: {}",
        files_text(&logs)
            .lines()
            .filter(|l| l.contains("eb config"))
            .collect::<Vec<_>>()
            .join("\n")
    );

    // Broken later: the last good configuration keeps serving, and the app says so.
    let broken = tls_section(&pki, "NoClientCert") + "  client_auth_type: Sometimes\n";
    write_config(&file, &broken);
    let reply = get(&pki, addr, "/metrics", client, Some(&new)).unwrap();
    assert_eq!(reply.status, 200, "{reply:?}");
    assert!(
        reply
            .body
            .contains("moai_instrument_web_config_last_reload_successful 0"),
        "{}",
        reply.body
    );
    wait_for(
        "an ERROR line naming the key",
        Duration::from_secs(5),
        || {
            let text = files_text(&logs);
            (text.contains("keeps the last good one") && text.contains("client_auth_type"))
                .then_some(())
        },
    );
    // Mended: in use again.
    let good = format!(
        "{}{}",
        tls_section(&pki, "NoClientCert"),
        users("prometheus", "new")
    );
    write_config(&file, &good);
    let reply = get(&pki, addr, "/metrics", None, Some(&new)).unwrap();
    assert!(
        reply
            .body
            .contains("moai_instrument_web_config_last_reload_successful 1")
    );

    // Emptied, or half-written without its users or its TLS: refused while running, so the
    // metrics never open up; TLS and the password stay as they were.
    for (lowered, says) in [
        (String::new(), "it turns TLS off"),
        (
            tls_section(&pki, "NoClientCert"),
            "it removes every basic_auth_users user",
        ),
        (users("prometheus", "new"), "it turns TLS off"),
    ] {
        write_config(&file, &lowered);
        let reply = get(&pki, addr, "/metrics", None, None).unwrap();
        assert_eq!(reply.status, 401, "{lowered:?} opened the metrics");
        assert_eq!(
            get(&pki, addr, "/metrics", None, Some(&new))
                .unwrap()
                .status,
            200
        );
        let (status, _, _) = http(addr, "GET", "/metrics", &[]);
        assert_eq!(status, 400, "still TLS");
        wait_for(says, Duration::from_secs(5), || {
            files_text(&logs).contains(says).then_some(())
        });
        write_config(&file, &good);
        get(&pki, addr, "/livez", None, None).unwrap();
    }
}

#[test]
fn a_file_that_cannot_be_used_stops_the_start_naming_the_key() {
    if !common::own_process() {
        return;
    }
    let pki = pki("web-config-broken");
    let other = Authority::new(&pki.dir, "other").issue("other", &["127.0.0.1"]);
    let tls = tls_section(&pki, "NoClientCert");
    let mismatched = format!(
        "tls_server_config:\n  cert_file: {}\n  key_file: {}\n",
        pki.server.cert.display(),
        other.key.display()
    );
    let encrypted = pki.dir.join("encrypted.key");
    std::fs::write(
        &encrypted,
        "-----BEGIN ENCRYPTED PRIVATE KEY-----\nMIIBvTBXBgkqhkiG9w0BBQ0wSjApBgkqhkiG9w0BBQwwHAQI\n-----END ENCRYPTED PRIVATE KEY-----\n",
    )
    .unwrap();
    let encrypted_key = format!(
        "tls_server_config:\n  cert_file: {}\n  key_file: {}\n",
        pki.server.cert.display(),
        encrypted.display()
    );
    let corrupt = pki.dir.join("corrupt.crt");
    std::fs::write(
        &corrupt,
        "-----BEGIN CERTIFICATE-----\nAAAAAAAAAAAAAAAAAAAAAAAA\n-----END CERTIFICATE-----\n",
    )
    .unwrap();
    let corrupt_cert = format!(
        "tls_server_config:\n  cert_file: {}\n  key_file: {}\n",
        corrupt.display(),
        pki.server.key.display()
    );
    let cases = [
        (
            "tls_server_config:\n  cert_flie: a.crt\n".to_owned(),
            "tls_server_config: unknown field `cert_flie`",
        ),
        (
            format!("{tls}  client_auth_type: Sometimes\n"),
            "tls_server_config.client_auth_type",
        ),
        (
            "tls_server_config:\n  cert_file: missing.crt\n  key_file: missing.key\n".to_owned(),
            "tls_server_config.cert_file",
        ),
        (mismatched, "tls_server_config.key_file"),
        (
            format!(
                "{tls}  client_ca_file: {}\n",
                pki.client_ca.ca_file.display()
            ),
            "tls_server_config.client_auth_type",
        ),
        (
            format!("{tls}  client_auth_type: RequireAndVerifyClientCert\n"),
            "tls_server_config.client_ca_file",
        ),
        (
            format!("{tls}  min_version: TLS10\n"),
            "tls_server_config.min_version",
        ),
        (
            format!("{tls}  cipher_suites: [TLS_RSA_WITH_RC4_128_SHA]\n"),
            "tls_server_config.cipher_suites",
        ),
        (
            "basic_auth_users:\n  alice: plain-text\n".to_owned(),
            "basic_auth_users.alice",
        ),
        (
            "http_server_config:\n  headers:\n    Server: moai\n".to_owned(),
            "http_server_config.headers.Server",
        ),
        (
            "rate_limit:\n  interval: 1s\n  burst: 0\n".to_owned(),
            "rate_limit.burst",
        ),
        ("tls_server_config: [\n".to_owned(), "line 1"),
        (
            "basic_auth_users:\n  bob: 12\n".to_owned(),
            "basic_auth_users",
        ),
        (
            format!(
                "{tls}  max_version: TLS12\n  cipher_suites: [TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256]\n"
            ),
            "tls_server_config.cipher_suites",
        ),
        (encrypted_key, "encrypted"),
        (corrupt_cert, "not a valid X.509 certificate"),
    ];
    let file = pki.dir.join("web.yml");
    for (yaml, named) in cases {
        write_config(&file, &yaml);
        let err = Config::new()
            .metrics_addr("127.0.0.1:0")
            .log_dir(None::<&str>)
            .web_config(&file)
            .build()
            .err()
            .unwrap_or_else(|| panic!("{yaml} starts"));
        let text = format!("{err:?}");
        assert!(
            text.contains("MOAI_WEB_CONFIG") && text.contains(named),
            "{yaml}: {text}"
        );
        assert!(
            !text.contains("PRIVATE KEY"),
            "no key material in errors: {text}"
        );
        assert!(
            err.to_string().contains(file.to_str().unwrap()),
            "Display names the file: {err}"
        );
    }
    let missing = Config::new()
        .metrics_addr("127.0.0.1:0")
        .log_dir(None::<&str>)
        .web_config(pki.dir.join("absent.yml"))
        .build()
        .err()
        .unwrap();
    assert!(format!("{missing:?}").contains("absent.yml"), "{missing:?}");
    // Nothing was left bound or installed: a good file starts.
    write_config(&file, &tls);
    assert!(
        Config::new()
            .metrics_addr("127.0.0.1:0")
            .log_dir(None::<&str>)
            .web_config(&file)
            .build()
            .is_ok()
    );
}

#[test]
fn prometheus_scrapes_over_tls_with_basic_auth_and_a_client_certificate() {
    if !common::own_process() {
        return;
    }
    let pki = pki("web-config-prometheus");
    let file = pki.dir.join("web.yml");
    write_config(
        &file,
        &format!(
            "{}{}",
            tls_section(&pki, "RequireAndVerifyClientCert"),
            users("prometheus", "scrape-1")
        ),
    );
    let guard = start(&file, &pki.dir.join("logs"));
    let addr = guard.metrics_addr().unwrap();
    let password_file = pki.dir.join("prometheus-password");
    std::fs::write(&password_file, "scrape-1\n").unwrap();
    let job = format!(
        "    scheme: https\n    tls_config:\n      ca_file: {}\n      cert_file: {}\n      key_file: {}\n\
         \x20   basic_auth:\n      username: prometheus\n      password_file: {}\n",
        pki.server_ca.ca_file.display(),
        pki.client.cert.display(),
        pki.client.key.display(),
        password_file.display()
    );
    let prometheus = Prometheus::start_with("secured", addr, &job).expect("prometheus");
    let up = |want: f64, what: &str| {
        wait_for(what, Duration::from_secs(20), || {
            (prometheus.value("up{job=\"secured\"}") == Some(want)).then_some(())
        })
    };
    up(
        1.0,
        "the target up over TLS with basic auth and a client certificate",
    );
    wait_for(
        "the app's series in Prometheus",
        Duration::from_secs(10),
        || (prometheus.value("moai_flow_build_info{job=\"secured\"}") == Some(1.0)).then_some(()),
    );

    // The password rotates in the app's web config: Prometheus' old one is refused...
    write_config(
        &file,
        &format!(
            "{}{}",
            tls_section(&pki, "RequireAndVerifyClientCert"),
            users("prometheus", "scrape-2")
        ),
    );
    up(0.0, "the old password refused");
    let error = prometheus.target("secured").unwrap()["lastError"].to_string();
    assert!(error.contains("401"), "{error}");
    // ...until its password_file has the new one: neither side restarted.
    std::fs::write(&password_file, "scrape-2\n").unwrap();
    up(1.0, "the new password accepted");
}

#[test]
fn each_client_auth_type_means_what_it_means_in_exporter_toolkit() {
    if !common::own_process() {
        return;
    }
    let pki = pki("web-config-client-auth");
    let file = pki.dir.join("web.yml");
    write_config(&file, &tls_section(&pki, "NoClientCert"));
    let guard = Config::new()
        .with_env(common::env_of(&[
            ("MOAI_METRICS_ADDR", "127.0.0.1:0"),
            ("MOAI_WEB_CONFIG", file.to_str().unwrap()),
            ("MOAI_METRICS_TOKEN", "a-bearer-token"),
        ]))
        .unwrap()
        .log_dir(Some(pki.dir.join("logs")))
        .init()
        .unwrap();
    let addr = guard.metrics_addr().unwrap();
    // Which of: no certificate, one from the client CA, a self-signed one, gets a session.
    let expectations = [
        ("NoClientCert", "", [true, true, true]),
        ("RequestClientCert", "", [true, true, true]),
        ("RequireAnyClientCert", "", [false, true, true]),
        ("VerifyClientCertIfGiven", "", [true, true, false]),
        ("RequireAndVerifyClientCert", "", [false, true, false]),
        (
            "RequireAndVerifyClientCert",
            "  client_allowed_sans: [other.example]\n",
            [false, false, false],
        ),
        (
            "RequireAndVerifyClientCert",
            "  client_allowed_sans: [other.example, prometheus.monitoring.svc]\n",
            [false, true, false],
        ),
    ];
    for (auth, extra, expected) in expectations {
        let mut yaml = tls_section(&pki, auth);
        if matches!(auth, "RequestClientCert" | "RequireAnyClientCert") {
            // These check no CA: the section names none.
            yaml = yaml.replace(
                &format!("  client_ca_file: {}\n", pki.client_ca.ca_file.display()),
                "",
            );
        }
        write_config(&file, &format!("{yaml}{extra}"));
        for (client, want) in [None, Some(&pki.client), Some(&pki.stranger)]
            .into_iter()
            .zip(expected)
        {
            let reply = get(&pki, addr, "/livez", client, None);
            assert_eq!(
                reply.as_ref().map(|r| r.status).ok(),
                want.then_some(200),
                "{auth} {extra}, client {:?}: {reply:?}",
                client.map(|c| &c.cert)
            );
        }
    }
    // The bearer token and the basic-auth users each let a scrape in.
    write_config(
        &file,
        &format!(
            "{}{}",
            tls_section(&pki, "NoClientCert"),
            users("prometheus", "pw")
        ),
    );
    for auth in ["Bearer a-bearer-token", &basic_auth("prometheus", "pw")] {
        let reply = get(&pki, addr, "/metrics", None, Some(auth)).unwrap();
        assert_eq!(reply.status, 200, "{auth}");
    }
    let refused = get(&pki, addr, "/metrics", None, None).unwrap();
    assert_eq!(refused.status, 401);
    assert!(
        refused.head.contains("WWW-Authenticate: Basic")
            && refused.head.contains("WWW-Authenticate: Bearer"),
        "{}",
        refused.head
    );
}

#[test]
fn stalled_tls_handshakes_cost_no_worker_and_are_cut_off() {
    use std::io::{Read, Write};
    use std::net::TcpStream;
    if !common::own_process() {
        return;
    }
    let pki = pki("web-config-stalled");
    let file = pki.dir.join("web.yml");
    write_config(&file, &tls_section(&pki, "NoClientCert"));
    let guard = start(&file, &pki.dir.join("logs"));
    let addr = guard.metrics_addr().unwrap();
    // 200 connections that never speak, and 50 that stop inside their ClientHello.
    let idle: Vec<TcpStream> = (0..200)
        .map(|_| TcpStream::connect(addr).unwrap())
        .collect();
    let stalled: Vec<TcpStream> = (0..50)
        .map(|_| {
            let mut tcp = TcpStream::connect(addr).unwrap();
            tcp.write_all(&[0x16, 0x03, 0x01, 0x02, 0x00, 0x01, 0x00])
                .unwrap();
            tcp
        })
        .collect();
    let started = std::time::Instant::now();
    for _ in 0..10 {
        let reply = get(&pki, addr, "/livez", None, None).unwrap();
        assert_eq!(reply.status, 200);
    }
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "probes answer beside stalled handshakes: {:?}",
        started.elapsed()
    );
    // The head deadline (5 s) covers the handshake: a stalled one is closed.
    let mut one = stalled.into_iter().next().unwrap();
    one.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let mut rest = Vec::new();
    let closed = one.read_to_end(&mut rest);
    let timed_out = closed.as_ref().is_err_and(|e| {
        matches!(
            e.kind(),
            std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
        )
    });
    assert!(!timed_out, "closed by the server: {closed:?}");
    assert!(
        started.elapsed() < Duration::from_secs(9),
        "closed at the deadline: {:?}",
        started.elapsed()
    );
    drop(idle);
}

#[test]
fn a_hosts_own_router_gets_the_users_headers_and_rate_limit() {
    if !common::own_process() {
        return;
    }
    let dir = temp_dir("web-config-routes");
    let file = dir.join("web.yml");
    write_config(
        &file,
        &format!(
            "{}http_server_config:\n  headers:\n    X-Content-Type-Options: nosniff\n\
             rate_limit:\n  interval: 1h\n  burst: 3\n",
            users("prometheus", "pw")
        ),
    );
    let (_layer, guard) = Config::new()
        .metrics_addr("none")
        .log_dir(None::<&str>)
        .web_config(&file)
        .build()
        .unwrap();
    let routes = guard.routes();
    let request = |auth: Option<&str>| {
        let mut builder = moai_instrument::http::Request::get("/metrics");
        if let Some(auth) = auth {
            builder = builder.header("Authorization", auth);
        }
        routes.handle(&builder.body(()).unwrap())
    };
    let refused = request(None);
    assert_eq!(refused.status(), 401);
    assert_eq!(refused.headers()["x-content-type-options"], "nosniff");
    let allowed = request(Some(&basic_auth("prometheus", "pw")));
    assert_eq!(allowed.status(), 200);
    assert!(String::from_utf8_lossy(allowed.body()).contains("moai_flow_build_info"));
    // Three scrapes in the burst (the refused one did not count), then 429 until the interval
    // refills it; probes are not limited.
    assert_eq!(request(Some(&basic_auth("prometheus", "pw"))).status(), 200);
    assert_eq!(request(Some(&basic_auth("prometheus", "pw"))).status(), 200);
    assert_eq!(request(Some(&basic_auth("prometheus", "pw"))).status(), 429);
    let probe = moai_instrument::http::Request::get("/livez")
        .body(())
        .unwrap();
    assert_eq!(routes.handle(&probe).status(), 200);
}

#[test]
fn a_flood_of_wrong_passwords_holds_no_worker_and_cached_scrapes_stay_fast() {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicBool, Ordering};
    if !common::own_process() {
        return;
    }
    let pki = pki("web-config-flood");
    let file = pki.dir.join("web.yml");
    // A realistic cost: each uncached comparison takes tens of milliseconds or more.
    let hash = bcrypt::hash("right", 10).unwrap();
    write_config(
        &file,
        &format!(
            "{}basic_auth_users:\n  prometheus: '{hash}'\n",
            tls_section(&pki, "NoClientCert")
        ),
    );
    let guard = start(&file, &pki.dir.join("logs"));
    let addr = guard.metrics_addr().unwrap();
    let right = basic_auth("prometheus", "right");
    // Once, so that the scraper's password is cached.
    assert_eq!(
        get(&pki, addr, "/metrics", None, Some(&right))
            .unwrap()
            .status,
        200
    );
    let stop = Arc::new(AtomicBool::new(false));
    let attackers: Vec<_> = (0..16)
        .map(|n| {
            let (stop, ca) = (Arc::clone(&stop), pki.server_ca.ca_file.clone());
            std::thread::spawn(move || {
                let mut i = 0;
                while !stop.load(Ordering::Relaxed) && i < 200 {
                    let guess = basic_auth("prometheus", &format!("guess-{n}-{i}"));
                    let reply = https_get(addr, "/metrics", &ca, None, Some(&guess));
                    assert!(reply.is_err() || matches!(reply.unwrap().status, 401 | 429));
                    i += 1;
                }
            })
        })
        .collect();
    std::thread::sleep(Duration::from_millis(300));
    let mut slowest = Duration::ZERO;
    for _ in 0..10 {
        let started = std::time::Instant::now();
        let reply = get(&pki, addr, "/metrics", None, Some(&right)).unwrap();
        assert_eq!(reply.status, 200);
        slowest = slowest.max(started.elapsed());
    }
    stop.store(true, Ordering::Relaxed);
    for attacker in attackers {
        attacker.join().unwrap();
    }
    assert!(
        slowest < Duration::from_secs(1),
        "a cached scrape during the flood took {slowest:?}"
    );
}
