//! Logging in during registration: which SASL mechanism to use and the exchange itself
//! (<https://ircv3.net/specs/extensions/sasl-3.1>, 3.2's `sasl=` list), over charla-proto's
//! pure [`sasl`](charla_proto::sasl) pieces. [`Login`] decides what to send; the session
//! writes it and maps the numerics to it.
//!
//! The mechanism: `EXTERNAL` when there is a client certificate and no password; otherwise
//! `SCRAM-SHA-256` when offered (the password never crosses the wire, and the server must
//! prove it knows the account), else `PLAIN`. A server that lists no mechanisms in `CAP LS`
//! is tried in that order; its `908 RPL_SASLMECHS` narrows the rest.

use std::collections::VecDeque;
use std::fmt;

use charla_proto::sasl::{
    ChunkReader, SaslError, ScramClient, ScramClientAwaitingSignature, encode_chunks, plain_encode,
};
use rand::Rng;
use rand::distr::Alphanumeric;

use crate::account::LoginError;
use crate::config::{SaslConfig, SaslMechanism};

/// The largest payload a server may send us in one SASL message (SCRAM's are ~100 bytes).
const PAYLOAD_LIMIT: usize = 8 * 1024;

/// How long a SCRAM client nonce is: 32 alphanumerics, about 190 bits.
const NONCE_LEN: usize = 32;

/// Where the exchange with the current mechanism is.
enum Step {
    /// `AUTHENTICATE <mechanism>` sent; the server has not answered yet. A `904` now means
    /// it refused the mechanism, not the credentials.
    Requested,
    /// PLAIN or EXTERNAL sent their one message; waiting for the result.
    Sent,
    /// SCRAM: the client-first-message sent; waiting for the server-first-message.
    ScramFirst(ScramClient),
    /// SCRAM: the proof sent; waiting for the server's signature.
    ScramFinal(ScramClientAwaitingSignature),
    /// SCRAM: the server's signature checked.
    ScramVerified,
}

/// What to do after a `904` or `908`.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum Next {
    /// Try another mechanism: send `AUTHENTICATE <name>`.
    Try(&'static str),
    /// Give up.
    Fail(LoginError),
}

/// One login attempt: the mechanisms still to try and the exchange under way.
pub(super) struct Login {
    account: String,
    password: String,
    /// Mechanisms still to try, best first (the current one is not in it).
    candidates: VecDeque<SaslMechanism>,
    current: SaslMechanism,
    step: Step,
    reader: ChunkReader,
    /// The server's mechanisms, from `CAP LS` or `908`; `None` while unknown.
    offered: Option<Vec<String>>,
}

impl fmt::Debug for Login {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Login")
            .field("account", &self.account)
            .field("current", &self.current)
            .field("candidates", &self.candidates)
            .finish_non_exhaustive()
    }
}

impl Login {
    /// Plans a login from the config. `offered` is the `sasl` capability's value (empty when
    /// the server lists none); `certificate` whether a client certificate goes out in the TLS
    /// handshake; `secure` whether a password may be sent (TLS, or this machine).
    pub(super) fn plan(
        config: &SaslConfig,
        offered: &str,
        certificate: bool,
        secure: bool,
    ) -> Result<Self, LoginError> {
        let has_password = !config.password.is_empty();
        let wanted: Vec<SaslMechanism> = match (config.mechanism, has_password) {
            (SaslMechanism::External, _) | (SaslMechanism::Auto, false) => {
                if !certificate {
                    return Err(if has_password {
                        LoginError::NeedsCertificate
                    } else {
                        LoginError::NoCredentials
                    });
                }
                vec![SaslMechanism::External]
            }
            (_, false) => return Err(LoginError::NoCredentials),
            (SaslMechanism::Auto, true) => {
                vec![SaslMechanism::ScramSha256, SaslMechanism::Plain]
            }
            (m, true) => vec![m],
        };
        let needs_password = wanted.iter().any(|m| *m != SaslMechanism::External);
        if needs_password && !secure {
            return Err(LoginError::Insecure);
        }
        let offered: Option<Vec<String>> = (!offered.is_empty()).then(|| {
            offered
                .split(',')
                .filter(|m| !m.is_empty())
                .map(str::to_owned)
                .collect()
        });
        let mut candidates: VecDeque<SaslMechanism> = wanted
            .into_iter()
            .filter(|m| is_offered(offered.as_deref(), *m))
            .collect();
        let Some(current) = candidates.pop_front() else {
            return Err(LoginError::NoMechanism {
                offered: offered.unwrap_or_default(),
            });
        };
        Ok(Login {
            account: config.account.clone(),
            password: config.password.clone(),
            candidates,
            current,
            step: Step::Requested,
            reader: ChunkReader::new(PAYLOAD_LIMIT),
            offered,
        })
    }

