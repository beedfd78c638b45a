//! `tls_server_config` as a rustls `ServerConfig`: TLS 1.2 and 1.3 through rustls and ring (no
//! OpenSSL), exporter-toolkit's five `client_auth_type`s, `client_allowed_sans`, and the
//! toolkit's names for versions, cipher suites and curves.

use std::path::Path;
use std::sync::Arc;

use rustls::client::danger::HandshakeSignatureValid;
use rustls::crypto::{CryptoProvider, WebPkiSupportedAlgorithms};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};
use rustls::server::WebPkiClientVerifier;
use rustls::server::danger::{ClientCertVerified, ClientCertVerifier};
use rustls::{
    DigitallySignedStruct, DistinguishedName, RootCertStore, ServerConfig, SignatureScheme,
};

use super::WebConfigError;
use super::file::{RawTls, resolve};
use super::watch::Fingerprint;

/// Builds the server's TLS configuration, reading the files it names (each stat'ed into
/// `seen` before it is read, so a later change is noticed).
pub(super) fn server_config(
    path: &Path,
    raw: &RawTls,
    seen: &mut Fingerprint,
) -> Result<Arc<ServerConfig>, WebConfigError> {
    let err = |key: &str, problem: String| tls_error(path, key, problem);
    let certs_pem = pem_source(
        path,
        ("cert", &raw.cert),
        ("cert_file", &raw.cert_file),
        seen,
    )?
    .ok_or_else(|| err("cert_file", "missing one of cert or cert_file".into()))?;
    let key_pem = pem_source(path, ("key", &raw.key), ("key_file", &raw.key_file), seen)?
        .ok_or_else(|| err("key_file", "missing one of key or key_file".into()))?;
    let (cert_key, key_key) = (certs_pem.key, key_pem.key);
    let certs = certificates(path, &certs_pem)?;
    webpki::EndEntityCert::try_from(&certs[0])
        .map_err(|e| err(cert_key, format!("not a valid X.509 certificate: {e}")))?;
    if String::from_utf8_lossy(&key_pem.bytes).contains("ENCRYPTED") {
        return Err(err(
            key_key,
            "an encrypted private key; decrypt it first (`openssl pkey -in it -out plain.key`)"
                .into(),
        ));
    }
    let key = PrivateKeyDer::from_pem_slice(&key_pem.bytes)
        .map_err(|e| err(key_key, format!("not a PEM private key: {e}")))?;

    let provider = Arc::new(provider(path, raw)?);
    let signing_key = provider
        .key_provider
        .load_private_key(key.clone_key())
        .map_err(|e| err(key_key, format!("not a usable private key: {e}")))?;
    let algorithm = signing_key.algorithm();
    let versions = versions(path, raw)?;
    if !versions.contains(&&rustls::version::TLS13) && !signs_with_tls12(&provider, &*signing_key) {
        return Err(err(
            "cipher_suites",
            format!(
                "no TLS 1.2 cipher suite left signs with the certificate's {algorithm:?} key, so \
                 no handshake could succeed"
            ),
        ));
    }
    let verifier = client_verifier(path, raw, &provider, seen)?;
    let mut config = ServerConfig::builder_with_provider(Arc::clone(&provider))
        .with_protocol_versions(&versions)
        .map_err(|e| {
            err(
                "cipher_suites",
                format!("no cipher suite left for min_version and max_version: {e}"),
            )
        })?
        .with_client_cert_verifier(verifier)
        .with_single_cert(certs, key)
        .map_err(|e| {
            err(
                key_key,
                format!("the key does not go with the certificate: {e}"),
            )
        })?;
    config.ignore_client_order = raw.prefer_server_cipher_suites.unwrap_or(true);
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}

/// Whether a TLS 1.2 suite of `provider` signs with `key`.
fn signs_with_tls12(provider: &CryptoProvider, key: &dyn rustls::sign::SigningKey) -> bool {
    provider.cipher_suites.iter().any(|suite| match suite {
        rustls::SupportedCipherSuite::Tls12(suite) => key.choose_scheme(suite.sign).is_some(),
        _ => false,
    })
}

