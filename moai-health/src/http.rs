//! GETs for `--url` and `--diagnose`, through `ureq`: a time limit on every request, 4xx/5xx
//! answers returned as answers (a 503 from `/readyz` is a result, not a failure), and for an
//! exporter secured by a web config, HTTPS (rustls: `--ca-file`, a client certificate) and basic
//! auth. A TLS failure is reported as one, in words.

use std::path::Path;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use base64::Engine;
use ureq::tls::{Certificate, ClientCert, PemItem, PrivateKey, RootCerts, TlsConfig};

/// Each request, connect to last byte, takes at most this long.
const TIMEOUT: Duration = Duration::from_secs(5);
/// Bodies larger than this are cut off (a scrape of a big app is a few hundred KB).
const MAX_BODY: u64 = 16 * 1024 * 1024;
/// Where Debian and its descendants keep the system's CA certificates (`SSL_CERT_FILE` first).
const SYSTEM_CA_FILE: &str = "/etc/ssl/certs/ca-certificates.crt";

/// How to reach a secured exporter: the command line's TLS and basic-auth options.
#[derive(Default, Debug)]
pub(crate) struct Access {
    pub ca_file: Option<String>,
    pub cert_file: Option<String>,
    pub key_file: Option<String>,
    pub basic_auth_user: Option<String>,
    pub basic_auth_password_file: Option<String>,
}

struct Client {
    agent: ureq::Agent,
    /// `Basic ...`, when a user is given.
    basic: Option<String>,
}

static CLIENT: OnceLock<Client> = OnceLock::new();

/// Sets up the client from the command line's options, once; `Err` names the option and the
/// file that cannot be used.
pub(crate) fn configure(access: &Access) -> Result<(), String> {
    let client = Client::new(access)?;
    let _ = CLIENT.set(client);
    Ok(())
}

fn read(flag: &str, path: &str) -> Result<Vec<u8>, String> {
    std::fs::read(path).map_err(|e| format!("{flag} {path}: {}", moai_instrument::error_chain(&e)))
}

fn certificates(flag: &str, path: &str) -> Result<Vec<Certificate<'static>>, String> {
    let pem = read(flag, path)?;
    let mut certs = Vec::new();
    for item in ureq::tls::parse_pem(&pem) {
        match item {
            Ok(PemItem::Certificate(cert)) => certs.push(cert),
            Ok(_) => {}
            Err(e) => return Err(format!("{flag} {path}: not PEM: {e}")),
        }
    }
    if certs.is_empty() {
        return Err(format!("{flag} {path}: holds no PEM certificate"));
    }
    Ok(certs)
}

impl Client {
    fn new(access: &Access) -> Result<Client, String> {
        let ca_file = access.ca_file.clone().or_else(|| {
            std::env::var("SSL_CERT_FILE").ok().or_else(|| {
                Path::new(SYSTEM_CA_FILE)
                    .exists()
                    .then(|| SYSTEM_CA_FILE.into())
            })
        });
        let mut tls =
            TlsConfig::builder().unversioned_rustls_crypto_provider(Arc::new(ring_provider()));
        if let Some(ca_file) = &ca_file {
            tls = tls.root_certs(RootCerts::Specific(Arc::new(certificates(
                "--ca-file",
                ca_file,
            )?)));
        }
        match (&access.cert_file, &access.key_file) {
            (Some(cert_file), Some(key_file)) => {
                let chain = certificates("--cert-file", cert_file)?;
                let pem = read("--key-file", key_file)?;
                let key = PrivateKey::from_pem(&pem)
                    .map_err(|e| format!("--key-file {key_file}: not a PEM private key: {e}"))?;
                check_pair(cert_file, key_file, &chain, &pem)?;
                tls = tls.client_cert(Some(ClientCert::new_with_certs(&chain, key)));
            }
            (None, None) => {}
            _ => return Err("--cert-file and --key-file go together".into()),
        }
        let basic = match (&access.basic_auth_user, &access.basic_auth_password_file) {
            (Some(user), Some(file)) => {
                let password = String::from_utf8(read("--basic-auth-password-file", file)?)
                    .map_err(|_| format!("--basic-auth-password-file {file}: not UTF-8 text"))?;
                // As Prometheus reads `password_file`: the whole file, less a final newline.
                let password = password.trim_end_matches(['\n', '\r']);
                let pair =
                    base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"));
                Some(format!("Basic {pair}"))
            }
            (None, None) => None,
            _ => return Err("--basic-auth-user and --basic-auth-password-file go together".into()),
        };
        let agent = ureq::Agent::config_builder()
            .timeout_global(Some(TIMEOUT))
            .http_status_as_error(false)
            .tls_config(tls.build())
            .build()
            .into();
        Ok(Client { agent, basic })
    }
}

