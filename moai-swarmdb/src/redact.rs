//! Connection URLs in messages and `Debug` output, without the password.

/// A URL's text without its password (and without its query, which may hold one), for the
/// error that says the URL itself is wrong.
pub(crate) fn redact_url(url: &str) -> String {
    let url = url.split('?').next().unwrap_or_default();
    let Some((scheme, rest)) = url.split_once("://") else {
        return "<not a postgres:// URL>".to_owned();
    };
    let (authority, path) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
    match authority.rsplit_once('@') {
        Some((userinfo, host)) => match userinfo.split_once(':') {
            Some((user, _password)) => format!("{scheme}://{user}:***@{host}{path}"),
            None => format!("{scheme}://{userinfo}@{host}{path}"),
        },
        None => url.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::redact_url;

    #[test]
    fn the_password_never_shows() {
        assert_eq!(
            redact_url("postgres://moai:s3cret@db:5432/moai?password=x"),
            "postgres://moai:***@db:5432/moai"
        );
        assert_eq!(
            redact_url("postgres://moai@db/moai"),
            "postgres://moai@db/moai"
        );
        assert_eq!(redact_url("mysql:s3cret"), "<not a postgres:// URL>");
    }
}