/// An error of the key `tls_server_config.<key>`.
fn tls_error(path: &Path, key: &str, problem: impl Into<String>) -> WebConfigError {
    WebConfigError::new(path, Some(format!("tls_server_config.{key}")), problem)
}

/// PEM text, and the key of the web config that gave it (to name in errors).
struct Pem {
    bytes: Vec<u8>,
    key: &'static str,
}

/// The PEM of an inline key (`cert`) or of the file a file key (`cert_file`) names; not both.
/// Each is `(key, value)`.
fn pem_source(
    path: &Path,
    (inline_key, inline): (&'static str, &Option<String>),
    (file_key, file): (&'static str, &Option<String>),
    seen: &mut Fingerprint,
) -> Result<Option<Pem>, WebConfigError> {
    match (inline, file) {
        (Some(_), Some(_)) => Err(tls_error(
            path,
            file_key,
            format!("give {inline_key} or {file_key}, not both"),
        )),
        (Some(text), None) => Ok(Some(Pem {
            bytes: text.as_bytes().to_vec(),
            key: inline_key,
        })),
        (None, Some(file)) => {
            let file = resolve(path, file);
            seen.add(&file);
            let bytes = std::fs::read(&file).map_err(|e| {
                tls_error(path, file_key, format!("cannot read {}", file.display())).with_source(e)
            })?;
            Ok(Some(Pem {
                bytes,
                key: file_key,
            }))
        }
        (None, None) => Ok(None),
    }
}

/// The certificates of `pem`, at least one.
fn certificates(path: &Path, pem: &Pem) -> Result<Vec<CertificateDer<'static>>, WebConfigError> {
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(&pem.bytes)
        .collect::<Result<_, _>>()
        .map_err(|e| tls_error(path, pem.key, format!("not PEM certificates: {e}")))?;
    if certs.is_empty() {
        return Err(tls_error(path, pem.key, "holds no PEM certificate"));
    }
    Ok(certs)
}

/// ring's provider with the configured cipher suites and curves (toolkit's names; TLS 1.3
/// suites are always on, as in Go).
///
/// ring rather than aws-lc-rs (rustls' default, which adds post-quantum key exchange): ring builds
/// from a small amount of C and assembly with the system's compiler, aws-lc-rs a large C library;
/// classic ECDHE (X25519, P-256, P-384) protects scrape traffic.
fn provider(path: &Path, raw: &RawTls) -> Result<CryptoProvider, WebConfigError> {
    #[allow(deprecated)] // Deprecated only for lacking the post-quantum groups (see above).
    let mut provider = rustls::crypto::ring::default_provider();
    if !raw.cipher_suites.is_empty() {
        let all = provider.cipher_suites.clone();
        let name_of = |s: &rustls::SupportedCipherSuite| format!("{:?}", s.suite());
        let mut chosen: Vec<rustls::SupportedCipherSuite> = all
            .iter()
            .filter(|s| s.tls13().is_some())
            .copied()
            .collect();
        for name in &raw.cipher_suites {
            // Go's names are IANA's; its older short names of the ChaCha suites lack `_SHA256`.
            let wanted = if name.ends_with("CHACHA20_POLY1305") {
                format!("{name}_SHA256")
            } else {
                name.clone()
            };
            let tls13 = [
                "TLS_AES_128_GCM_SHA256",
                "TLS_AES_256_GCM_SHA384",
                "TLS_CHACHA20_POLY1305_SHA256",
            ];
            if tls13.contains(&wanted.as_str()) {
                continue;
            }
            let Some(suite) = all
                .iter()
                .find(|s| s.tls13().is_none() && name_of(s) == wanted)
            else {
                let offered: Vec<String> = all
                    .iter()
                    .filter(|s| s.tls13().is_none())
                    .map(name_of)
                    .collect();
                return Err(tls_error(
                    path,
                    "cipher_suites",
                    format!(
                        "{name} is not offered (rustls has only AEAD suites); one of {}",
                        offered.join(", ")
                    ),
                ));
            };
            chosen.push(*suite);
        }
        provider.cipher_suites = chosen;
    }
    if !raw.curve_preferences.is_empty() {
        let mut groups = Vec::new();
        for name in &raw.curve_preferences {
            let group = match name.as_str() {
                "CurveP256" => rustls::NamedGroup::secp256r1,
                "CurveP384" => rustls::NamedGroup::secp384r1,
                "X25519" => rustls::NamedGroup::X25519,
                _ => {
                    return Err(tls_error(
                        path,
                        "curve_preferences",
                        format!("{name} is not offered; one of CurveP256, CurveP384, X25519"),
                    ));
                }
            };
            if let Some(kx) = provider.kx_groups.iter().find(|kx| kx.name() == group) {
                groups.push(*kx);
            }
        }
        provider.kx_groups = groups;
    }
    Ok(provider)
}

/// `min_version` and `max_version` (default TLS12 and TLS13, as the toolkit's).
fn versions(
    path: &Path,
    raw: &RawTls,
) -> Result<Vec<&'static rustls::SupportedProtocolVersion>, WebConfigError> {
    let rank = |key: &str, value: Option<&str>, default: u8| -> Result<u8, WebConfigError> {
        match value {
            None => Ok(default),
            Some("TLS12") => Ok(12),
            Some("TLS13") => Ok(13),
            Some(other) => Err(tls_error(
                path,
                key,
                match other {
                    "TLS10" | "TLS11" => format!("{other} is not offered: TLS 1.2 and 1.3 only"),
                    _ => format!("{other:?} is not a version; one of TLS12, TLS13"),
                },
            )),
        }
    };
    let min = rank("min_version", raw.min_version.as_deref(), 12)?;
    let max = rank("max_version", raw.max_version.as_deref(), 13)?;
    if min > max {
        return Err(tls_error(
            path,
            "max_version",
            "max_version is below min_version",
        ));
    }
    Ok(
        [(12, &rustls::version::TLS12), (13, &rustls::version::TLS13)]
            .into_iter()
            .filter(|(v, _)| (min..=max).contains(v))
            .map(|(_, version)| version)
            .collect(),
    )
}