/// Whether the key goes with the certificate: refused here, in words, rather than by the TLS
/// client later.
fn check_pair(
    cert_file: &str,
    key_file: &str,
    chain: &[Certificate<'static>],
    key_pem: &[u8],
) -> Result<(), String> {
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::{CertificateDer, PrivateKeyDer};
    let key = PrivateKeyDer::from_pem_slice(key_pem)
        .map_err(|e| format!("--key-file {key_file}: not a PEM private key: {e}"))?;
    let chain: Vec<CertificateDer<'static>> = chain
        .iter()
        .map(|c| CertificateDer::from(c.der().to_vec()))
        .collect();
    rustls::sign::CertifiedKey::from_der(chain, key, &ring_provider())
        .map(drop)
        .map_err(|e| format!("--key-file {key_file} does not go with --cert-file {cert_file}: {e}"))
}

#[allow(deprecated)] // ring lacks only the post-quantum groups; see the SDK's web_config::tls.
fn ring_provider() -> rustls::crypto::CryptoProvider {
    rustls::crypto::ring::default_provider()
}

/// A status code and the body as text.
pub(crate) struct Answer {
    pub status: u16,
    pub body: String,
}

/// `GET url`, with the basic-auth user when one is configured, else `Authorization: Bearer
/// <token>` when a token is given. `Err` says why no answer came (refused, timed out, a TLS
/// failure, bad URL), in one line.
pub(crate) fn get(url: &str, bearer: Option<&str>) -> Result<Answer, String> {
    let client = match CLIENT.get() {
        Some(client) => client,
        None => {
            let _ = CLIENT.set(Client::new(&Access::default())?);
            CLIENT.get().ok_or("no HTTP client")?
        }
    };
    let mut request = client.agent.get(url);
    if let Some(basic) = &client.basic {
        request = request.header("Authorization", basic);
    } else if let Some(token) = bearer {
        request = request.header("Authorization", &format!("Bearer {token}"));
    }
    let mut response = request.call().map_err(|e| describe(&e))?;
    let status = response.status().as_u16();
    let body = response
        .body_mut()
        .with_config()
        .limit(MAX_BODY)
        .read_to_string()
        .map_err(|e| describe(&e))?;
    Ok(Answer { status, body })
}

/// The error in one line; a TLS failure (a handshake refused, a certificate not trusted, a
/// client certificate wanted) says so first.
fn describe(error: &ureq::Error) -> String {
    let chain = moai_instrument::error_chain(error);
    let tls = match error {
        ureq::Error::Rustls(_)
        | ureq::Error::Tls(_)
        | ureq::Error::Pem(_)
        | ureq::Error::TlsRequired => true,
        ureq::Error::Io(io) => io
            .get_ref()
            .is_some_and(|inner| inner.downcast_ref::<rustls::Error>().is_some()),
        _ => false,
    };
    if !tls {
        chain
    } else if chain.contains("InvalidContentType") || chain.contains("corrupt message") {
        format!("TLS failed: {chain} (the server does not speak TLS here: try http://)")
    } else {
        format!("TLS failed: {chain}")
    }
}

/// `base` without a trailing `/`, then `path`.
pub(crate) fn join(base: &str, path: &str) -> String {
    format!("{}{path}", base.trim_end_matches('/'))
}
