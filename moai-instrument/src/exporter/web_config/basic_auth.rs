//! `basic_auth_users`: user names with bcrypt hashes, checked as exporter-toolkit checks them. A
//! bcrypt comparison costs tens of milliseconds by design, so results are cached (the user, the
//! hash and the presented password, a bounded number of entries) and comparisons run one at a
//! time: a flood of wrong passwords costs one core at most, and a scraper that presents the same
//! password at every scrape pays once. An unknown user is compared against a hash of its own, so
//! timing does not tell which users exist.

use std::collections::{BTreeMap, HashMap};
use std::path::Path;
use std::sync::{Mutex, OnceLock, PoisonError};

use base64::Engine;

use super::WebConfigError;
use crate::exporter::http::credentials;

/// Cached comparison results at most; past it one entry is dropped for each new one.
const CACHE_ENTRIES: usize = 128;

/// The configured users and their bcrypt hashes.
#[derive(Default)]
pub(crate) struct Users {
    hashes: BTreeMap<String, String>,
}

type CacheKey = (String, String, Vec<u8>);

fn cache() -> &'static Mutex<HashMap<CacheKey, bool>> {
    static CACHE: OnceLock<Mutex<HashMap<CacheKey, bool>>> = OnceLock::new();
    CACHE.get_or_init(Mutex::default)
}

/// One bcrypt comparison at a time.
static COMPARING: Mutex<()> = Mutex::new(());

/// The hash an unknown user's password is compared against (cost 10, as the toolkit's).
fn unknown_user_hash() -> &'static str {
    static HASH: OnceLock<String> = OnceLock::new();
    HASH.get_or_init(|| bcrypt::hash("moai-instrument: no such user", 10).unwrap_or_default())
}

impl Users {
    /// Checks every hash's form (not the passwords: those are checked when presented).
    pub(super) fn parse(
        path: &Path,
        raw: &BTreeMap<String, String>,
    ) -> Result<Users, WebConfigError> {
        for (user, hash) in raw {
            let key = || Some(format!("basic_auth_users.{user}"));
            if user.contains(':') {
                return Err(WebConfigError::new(
                    path,
                    key(),
                    "a user name cannot contain ':'",
                ));
            }
            if hash.parse::<bcrypt::HashParts>().is_err() {
                return Err(WebConfigError::new(
                    path,
                    key(),
                    "not a bcrypt hash (expected $2y$10$... as `htpasswd -nBC 10 user` prints)",
                ));
            }
        }
        Ok(Users {
            hashes: raw.clone(),
        })
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.hashes.is_empty()
    }

    /// Whether `Authorization` (the raw header value) is `Basic` (any case) with a configured user
    /// and its password.
    pub(crate) fn accept(&self, authorization: &[u8]) -> bool {
        let Some(Ok(decoded)) = credentials(authorization, "basic")
            .map(|encoded| base64::engine::general_purpose::STANDARD.decode(encoded))
        else {
            return false;
        };
        let Some(colon) = decoded.iter().position(|&b| b == b':') else {
            return false;
        };
        let (user, password) = (&decoded[..colon], &decoded[colon + 1..]);
        let user = String::from_utf8_lossy(user).into_owned();
        let (hash, known) = match self.hashes.get(&user) {
            Some(hash) => (hash.as_str(), true),
            None => (unknown_user_hash(), false),
        };
        let key = (user, hash.to_owned(), password.to_vec());
        let cached = cache()
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get(&key)
            .copied();
        let matches = cached.unwrap_or_else(|| {
            let matches = {
                let _one_at_a_time = COMPARING.lock().unwrap_or_else(PoisonError::into_inner);
                bcrypt::verify(password, hash).unwrap_or(false)
            };
            let mut cache = cache().lock().unwrap_or_else(PoisonError::into_inner);
            if cache.len() >= CACHE_ENTRIES
                && let Some(any) = cache.keys().next().cloned()
            {
                cache.remove(&any);
            }
            cache.insert(key, matches);
            matches
        });
        known && matches
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn basic(user_password: &str) -> Vec<u8> {
        let encoded = base64::engine::general_purpose::STANDARD.encode(user_password);
        format!("Basic {encoded}").into_bytes()
    }

    #[test]
    fn accepts_the_user_and_password_only() {
        let hash = bcrypt::hash("s3cret", 4).unwrap();
        let users = Users::parse(
            Path::new("web.yml"),
            &BTreeMap::from([("prometheus".to_owned(), hash)]),
        )
        .unwrap();
        assert!(users.accept(&basic("prometheus:s3cret")));
        assert!(users.accept(&basic("prometheus:s3cret")), "cached");
        let mut lower = basic("prometheus:s3cret");
        lower[0] = b'b';
        assert!(users.accept(&lower), "the scheme in any case");
        for refused in [
            "prometheus:s3cre",
            "prometheus:",
            "other:s3cret",
            "prometheus",
        ] {
            assert!(!users.accept(&basic(refused)), "{refused}");
        }
        assert!(!users.accept(b"Bearer s3cret"));
        assert!(!users.accept(b"Basic !!!"));
    }

    #[test]
    fn a_hash_that_is_not_bcrypt_is_refused_naming_the_user() {
        let err = Users::parse(
            Path::new("web.yml"),
            &BTreeMap::from([("alice".to_owned(), "plain-password".to_owned())]),
        )
        .err()
        .unwrap();
        assert!(err.to_string().contains("basic_auth_users.alice"), "{err}");
    }
}