/// The verifier for `client_auth_type` (and `client_ca_file` / `client_ca`,
/// `client_allowed_sans`).
fn client_verifier(
    path: &Path,
    raw: &RawTls,
    provider: &Arc<CryptoProvider>,
    seen: &mut Fingerprint,
) -> Result<Arc<dyn ClientCertVerifier>, WebConfigError> {
    let err = |key: &str, problem: String| tls_error(path, key, problem);
    let auth = raw.client_auth_type.as_deref().unwrap_or("NoClientCert");
    let ca_pem = pem_source(
        path,
        ("client_ca", &raw.client_ca),
        ("client_ca_file", &raw.client_ca_file),
        seen,
    )?;
    let ca_key = ca_pem.as_ref().map_or("client_ca_file", |pem| pem.key);
    let roots = match &ca_pem {
        None => None,
        Some(pem) => {
            let mut roots = RootCertStore::empty();
            for cert in certificates(path, pem)? {
                roots
                    .add(cert)
                    .map_err(|e| err(ca_key, format!("not a CA certificate: {e}")))?;
            }
            Some(Arc::new(roots))
        }
    };
    let verified = |roots: &Option<Arc<RootCertStore>>, optional: bool| {
        let Some(roots) = roots else {
            return Err(err(
                "client_ca_file",
                format!(
                    "client_auth_type {auth} verifies client certificates: give client_ca_file or client_ca"
                ),
            ));
        };
        let builder =
            WebPkiClientVerifier::builder_with_provider(Arc::clone(roots), Arc::clone(provider));
        let builder = if optional {
            builder.allow_unauthenticated()
        } else {
            builder
        };
        builder.build().map_err(|e| {
            err(
                ca_key,
                format!("cannot verify client certificates with it: {e}"),
            )
        })
    };
    let verifier: Arc<dyn ClientCertVerifier> = match auth {
        "NoClientCert" | "" => {
            if roots.is_some() {
                return Err(err(
                    "client_auth_type",
                    "a client CA is configured without a client auth policy: set client_auth_type"
                        .into(),
                ));
            }
            if !raw.client_allowed_sans.is_empty() {
                return Err(err(
                    "client_allowed_sans",
                    "needs a client_auth_type that asks for a client certificate".into(),
                ));
            }
            return Ok(WebPkiClientVerifier::no_client_auth());
        }
        "RequestClientCert" => Arc::new(AnyClientCert::new(provider, false)),
        "RequireAnyClientCert" | "RequireClientCert" => {
            Arc::new(AnyClientCert::new(provider, true))
        }
        "VerifyClientCertIfGiven" => verified(&roots, true)?,
        "RequireAndVerifyClientCert" => verified(&roots, false)?,
        other => {
            return Err(err(
                "client_auth_type",
                format!(
                    "{other:?} is not a client auth type; one of NoClientCert, RequestClientCert, \
                     RequireAnyClientCert, VerifyClientCertIfGiven, RequireAndVerifyClientCert"
                ),
            ));
        }
    };
    if raw.client_allowed_sans.is_empty() {
        return Ok(verifier);
    }
    let mut sans = Vec::new();
    for san in &raw.client_allowed_sans {
        let name = ServerName::try_from(san.as_str()).map_err(|_| {
            err(
                "client_allowed_sans",
                format!("{san:?}: only DNS names and IP addresses can be matched"),
            )
        })?;
        sans.push(name.to_owned());
    }
    Ok(Arc::new(AllowedSans {
        inner: verifier,
        sans,
    }))
}

