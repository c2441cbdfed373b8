//! Accounts as the app sees them: why logging in failed ([`LoginError`]) and what became of an
//! account registration ([`RegistrationReply`], IRCv3 `draft/account-registration`), both in
//! words a person reads.

use charla_proto::OwnedMessage;

use crate::words;

/// Why logging into the account (SASL) did not work. `Display` is a sentence for the user.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LoginError {
    /// `904 ERR_SASLFAIL` once the exchange was under way: the server did not accept the
    /// credentials.
    #[error("wrong account name or password")]
    WrongCredentials,
    /// `905 ERR_SASLTOOLONG`.
    #[error("the account name or password is too long for the server")]
    TooLong,
    /// `906 ERR_SASLABORTED`.
    #[error("the server aborted the login")]
    Aborted,
    /// `902 ERR_NICKLOCKED`: the account cannot be used from here (locked, or tied to a nick).
    #[error("the server will not let you use this account now (it may be locked)")]
    Locked,
    /// The server does not offer SASL at all.
    #[error("the server does not offer logging in with an account")]
    NotOffered,
    /// None of the mechanisms the server offers is one we can use with what the config holds.
    #[error("the server offers no way to log in that fits (it offers {})", list(.offered))]
    NoMechanism {
        /// The server's mechanisms, as it named them.
        offered: Vec<String>,
    },
    /// The config has neither a password nor a client certificate.
    #[error("there is no password and no client certificate to log in with")]
    NoCredentials,
    /// A password would have gone over an unencrypted connection to another machine.
    #[error("the password would travel unencrypted: turn on TLS for this server")]
    Insecure,
    /// `EXTERNAL` needs a client certificate, and TLS to present it.
    #[error("logging in with a certificate needs TLS and a client certificate")]
    NeedsCertificate,
    /// SCRAM: the server's signature (`v=`) is wrong. It does not know the account's keys, so
    /// it is not the server the account was made on: the connection is dropped.
    #[error(
        "the server could not prove that it knows your account: it may be an impostor, so the \
         connection was dropped"
    )]
    ServerSignature,
    /// SCRAM: the server said "logged in" without proving it knows the account.
    #[error(
        "the server said you are logged in without proving that it knows your account, so the \
         connection was dropped"
    )]
    MissingSignature,
    /// The exchange broke for another reason (a malformed message, too many iterations...).
    #[error("{0}")]
    Protocol(String),
}

fn list(names: &[String]) -> String {
    if names.is_empty() {
        "nothing".to_owned()
    } else {
        names.join(", ")
    }
}

/// What the server answered to `REGISTER` or `VERIFY`
/// (<https://ircv3.net/specs/extensions/account-registration>).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RegistrationReply {
    /// `REGISTER SUCCESS <account> <message>`: the account exists now.
    Registered {
        /// The account name.
        account: String,
        /// The server's words.
        message: String,
    },
    /// `REGISTER VERIFICATION_REQUIRED <account> <message>`: a code was sent (usually by
    /// e-mail); `/verify <account> <code>` completes it.
    VerificationRequired {
        /// The account name.
        account: String,
        /// The server's words.
        message: String,
    },
    /// `VERIFY SUCCESS <account> <message>`.
    Verified {
        /// The account name.
        account: String,
        /// The server's words.
        message: String,
    },
    /// `FAIL REGISTER|VERIFY <code> ...`.
    Failed {
        /// `REGISTER` or `VERIFY`.
        command: String,
        /// The standard reply code, such as `ACCOUNT_EXISTS`.
        code: String,
        /// The failure in words.
        text: String,
    },
}

impl RegistrationReply {
    /// Reads a `REGISTER`/`VERIFY` reply or a `FAIL REGISTER`/`FAIL VERIFY`; `None` for any
    /// other line.
    pub fn from_message(msg: &OwnedMessage) -> Option<Self> {
        let p = |i: usize| msg.param(i).unwrap_or("").to_owned();
        match msg.command.to_ascii_uppercase().as_str() {
            "REGISTER" => match p(0).as_str() {
                "SUCCESS" => Some(RegistrationReply::Registered {
                    account: p(1),
                    message: p(2),
                }),
                "VERIFICATION_REQUIRED" => Some(RegistrationReply::VerificationRequired {
                    account: p(1),
                    message: p(2),
                }),
                _ => None,
            },
            "VERIFY" if p(0) == "SUCCESS" => Some(RegistrationReply::Verified {
                account: p(1),
                message: p(2),
            }),
            "FAIL" if matches!(p(0).as_str(), "REGISTER" | "VERIFY") => {
                Some(RegistrationReply::Failed {
                    command: p(0),
                    code: p(1),
                    text: words::standard_reply(msg),
                })
            }
            _ => None,
        }
    }

    /// Whether this reply means the account now exists (perhaps awaiting verification).
    pub fn succeeded(&self) -> bool {
        !matches!(self, RegistrationReply::Failed { .. })
    }

    /// The reply as a sentence for the user.
    pub fn describe(&self) -> String {
        let with = |text: String, message: &str| {
            let message = message.trim();
            if message.is_empty() {
                text
            } else {
                format!("{text} The server says: {message}")
            }
        };
        match self {
            RegistrationReply::Registered { account, message } => {
                with(format!("The account {account} was created."), message)
            }
            RegistrationReply::VerificationRequired { account, message } => with(
                format!(
                    "The account {account} was created and must be verified: enter the code \
                     you were sent with /verify {account} <code>."
                ),
                message,
            ),
            RegistrationReply::Verified { account, message } => {
                with(format!("The account {account} is verified."), message)
            }
            RegistrationReply::Failed { text, .. } => text.clone(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reply(line: &str) -> Option<RegistrationReply> {
        RegistrationReply::from_message(&OwnedMessage::parse(line).ok()?)
    }

    #[test]
    fn registration_replies_in_words() {
        let ok = reply(":srv REGISTER SUCCESS ñandú :Account created").unwrap();
        assert!(ok.succeeded());
        assert_eq!(
            ok.describe(),
            "The account ñandú was created. The server says: Account created"
        );
        let verify = reply(":srv REGISTER VERIFICATION_REQUIRED ana :Check your mail").unwrap();
        assert!(verify.describe().contains("/verify ana <code>"));
        let fail = reply(":srv FAIL REGISTER ACCOUNT_EXISTS ana :Account already exists").unwrap();
        assert!(!fail.succeeded());
        assert!(
            fail.describe()
                .starts_with("Account registration failed: that account already exists"),
            "{}",
            fail.describe()
        );
        assert_eq!(reply(":srv FAIL CHATHISTORY INVALID_TARGET x :no"), None);
        assert_eq!(reply(":srv PRIVMSG a :REGISTER SUCCESS"), None);
    }

    #[test]
    fn login_errors_are_sentences() {
        assert_eq!(
            LoginError::WrongCredentials.to_string(),
            "wrong account name or password"
        );
        let none = LoginError::NoMechanism {
            offered: vec!["EXTERNAL".into()],
        };
        assert!(none.to_string().ends_with("(it offers EXTERNAL)"));
    }
}
