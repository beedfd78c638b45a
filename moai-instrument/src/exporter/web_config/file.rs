//! The web configuration file as exporter-toolkit defines it (`--web.config.file`), read with
//! serde: the same keys, unknown keys refused (toolkit reads it with `UnmarshalStrict`), relative
//! file paths taken from the file's own directory.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Deserialize;

use super::WebConfigError;

/// The whole file. An empty file is valid and changes nothing.
#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields, default)]
pub(super) struct RawFile {
    pub(super) tls_server_config: Option<RawTls>,
    pub(super) http_server_config: RawHttp,
    pub(super) basic_auth_users: BTreeMap<String, String>,
    pub(super) rate_limit: Option<RawRateLimit>,
}

/// `tls_server_config`.
#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields, default)]
pub(super) struct RawTls {
    pub(super) cert: Option<String>,
    pub(super) key: Option<String>,
    pub(super) client_ca: Option<String>,
    pub(super) cert_file: Option<String>,
    pub(super) key_file: Option<String>,
    pub(super) client_auth_type: Option<String>,
    pub(super) client_ca_file: Option<String>,
    pub(super) cipher_suites: Vec<String>,
    pub(super) curve_preferences: Vec<String>,
    pub(super) min_version: Option<String>,
    pub(super) max_version: Option<String>,
    pub(super) prefer_server_cipher_suites: Option<bool>,
    pub(super) client_allowed_sans: Vec<String>,
}

/// `http_server_config`.
#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields, default)]
pub(super) struct RawHttp {
    /// Accepted for compatibility; the exporter speaks HTTP/1.1 only.
    #[allow(dead_code)]
    pub(super) http2: Option<bool>,
    pub(super) headers: BTreeMap<String, String>,
}

/// `rate_limit`.
#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields, default)]
pub(super) struct RawRateLimit {
    pub(super) burst: u32,
    pub(super) interval: Option<String>,
}

impl RawFile {
    /// Parses `text`, read from `path` (named in errors).
    pub(super) fn parse(path: &Path, text: &str) -> Result<RawFile, WebConfigError> {
        if text.trim().is_empty() {
            return Ok(RawFile::default());
        }
        // Straight from the text, so that serde's message names the key with its place
        // ("tls_server_config: unknown field `cert_flie`, expected one of ... at line 2 column
        // 3"). A file of only comments or `---` is YAML's null: empty too.
        serde_yaml_ng::from_str(text).or_else(|error| {
            match serde_yaml_ng::from_str::<serde_yaml_ng::Value>(text) {
                Ok(serde_yaml_ng::Value::Null) => Ok(RawFile::default()),
                _ => Err(WebConfigError::new(path, None, error.to_string())),
            }
        })
    }
}

/// `file` as written in the config, relative paths from the directory of the config file, as
/// exporter-toolkit resolves them.
pub(super) fn resolve(config: &Path, file: &str) -> PathBuf {
    let file = Path::new(file);
    if file.is_absolute() {
        return file.to_owned();
    }
    config
        .parent()
        .map_or_else(|| file.to_owned(), |dir| dir.join(file))
}

/// The headers exporter-toolkit lets a web config set, with the values it allows (none listed:
/// any value).
const ALLOWED_HEADERS: &[(&str, &[&str])] = &[
    ("Strict-Transport-Security", &[]),
    ("X-Content-Type-Options", &["nosniff"]),
    ("X-Frame-Options", &["deny", "sameorigin"]),
    ("X-XSS-Protection", &[]),
    ("Content-Security-Policy", &[]),
];

/// `http_server_config.headers` checked as exporter-toolkit checks them, as `http` header pairs.
pub(super) fn headers(
    path: &Path,
    raw: &BTreeMap<String, String>,
) -> Result<Vec<(http::HeaderName, http::HeaderValue)>, WebConfigError> {
    let mut out = Vec::new();
    for (name, value) in raw {
        let key = format!("http_server_config.headers.{name}");
        let Some((_, allowed)) = ALLOWED_HEADERS.iter().find(|(n, _)| n == name) else {
            let names: Vec<&str> = ALLOWED_HEADERS.iter().map(|(n, _)| *n).collect();
            return Err(WebConfigError::new(
                path,
                Some(key),
                format!(
                    "this header cannot be configured; one of {}",
                    names.join(", ")
                ),
            ));
        };
        if !allowed.is_empty() && !allowed.contains(&value.as_str()) {
            return Err(WebConfigError::new(
                path,
                Some(key),
                format!("{value:?} is not allowed; one of {}", allowed.join(", ")),
            ));
        }
        let header_value = http::HeaderValue::from_str(value).map_err(|_| {
            WebConfigError::new(
                path,
                Some(key.clone()),
                "the value has characters a header cannot carry",
            )
        })?;
        let header_name = http::HeaderName::from_bytes(name.as_bytes())
            .map_err(|_| WebConfigError::new(path, Some(key), "not a header name"))?;
        out.push((header_name, header_value));
    }
    Ok(out)
}

/// A Go duration as exporter-toolkit's `rate_limit.interval` takes it: `1s`, `500ms`, `1m30s`.
pub(super) fn go_duration(text: &str) -> Option<std::time::Duration> {
    let mut rest = text.trim();
    if rest.is_empty() {
        return None;
    }
    if rest == "0" {
        return Some(std::time::Duration::ZERO);
    }
    let mut total = 0f64;
    while !rest.is_empty() {
        let digits = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(rest.len());
        let number: f64 = rest[..digits].parse().ok()?;
        rest = &rest[digits..];
        let unit_end = rest
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(rest.len());
        let seconds = match &rest[..unit_end] {
            "ns" => 1e-9,
            "us" | "µs" => 1e-6,
            "ms" => 1e-3,
            "s" => 1.0,
            "m" => 60.0,
            "h" => 3600.0,
            _ => return None,
        };
        total += number * seconds;
        rest = &rest[unit_end..];
    }
    std::time::Duration::try_from_secs_f64(total).ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn go_durations() {
        assert_eq!(go_duration("1s"), Some(Duration::from_secs(1)));
        assert_eq!(go_duration("1m30s"), Some(Duration::from_secs(90)));
        assert_eq!(go_duration("250ms"), Some(Duration::from_millis(250)));
        assert_eq!(go_duration("0"), Some(Duration::ZERO));
        for bad in ["", "1", "1x", "s", "-1s"] {
            assert_eq!(go_duration(bad), None, "{bad}");
        }
    }

    #[test]
    fn relative_paths_are_from_the_config_directory() {
        let config = Path::new("/etc/moai/web.yml");
        assert_eq!(
            resolve(config, "tls/a.crt"),
            Path::new("/etc/moai/tls/a.crt")
        );
        assert_eq!(resolve(config, "/x/a.crt"), Path::new("/x/a.crt"));
    }
}
