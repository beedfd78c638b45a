//! `basic_auth_users`: user names with bcrypt hashes, checked as exporter-toolkit checks them. A
//! bcrypt comparison costs tens of milliseconds by design, so:
//! - results are cached (the user, the hash and the presented password), successes apart from
//!   failures, so that a flood of wrong passwords can never push a scraper's entry out: a
//!   scraper that presents the same password at every scrape pays once;
//! - comparisons run one at a time, and a request that finds one running is answered at once
//!   (429, `Retry-After: 1`) instead of waiting: a flood of guesses costs one core and holds no
//!   worker, so scrapes with cached credentials are not delayed by it;
//! - an unknown user is compared against a hash of its own, of the configured users' highest
//!   cost, so timing does not tell which users exist.

use std::collections::{BTreeMap, HashMap};
use std::path::Path;
use std::sync::{Mutex, OnceLock, PoisonError, TryLockError};

use base64::Engine;

use super::WebConfigError;
use crate::exporter::http::credentials;

/// Cached results of each kind at most; past it one entry is dropped for each new one.
const CACHE_ENTRIES: usize = 128;

/// What a presented `Authorization` value gets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Verdict {
    /// A configured user with its password.
    Accepted,
    /// Not basic auth, an unknown user, or a wrong password.
    Refused,
    /// Not in the cache, and another comparison is running: ask again in a moment.
    Busy,
}

/// The configured users and their bcrypt hashes.
#[derive(Default)]
pub(crate) struct Users {
    hashes: BTreeMap<String, String>,
    /// The highest cost among the hashes: an unknown user's comparison costs as much.
    cost: u32,
}

type CacheKey = (String, String, Vec<u8>);

#[derive(Default)]
struct Cache {
    accepted: HashMap<CacheKey, ()>,
    refused: HashMap<CacheKey, ()>,
}

fn cache() -> &'static Mutex<Cache> {
    static CACHE: OnceLock<Mutex<Cache>> = OnceLock::new();
    CACHE.get_or_init(Mutex::default)
}

/// One bcrypt comparison at a time.
static COMPARING: Mutex<()> = Mutex::new(());

/// The hash an unknown user's password is compared against, of `cost` (made once per cost, on
/// first use: a worker pays for it, never the reader that reloads the configuration).
fn unknown_user_hash(cost: u32) -> String {
    static HASHES: Mutex<BTreeMap<u32, String>> = Mutex::new(BTreeMap::new());
    let mut hashes = HASHES.lock().unwrap_or_else(PoisonError::into_inner);
    hashes
        .entry(cost)
        .or_insert_with(|| bcrypt::hash("moai-instrument: no such user", cost).unwrap_or_default())
        .clone()
}

fn remember(map: &mut HashMap<CacheKey, ()>, key: CacheKey) {
    if map.len() >= CACHE_ENTRIES
        && let Some(any) = map.keys().next().cloned()
    {
        map.remove(&any);
    }
    map.insert(key, ());
}

impl Users {
    /// Checks every hash's form (not the passwords: those are checked when presented).
    pub(super) fn parse(
        path: &Path,
        raw: &BTreeMap<String, String>,
    ) -> Result<Users, WebConfigError> {
        let mut cost = bcrypt::DEFAULT_COST.min(10);
        for (user, hash) in raw {
            let key = || Some(format!("basic_auth_users.{user}"));
            if user.contains(':') {
                return Err(WebConfigError::new(
                    path,
                    key(),
                    "a user name cannot contain ':'",
                ));
            }
            let Ok(parts) = hash.parse::<bcrypt::HashParts>() else {
                return Err(WebConfigError::new(
                    path,
                    key(),
                    "not a bcrypt hash (expected $2y$10$... as `htpasswd -nBC 10 user` prints)",
                ));
            };
            cost = cost.max(parts.get_cost());
        }
        Ok(Users {
            hashes: raw.clone(),
            cost,
        })
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.hashes.is_empty()
    }

    /// Whether `Authorization` (the raw header value) is `Basic` (any case) with a configured user
    /// and its password.
    pub(crate) fn check(&self, authorization: &[u8]) -> Verdict {
        let Some(Ok(decoded)) = credentials(authorization, "basic")
            .map(|encoded| base64::engine::general_purpose::STANDARD.decode(encoded))
        else {
            return Verdict::Refused;
        };
        let Some(colon) = decoded.iter().position(|&b| b == b':') else {
            return Verdict::Refused;
        };
        let (user, password) = (&decoded[..colon], &decoded[colon + 1..]);
        let user = String::from_utf8_lossy(user).into_owned();
        let (hash, known) = match self.hashes.get(&user) {
            Some(hash) => (hash.clone(), true),
            None => (String::new(), false),
        };
        let key = (user, hash, password.to_vec());
        {
            let cache = cache().lock().unwrap_or_else(PoisonError::into_inner);
            if cache.accepted.contains_key(&key) {
                return Verdict::Accepted;
            }
            if cache.refused.contains_key(&key) {
                return Verdict::Refused;
            }
        }
        let _one_at_a_time = match COMPARING.try_lock() {
            Ok(guard) => guard,
            Err(TryLockError::Poisoned(poisoned)) => poisoned.into_inner(),
            Err(TryLockError::WouldBlock) => return Verdict::Busy,
        };
        let matches = if known {
            bcrypt::verify(password, &key.1).unwrap_or(false)
        } else {
            // The same work as a known user's, and always a refusal.
            let _ = bcrypt::verify(password, &unknown_user_hash(self.cost));
            false
        };
        let mut cache = cache().lock().unwrap_or_else(PoisonError::into_inner);
        if matches {
            remember(&mut cache.accepted, key);
            Verdict::Accepted
        } else {
            remember(&mut cache.refused, key);
            Verdict::Refused
        }
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
    fn accepts_the_user_and_password_only_and_never_waits_for_a_comparison() {
        let hash = bcrypt::hash("s3cret", 4).unwrap();
        let users = Users::parse(
            Path::new("web.yml"),
            &BTreeMap::from([("prometheus".to_owned(), hash)]),
        )
        .unwrap();
        assert_eq!(users.check(&basic("prometheus:s3cret")), Verdict::Accepted);
        assert_eq!(
            users.check(&basic("prometheus:s3cret")),
            Verdict::Accepted,
            "cached"
        );
        let mut lower = basic("prometheus:s3cret");
        lower[0] = b'b';
        assert_eq!(
            users.check(&lower),
            Verdict::Accepted,
            "the scheme in any case"
        );
        for refused in [
            "prometheus:s3cre",
            "prometheus:",
            "other:s3cret",
            "prometheus",
        ] {
            assert_eq!(users.check(&basic(refused)), Verdict::Refused, "{refused}");
        }
        assert_eq!(users.check(b"Bearer s3cret"), Verdict::Refused);
        assert_eq!(users.check(b"Basic !!!"), Verdict::Refused);

        // A comparison in progress: an uncached guess is answered at once, a cached one passes.
        let _running = COMPARING.lock().unwrap();
        assert_eq!(users.check(&basic("prometheus:guess")), Verdict::Busy);
        assert_eq!(
            users.check(&basic("prometheus:s3cret")),
            Verdict::Accepted,
            "from the cache"
        );
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