    /// The mechanism to ask for first (`AUTHENTICATE <name>`).
    pub(super) fn mechanism(&self) -> &'static str {
        self.current.wire_name().unwrap_or("PLAIN")
    }

    /// One `AUTHENTICATE` line from the server. Returns the parameters of the `AUTHENTICATE`
    /// lines to answer with (none while a chunked message is still arriving).
    pub(super) fn on_authenticate(&mut self, param: &str) -> Result<Vec<String>, LoginError> {
        let payload = match self.reader.push(param) {
            Ok(Some(payload)) => payload,
            Ok(None) => return Ok(Vec::new()),
            Err(_) => {
                return Err(LoginError::Protocol(
                    "the server sent a malformed login message".to_owned(),
                ));
            }
        };
        let step = std::mem::replace(&mut self.step, Step::Sent);
        match (self.current, step) {
            (SaslMechanism::Plain, Step::Requested) => Ok(encode_chunks(&plain_encode(
                &self.account,
                &self.account,
                &self.password,
            ))),
            // EXTERNAL: an empty authorization identity, "the one the certificate says".
            (SaslMechanism::External, Step::Requested) => Ok(encode_chunks(b"")),
            (SaslMechanism::ScramSha256, Step::Requested) => {
                let nonce: String = rand::rng()
                    .sample_iter(&Alphanumeric)
                    .take(NONCE_LEN)
                    .map(char::from)
                    .collect();
                let client =
                    ScramClient::new(&self.account, &self.password, &nonce).map_err(scram)?;
                let first = client.client_first();
                self.step = Step::ScramFirst(client);
                Ok(encode_chunks(&first))
            }
            (SaslMechanism::ScramSha256, Step::ScramFirst(client)) => {
                let (awaiting, last) = client.server_first(&payload).map_err(scram)?;
                self.step = Step::ScramFinal(awaiting);
                Ok(encode_chunks(&last))
            }
            (SaslMechanism::ScramSha256, Step::ScramFinal(awaiting)) => {
                awaiting.server_final(&payload).map_err(scram)?;
                self.step = Step::ScramVerified;
                // The signature came as a challenge; the empty answer lets the server finish.
                Ok(encode_chunks(b""))
            }
            (_, step) => {
                self.step = step;
                Err(LoginError::Protocol(
                    "the server sent a login message out of turn".to_owned(),
                ))
            }
        }
    }

    /// `908 RPL_SASLMECHS`: the mechanisms the server has.
    pub(super) fn on_mechanisms(&mut self, list: &str) {
        self.offered = Some(
            list.split(',')
                .filter(|m| !m.is_empty())
                .map(str::to_owned)
                .collect(),
        );
    }

    /// `904 ERR_SASLFAIL`. Before any challenge it means "not this mechanism": the next one
    /// the server may have is tried. After, the credentials were wrong: no downgrade to a
    /// weaker mechanism, which would only send the same wrong password in the clear.
    pub(super) fn on_fail(&mut self) -> Next {
        if !matches!(self.step, Step::Requested) {
            return Next::Fail(LoginError::WrongCredentials);
        }
        while let Some(next) = self.candidates.pop_front() {
            if is_offered(self.offered.as_deref(), next) {
                self.current = next;
                self.reader = ChunkReader::new(PAYLOAD_LIMIT);
                return Next::Try(self.mechanism());
            }
        }
        match &self.offered {
            Some(offered) => Next::Fail(LoginError::NoMechanism {
                offered: offered.clone(),
            }),
            None => Next::Fail(LoginError::WrongCredentials),
        }
    }

    /// `903 RPL_SASLSUCCESS`: fine, unless SCRAM's server never proved itself.
    pub(super) fn on_success(&self) -> Result<(), LoginError> {
        match (self.current, &self.step) {
            (SaslMechanism::ScramSha256, Step::ScramVerified) => Ok(()),
            (SaslMechanism::ScramSha256, _) => Err(LoginError::MissingSignature),
            _ => Ok(()),
        }
    }
}

