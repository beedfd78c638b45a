//! Certificates made by the test (rcgen): a CA, a server certificate for `127.0.0.1` and
//! `localhost`, client certificates from a client CA and from nowhere, written as PEM files; an
//! HTTPS client (rustls) that presents what a test asks for and says what the server sent back;
//! and bcrypt hashes for `basic_auth_users`.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use rcgen::{BasicConstraints, CertificateParams, CertifiedIssuer, IsCa, KeyPair};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};

/// A certificate and its key, as files.
#[derive(Clone, Debug)]
pub struct Pair {
    /// The certificate, PEM.
    pub cert: PathBuf,
    /// Its private key, PEM.
    pub key: PathBuf,
}

/// A CA and certificates from it, as PEM files in a directory.
pub struct Authority {
    issuer: CertifiedIssuer<'static, KeyPair>,
    dir: PathBuf,
    /// The CA certificate's file.
    pub ca_file: PathBuf,
}

impl Authority {
    /// A new CA named `name`, its certificate written to `dir/name-ca.crt`.
    pub fn new(dir: &Path, name: &str) -> Authority {
        let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params
            .distinguished_name
            .push(rcgen::DnType::CommonName, format!("{name} test CA"));
        let issuer = CertifiedIssuer::self_signed(params, KeyPair::generate().unwrap()).unwrap();
        let ca_file = dir.join(format!("{name}-ca.crt"));
        std::fs::write(&ca_file, issuer.pem()).unwrap();
        Authority {
            issuer,
            dir: dir.to_owned(),
            ca_file,
        }
    }

    /// A certificate for `names` (DNS names or IP addresses), written to `dir/file.crt` and
    /// `dir/file.key`.
    pub fn issue(&self, file: &str, names: &[&str]) -> Pair {
        let names: Vec<String> = names.iter().map(|n| n.to_string()).collect();
        let mut params = CertificateParams::new(names).unwrap();
        params
            .distinguished_name
            .push(rcgen::DnType::CommonName, file.to_owned());
        let key = KeyPair::generate().unwrap();
        let cert = params.signed_by(&key, &self.issuer).unwrap();
        write_pair(&self.dir, file, &cert.pem(), &key.serialize_pem())
    }
}

/// A self-signed certificate (from no CA a server would trust) for `names`.
pub fn self_signed(dir: &Path, file: &str, names: &[&str]) -> Pair {
    let names: Vec<String> = names.iter().map(|n| n.to_string()).collect();
    let key = KeyPair::generate().unwrap();
    let cert = CertificateParams::new(names)
        .unwrap()
        .self_signed(&key)
        .unwrap();
    write_pair(dir, file, &cert.pem(), &key.serialize_pem())
}

fn write_pair(dir: &Path, file: &str, cert: &str, key: &str) -> Pair {
    let pair = Pair {
        cert: dir.join(format!("{file}.crt")),
        key: dir.join(format!("{file}.key")),
    };
    std::fs::write(&pair.cert, cert).unwrap();
    std::fs::write(&pair.key, key).unwrap();
    pair
}

/// A bcrypt hash of `password` for `basic_auth_users` (cost 4: quick, and valid).
pub fn bcrypt_hash(password: &str) -> String {
    bcrypt::hash(password, 4).unwrap()
}

/// `Authorization: Basic ...` for `user` and `password`.
pub fn basic_auth(user: &str, password: &str) -> String {
    use base64::Engine;
    format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"))
    )
}

/// What an HTTPS request got back.
#[derive(Debug)]
pub struct Reply {
    /// The status code.
    pub status: u16,
    /// The response head, as sent.
    pub head: String,
    /// The body, as text.
    pub body: String,
    /// The server's certificate (DER), to tell one certificate from another.
    pub server_cert: Vec<u8>,
}

/// `GET path` over TLS to `addr`, trusting `ca_file`, presenting `client` when given and
/// `Authorization: authorization` when given. `Err` is the TLS or I/O failure in words.
pub fn https_get(
    addr: SocketAddr,
    path: &str,
    ca_file: &Path,
    client: Option<&Pair>,
    authorization: Option<&str>,
) -> Result<Reply, String> {
    let provider = Arc::new(ring_provider());
    let mut roots = rustls::RootCertStore::empty();
    for cert in CertificateDer::pem_file_iter(ca_file).unwrap() {
        roots.add(cert.unwrap()).unwrap();
    }
    let builder = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots);
    let config = match client {
        None => builder.with_no_client_auth(),
        Some(pair) => {
            let chain: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(&pair.cert)
                .unwrap()
                .map(Result::unwrap)
                .collect();
            let key = PrivateKeyDer::from_pem_file(&pair.key).unwrap();
            builder.with_client_auth_cert(chain, key).unwrap()
        }
    };
    let name = ServerName::try_from(addr.ip().to_string()).unwrap();
    let conn = rustls::ClientConnection::new(Arc::new(config), name).map_err(|e| e.to_string())?;
    let tcp =
        TcpStream::connect_timeout(&addr, Duration::from_secs(5)).map_err(|e| e.to_string())?;
    tcp.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let mut tls = rustls::StreamOwned::new(conn, tcp);
    let mut request = format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n");
    if let Some(value) = authorization {
        request.push_str(&format!("Authorization: {value}\r\n"));
    }
    request.push_str("\r\n");
    tls.write_all(request.as_bytes())
        .map_err(|e| e.to_string())?;
    let mut raw = Vec::new();
    match tls.read_to_end(&mut raw) {
        Ok(_) => {}
        // Some servers close without close_notify; what arrived is the answer.
        Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof && !raw.is_empty() => {}
        Err(e) => return Err(e.to_string()),
    }
    let server_cert = tls
        .conn
        .peer_certificates()
        .and_then(|certs| certs.first())
        .map(|c| c.to_vec())
        .unwrap_or_default();
    let text = String::from_utf8_lossy(&raw).into_owned();
    let (head, body) = text
        .split_once("\r\n\r\n")
        .ok_or_else(|| format!("no HTTP answer: {text:?}"))?;
    let status = head
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| format!("no status line: {head:?}"))?;
    Ok(Reply {
        status,
        head: head.to_owned(),
        body: body.to_owned(),
        server_cert,
    })
}

#[allow(deprecated)] // The SDK's provider (ring); see moai-instrument's web_config::tls.
fn ring_provider() -> rustls::crypto::CryptoProvider {
    rustls::crypto::ring::default_provider()
}
