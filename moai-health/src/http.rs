//! Plain-HTTP GETs for `--url` and `--diagnose`, through `ureq`: a time limit on every request,
//! and 4xx/5xx answers returned as answers (a 503 from `/readyz` is a result, not a failure).

use std::time::Duration;

/// Each request, connect to last byte, takes at most this long.
const TIMEOUT: Duration = Duration::from_secs(5);
/// Bodies larger than this are cut off (a scrape of a big app is a few hundred KB).
const MAX_BODY: u64 = 16 * 1024 * 1024;

/// A status code and the body as text.
pub(crate) struct Answer {
    pub status: u16,
    pub body: String,
}

/// `GET url`, with `Authorization: Bearer <token>` when a token is given. `Err` says why no
/// answer came (refused, timed out, bad URL), in one line.
pub(crate) fn get(url: &str, bearer: Option<&str>) -> Result<Answer, String> {
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .timeout_global(Some(TIMEOUT))
        .http_status_as_error(false)
        .build()
        .into();
    let mut request = agent.get(url);
    if let Some(token) = bearer {
        request = request.header("Authorization", &format!("Bearer {token}"));
    }
    let mut response = request
        .call()
        .map_err(|e| moai_instrument::error_chain(&e))?;
    let status = response.status().as_u16();
    let body = response
        .body_mut()
        .with_config()
        .limit(MAX_BODY)
        .read_to_string()
        .map_err(|e| moai_instrument::error_chain(&e))?;
    Ok(Answer { status, body })
}

/// `base` without a trailing `/`, then `path`.
pub(crate) fn join(base: &str, path: &str) -> String {
    format!("{}{path}", base.trim_end_matches('/'))
}