/// `RequestClientCert` and `RequireAnyClientCert`: a client certificate is asked for (and, for
/// the second, required) but not checked against a CA, as Go's `tls.RequestClientCert` and
/// `tls.RequireAnyClientCert`. The client still proves it holds the certificate's key.
#[derive(Debug)]
struct AnyClientCert {
    mandatory: bool,
    algorithms: WebPkiSupportedAlgorithms,
}

impl AnyClientCert {
    fn new(provider: &CryptoProvider, mandatory: bool) -> Self {
        AnyClientCert {
            mandatory,
            algorithms: provider.signature_verification_algorithms,
        }
    }
}

impl ClientCertVerifier for AnyClientCert {
    fn client_auth_mandatory(&self) -> bool {
        self.mandatory
    }

    fn root_hint_subjects(&self) -> &[DistinguishedName] {
        &[]
    }

    fn verify_client_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _now: UnixTime,
    ) -> Result<ClientCertVerified, rustls::Error> {
        Ok(ClientCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(message, cert, dss, &self.algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.algorithms.supported_schemes()
    }
}

/// `client_allowed_sans`: the client certificate must name one of these (DNS names and IP
/// addresses), after the verifier of the `client_auth_type` accepted it.
#[derive(Debug)]
struct AllowedSans {
    inner: Arc<dyn ClientCertVerifier>,
    sans: Vec<ServerName<'static>>,
}

impl ClientCertVerifier for AllowedSans {
    fn offer_client_auth(&self) -> bool {
        self.inner.offer_client_auth()
    }

    fn client_auth_mandatory(&self) -> bool {
        self.inner.client_auth_mandatory()
    }

    fn root_hint_subjects(&self) -> &[DistinguishedName] {
        self.inner.root_hint_subjects()
    }

    fn verify_client_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        now: UnixTime,
    ) -> Result<ClientCertVerified, rustls::Error> {
        let verified = self
            .inner
            .verify_client_cert(end_entity, intermediates, now)?;
        let cert = webpki::EndEntityCert::try_from(end_entity).map_err(|_| {
            rustls::Error::InvalidCertificate(rustls::CertificateError::BadEncoding)
        })?;
        if self
            .sans
            .iter()
            .any(|san| cert.verify_is_valid_for_subject_name(san).is_ok())
        {
            Ok(verified)
        } else {
            Err(rustls::Error::InvalidCertificate(
                rustls::CertificateError::NotValidForName,
            ))
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.inner.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.inner.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.inner.supported_verify_schemes()
    }
}
