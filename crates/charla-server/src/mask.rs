//! Ban masks (`nick!user@host` with `*` and `?` wildcards), as used by channel modes
//! `+b`, `+e` and `+I` (<https://modern.ircdocs.horse/#channel-modes>).
//!
//! Matching is case-insensitive with the server's case-mapping.

use charla_proto::casemap::casefold;

/// Completes a partial mask the way other servers do: `nick` becomes `nick!*@*`,
/// `nick!user` becomes `nick!user@*`, `user@host` becomes `*!user@host`.
pub fn normalize(mask: &str) -> String {
    let (nu, host) = match mask.split_once('@') {
        Some((nu, host)) => (nu, Some(host)),
        None => (mask, None),
    };
    let (nick, user) = match nu.split_once('!') {
        Some((n, u)) => (n, Some(u)),
        None if host.is_some() => ("*", Some(nu)),
        None => (nu, None),
    };
    let or_star = |s: &str| {
        if s.is_empty() {
            "*".to_owned()
        } else {
            s.to_owned()
        }
    };
    format!(
        "{}!{}@{}",
        or_star(nick),
        or_star(user.unwrap_or("*")),
        or_star(host.unwrap_or("*"))
    )
}

/// Whether `text` matches the wildcard `mask` (`*` any run, `?` one character), ignoring case.
pub fn matches(mask: &str, text: &str) -> bool {
    let mask: Vec<char> = casefold(mask).chars().collect();
    let text: Vec<char> = casefold(text).chars().collect();
    // Iterative wildcard match with back-tracking to the last star: O(len(mask) * len(text)).
    let (mut m, mut t) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while t < text.len() {
        if m < mask.len() && (mask[m] == '?' || mask[m] == text[t]) {
            m += 1;
            t += 1;
        } else if m < mask.len() && mask[m] == '*' {
            star = Some((m, t));
            m += 1;
        } else if let Some((sm, st)) = star {
            m = sm + 1;
            t = st + 1;
            star = Some((sm, st + 1));
        } else {
            return false;
        }
    }
    mask[m..].iter().all(|&c| c == '*')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalizes_partial_masks() {
        assert_eq!(normalize("bob"), "bob!*@*");
        assert_eq!(normalize("bob!u"), "bob!u@*");
        assert_eq!(normalize("u@h"), "*!u@h");
        assert_eq!(normalize("*!*@10.*"), "*!*@10.*");
    }

    #[test]
    fn wildcards() {
        let cases = [
            ("*!*@*", "a!b@c", true),
            ("a?c!*@*", "abc!x@y", true),
            ("a?c!*@*", "ac!x@y", false),
            ("*!*@127.0.0.*", "ñandú!~u@127.0.0.1", true),
            ("ÑANDÚ!*@*", "ñandú!~u@h", true),
            ("*a*b*", "xxaxxbxx", true),
            ("*a*b", "xxaxxbxxc", false),
            ("", "", true),
            ("", "a", false),
        ];
        for (mask, text, want) in cases {
            assert_eq!(matches(mask, text), want, "{mask} vs {text}");
        }
    }
}
