//! The `PLAIN` mechanism (RFC 4616): one message, `[authzid] NUL authcid NUL passwd`, in UTF-8.

use std::fmt;

use super::SaslError;

/// A decoded `PLAIN` message, borrowing from it. `Debug` leaves the password out.
#[derive(Clone, PartialEq, Eq)]
pub struct Plain<'a> {
    /// The authorization identity: who to act as. Empty when the client left it out, which
    /// means "the same as `authcid`" (RFC 4616 section 2).
    pub authzid: &'a str,
    /// The authentication identity: the account whose password this is. Never empty.
    pub authcid: &'a str,
    /// The password. Never empty.
    pub password: &'a str,
}

impl fmt::Debug for Plain<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Plain")
            .field("authzid", &self.authzid)
            .field("authcid", &self.authcid)
            .field("password", &"<redacted>")
            .finish()
    }
}

/// Builds a `PLAIN` message. Pass an empty `authzid` to act as `authcid` itself.
pub fn plain_encode(authzid: &str, authcid: &str, password: &str) -> Vec<u8> {
    let mut message = Vec::with_capacity(authzid.len() + authcid.len() + password.len() + 2);
    message.extend_from_slice(authzid.as_bytes());
    message.push(0);
    message.extend_from_slice(authcid.as_bytes());
    message.push(0);
    message.extend_from_slice(password.as_bytes());
    message
}

/// Reads a `PLAIN` message: exactly two NUL separators, a non-empty `authcid` and password
/// (`1*SAFE` in RFC 4616 section 2), all three fields UTF-8.
pub fn plain_decode(message: &[u8]) -> Result<Plain<'_>, SaslError> {
    // Splitting on NUL before decoding is safe: NUL never appears inside a multi-byte UTF-8
    // sequence.
    let mut fields = message.split(|&b| b == 0);
    let (Some(authzid), Some(authcid), Some(password), None) =
        (fields.next(), fields.next(), fields.next(), fields.next())
    else {
        return Err(SaslError::Malformed(
            "a PLAIN message must hold exactly two NUL separators",
        ));
    };
    let utf8 = |field| {
        std::str::from_utf8(field)
            .map_err(|_| SaslError::Malformed("a PLAIN message must be UTF-8"))
    };
    let plain = Plain {
        authzid: utf8(authzid)?,
        authcid: utf8(authcid)?,
        password: utf8(password)?,
    };
    if plain.authcid.is_empty() {
        return Err(SaslError::Malformed("the PLAIN account name is empty"));
    }
    if plain.password.is_empty() {
        return Err(SaslError::Malformed("the PLAIN password is empty"));
    }
    Ok(plain)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips() {
        for (authzid, authcid, password) in [
            ("", "jilles", "sesame"),
            ("admin", "jilles", "se same"),
            ("", "ñandú", "contraseña 🔑"),
        ] {
            let message = plain_encode(authzid, authcid, password);
            let plain = plain_decode(&message).expect("valid message");
            assert_eq!(
                (plain.authzid, plain.authcid, plain.password),
                (authzid, authcid, password)
            );
        }
    }

    #[test]
    fn rfc_4616_example() {
        // RFC 4616 section 4: "Tim" authenticating as himself, with password "tanstaaftanstaaf".
        let plain = plain_decode(b"\0tim\0tanstaaftanstaaf").expect("valid message");
        assert_eq!(plain.authzid, "");
        assert_eq!(plain.authcid, "tim");
        assert_eq!(plain.password, "tanstaaftanstaaf");
    }

    #[test]
    fn refuses_malformed_messages() {
        let cases: &[(&str, &[u8])] = &[
            ("empty", b""),
            ("no separator", b"jilles"),
            ("one separator", b"jilles\0sesame"),
            ("three separators", b"\0jilles\0ses\0ame"),
            ("empty authcid", b"admin\0\0sesame"),
            ("empty password", b"\0jilles\0"),
            ("only separators", b"\0\0"),
            ("not UTF-8 authcid", b"\0\xff\0sesame"),
            ("not UTF-8 password", b"\0jilles\0\xc3"),
            ("not UTF-8 authzid", b"\x80\0jilles\0sesame"),
        ];
        for (what, message) in cases {
            assert!(
                matches!(plain_decode(message), Err(SaslError::Malformed(_))),
                "{what}"
            );
        }
    }

    #[test]
    fn debug_hides_the_password() {
        let message = plain_encode("", "jilles", "sesame");
        let shown = format!("{:?}", plain_decode(&message));
        assert!(shown.contains("jilles"));
        assert!(!shown.contains("sesame"));
    }
}
