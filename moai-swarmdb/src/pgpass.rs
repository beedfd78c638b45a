//! The password of a URL that gives none, from the password file libpq reads: `PGPASSFILE`, else
//! `~/.pgpass`; lines `hostname:port:database:username:password`, `*` matching anything, `\:` and
//! `\\` escaped, the first matching line wins. As libpq does, a file that its group or others may
//! read is ignored (with a warning).

use std::path::PathBuf;

/// The password for `host:port/database` as `user`, if the password file has one.
pub(crate) fn lookup(host: &str, port: u16, database: &str, user: &str) -> Option<String> {
    let path = std::env::var_os("PGPASSFILE")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".pgpass")))?;
    let meta = std::fs::metadata(&path).ok()?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        if meta.permissions().mode() & 0o077 != 0 {
            tracing::warn!(path = %path.display(), "password file ignored: its group or others may read it (chmod 0600)");
            return None;
        }
    }
    let text = std::fs::read_to_string(&path).ok()?;
    find(&text, host, &port.to_string(), database, user)
}

/// The first line of `text` whose four fields match.
fn find(text: &str, host: &str, port: &str, database: &str, user: &str) -> Option<String> {
    text.lines()
        .filter(|l| !l.trim_start().starts_with('#'))
        .find_map(|line| {
            let fields = split(line);
            let [h, p, d, u, password] = <[String; 5]>::try_from(fields).ok()?;
            let matches = |pattern: &str, value: &str| pattern == "*" || pattern == value;
            (matches(&h, host) && matches(&p, port) && matches(&d, database) && matches(&u, user))
                .then_some(password)
        })
}

/// The `:`-separated fields of a line, with `\:` and `\\` unescaped; the last field takes the
/// rest of the line.
fn split(line: &str) -> Vec<String> {
    let (mut fields, mut current) = (Vec::new(), String::new());
    let mut chars = line.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => current.extend(chars.next()),
            ':' if fields.len() < 4 => fields.push(std::mem::take(&mut current)),
            c => current.push(c),
        }
    }
    fields.push(current);
    fields
}

#[cfg(test)]
mod tests {
    use super::find;

    #[test]
    fn the_first_matching_line_wins_with_wildcards_and_escapes() {
        let file = "# comment\ndb.example:5432:moai:moai:first\n*:*:*:moai:p\\:w\\\\d\n";
        assert_eq!(
            find(file, "db.example", "5432", "moai", "moai").as_deref(),
            Some("first")
        );
        assert_eq!(
            find(file, "127.0.0.1", "6000", "other", "moai").as_deref(),
            Some("p:w\\d")
        );
        assert_eq!(find(file, "127.0.0.1", "6000", "other", "someone"), None);
        assert_eq!(find("too:few:fields", "too", "few", "fields", "x"), None);
    }
}