/// Whether `mechanism` is in the server's list (or the list is unknown).
fn is_offered(offered: Option<&[String]>, mechanism: SaslMechanism) -> bool {
    offered.is_none_or(|list| {
        list.iter().any(|name| {
            mechanism
                .wire_name()
                .is_some_and(|n| n.eq_ignore_ascii_case(name))
        })
    })
}

fn scram(e: SaslError) -> LoginError {
    match e {
        SaslError::ServerSignatureMismatch => LoginError::ServerSignature,
        SaslError::AuthenticationFailed => LoginError::WrongCredentials,
        other => LoginError::Protocol(format!("logging in failed: {other}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(password: &str, mechanism: SaslMechanism) -> SaslConfig {
        SaslConfig {
            mechanism,
            ..SaslConfig::password("ana", password)
        }
    }

    fn first(
        password: &str,
        mechanism: SaslMechanism,
        offered: &str,
        cert: bool,
        secure: bool,
    ) -> Result<&'static str, LoginError> {
        Login::plan(&config(password, mechanism), offered, cert, secure).map(|l| l.mechanism())
    }

    type Choice = Result<&'static str, LoginError>;

    #[test]
    fn the_mechanism_is_chosen_from_what_is_offered_and_configured() {
        use SaslMechanism::{Auto, External, Plain, ScramSha256};
        // (password, mechanism, the server's list, certificate, secure, what is asked for)
        type Case = (
            &'static str,
            SaslMechanism,
            &'static str,
            bool,
            bool,
            Choice,
        );
        let cases: &[Case] = &[
            (
                "pw",
                Auto,
                "PLAIN,SCRAM-SHA-256,EXTERNAL",
                false,
                true,
                Ok("SCRAM-SHA-256"),
            ),
            ("pw", Auto, "PLAIN,EXTERNAL", true, true, Ok("PLAIN")),
            ("pw", Auto, "", false, true, Ok("SCRAM-SHA-256")),
            ("", Auto, "PLAIN,EXTERNAL", true, false, Ok("EXTERNAL")),
            (
                "",
                Auto,
                "PLAIN",
                false,
                true,
                Err(LoginError::NoCredentials),
            ),
            ("pw", Plain, "PLAIN,SCRAM-SHA-256", false, true, Ok("PLAIN")),
            (
                "pw",
                ScramSha256,
                "PLAIN",
                false,
                true,
                Err(LoginError::NoMechanism {
                    offered: vec!["PLAIN".into()],
                }),
            ),
            (
                "pw",
                External,
                "EXTERNAL",
                false,
                true,
                Err(LoginError::NeedsCertificate),
            ),
            ("pw", Auto, "PLAIN", false, false, Err(LoginError::Insecure)),
            ("", Auto, "EXTERNAL", true, false, Ok("EXTERNAL")),
        ];
        for (password, mechanism, offered, cert, secure, want) in cases {
            assert_eq!(
                &first(password, *mechanism, offered, *cert, *secure),
                want,
                "{password:?} {mechanism:?} {offered:?} cert={cert} secure={secure}"
            );
        }
    }

    #[test]
    fn a_refused_mechanism_falls_back_but_wrong_credentials_do_not() {
        let mut login = Login::plan(&config("pw", SaslMechanism::Auto), "", false, true).unwrap();
        login.on_mechanisms("PLAIN,EXTERNAL");
        assert_eq!(login.on_fail(), Next::Try("PLAIN"));
        assert_eq!(login.on_authenticate("+").map(|l| l.len()), Ok(1));
        assert_eq!(login.on_fail(), Next::Fail(LoginError::WrongCredentials));

        let mut login = Login::plan(&config("pw", SaslMechanism::Auto), "", false, true).unwrap();
        login.on_mechanisms("EXTERNAL");
        assert_eq!(
            login.on_fail(),
            Next::Fail(LoginError::NoMechanism {
                offered: vec!["EXTERNAL".into()]
            })
        );
    }

    #[test]
    fn scram_success_without_a_signature_is_refused() {
        let mut login = Login::plan(
            &config("pw", SaslMechanism::Auto),
            "SCRAM-SHA-256",
            false,
            true,
        )
        .unwrap();
        assert_eq!(login.on_authenticate("+").map(|l| l.len()), Ok(1));
        assert_eq!(login.on_success(), Err(LoginError::MissingSignature));
        assert!(login.on_authenticate("!!!").is_err(), "not base64");
    }
}
