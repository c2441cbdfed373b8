//! AUTHENTICATE: SASL 3.2 (<https://ircv3.net/specs/extensions/sasl-3.2>) with PLAIN,
//! SCRAM-SHA-256 and EXTERNAL, before registration or after it (while not logged in).
//!
//! The exchange lives in the session (boxed: most sessions never have one). Framing and the
//! mechanisms' grammar are `charla_proto::sasl`; here are the steps, the checks against the
//! store (which wait: the handler returns [`Flow::Wait`]) and the numerics 900–908. PLAIN and
//! SCRAM carry a password and are refused over plain text from another machine. A failure
//! counts against the connection, the address and the account like any wrong password.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use charla_proto::numeric::{
    ERR_SASLABORTED, ERR_SASLALREADY, ERR_SASLFAIL, ERR_SASLTOOLONG, RPL_SASLMECHS, RPL_SASLSUCCESS,
};
use charla_proto::sasl::{
    ChunkError, ChunkReader, DEFAULT_ITERATIONS, ScramCredentials, ScramServer,
    ScramServerAwaitingProof, encode_chunks, plain_decode,
};
use hmac::{Hmac, Mac};
use sha2::Sha256;
use tracing::warn;

use crate::account::check::{self, Failure};
use crate::account::password::Password;
use crate::account::{PASSWORD_NEEDS_TLS, key, login, may_send_password};
use crate::caps::SASL_MECHANISMS;
use crate::command::table::{Args, Wait};
use crate::command::{Flow, Pending};
use crate::logtext::Escaped;
use crate::session::Session;

/// The largest decoded payload taken (a PLAIN with a 300-byte password and long names fits
/// several times over).
const MAX_PAYLOAD: usize = 2048;

/// An exchange under way.
pub struct Exchange {
    reader: ChunkReader,
    step: Step,
}

impl std::fmt::Debug for Exchange {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Nothing of a payload (it may hold a password) goes to a log.
        f.debug_struct("Exchange").finish_non_exhaustive()
    }
}

/// Where an exchange is.
enum Step {
    /// PLAIN: waiting for `authzid NUL authcid NUL password`.
    Plain,
    /// SCRAM: waiting for the client-first-message.
    ScramFirst,
    /// SCRAM: the server-first-message was sent; waiting for the client's proof.
    ScramProof {
        server: Box<ScramServerAwaitingProof>,
        /// The account's name, if it exists.
        account: Option<String>,
    },
    /// SCRAM: the server's signature was sent; waiting for the client's empty answer.
    ScramDone { account: String },
    /// EXTERNAL: waiting for the (possibly empty) authorization identity.
    External,
    /// A PLAIN payload, to check against the store.
    CheckPlain { authcid: String, password: Password },
    /// A SCRAM client-first-message, whose account's credentials must be read.
    CheckScramFirst(Box<ScramServer>),
    /// An EXTERNAL answer: the certificate's account must be read.
    CheckExternal { authzid: String },
}

/// `AUTHENTICATE <mechanism>`, `AUTHENTICATE <base64 chunk>`, `AUTHENTICATE +` or
/// `AUTHENTICATE *`.
pub fn authenticate(s: &mut Session, p: Args<'_, 1>) -> Flow {
    let param = p.req[0];
    match s.reg.sasl.take() {
        None if param == "*" => {
            s.num(ERR_SASLABORTED)
                .t("SASL authentication aborted")
                .send();
            Flow::Continue
        }
        None => start(s, param),
        Some(exchange) => step(s, *exchange, param),
    }
}

fn fail(s: &Session, why: &str) {
    s.num(ERR_SASLFAIL)
        .t(&format!("SASL authentication failed: {why}"))
        .send();
}

/// Sends `payload` as AUTHENTICATE chunks.
fn challenge(s: &Session, payload: &[u8]) {
    for chunk in encode_chunks(payload) {
        let mut line = charla_proto::LineBuilder::new();
        line.command("AUTHENTICATE").param(&chunk);
        s.send_line(line);
    }
}

fn start(s: &mut Session, mechanism: &str) -> Flow {
    if s.client.info.read().account.is_some() {
        s.num(ERR_SASLALREADY)
            .t("You have already authenticated using SASL")
            .send();
        return Flow::Continue;
    }
    let step = match mechanism.to_ascii_uppercase().as_str() {
        "PLAIN" => Step::Plain,
        "SCRAM-SHA-256" => Step::ScramFirst,
        "EXTERNAL" => Step::External,
        _ => {
            s.num(RPL_SASLMECHS)
                .p(SASL_MECHANISMS)
                .t("are available SASL mechanisms")
                .send();
            fail(s, "unknown mechanism");
            return Flow::Continue;
        }
    };
    match step {
        Step::Plain | Step::ScramFirst if !may_send_password(&s.client) => {
            fail(s, PASSWORD_NEEDS_TLS);
            return Flow::Continue;
        }
        Step::External if s.conn.transport.certfp().is_none() => {
            fail(s, "you offered no TLS client certificate");
            return Flow::Continue;
        }
        _ => {}
    }
    s.reg.sasl = Some(Box::new(Exchange {
        reader: ChunkReader::new(MAX_PAYLOAD),
        step,
    }));
    let mut line = charla_proto::LineBuilder::new();
    line.command("AUTHENTICATE").param("+");
    s.send_line(line);
    Flow::Continue
}

fn step(s: &mut Session, mut exchange: Exchange, param: &str) -> Flow {
    let payload = match exchange.reader.push(param) {
        Ok(Some(payload)) => payload,
        Ok(None) => {
            s.reg.sasl = Some(Box::new(exchange));
            return Flow::Continue;
        }
        Err(ChunkError::Aborted) => {
            s.num(ERR_SASLABORTED)
                .t("SASL authentication aborted")
                .send();
            return Flow::Continue;
        }
        Err(ChunkError::TooLong) => {
            s.num(ERR_SASLTOOLONG).t("SASL message too long").send();
            return Flow::Continue;
        }
        Err(e) => {
            fail(s, &e.to_string());
            return Flow::Continue;
        }
    };
    let next = match exchange.step {
        Step::Plain => match plain_decode(&payload) {
            // Only for oneself: no one logs in as another account.
            Ok(p) if p.authzid.is_empty() || key(p.authzid) == key(p.authcid) => Step::CheckPlain {
                authcid: p.authcid.to_owned(),
                password: Password::new(p.password),
            },
            Ok(_) => {
                fail(s, "you may only log in as yourself");
                return Flow::Continue;
            }
            Err(e) => {
                fail(s, &e.to_string());
                return Flow::Continue;
            }
        },
        Step::ScramFirst => match ScramServer::new(&payload) {
            Ok(server) => match server.authzid() {
                Some(z) if key(z) != key(server.username()) => {
                    fail(s, "you may only log in as yourself");
                    return Flow::Continue;
                }
                _ => Step::CheckScramFirst(Box::new(server)),
            },
            Err(e) => {
                fail(s, &e.to_string());
                return Flow::Continue;
            }
        },
        Step::ScramProof { server, account } => {
            return match (server.client_final(&payload), account) {
                (Ok(signature), Some(account)) => {
                    challenge(s, &signature);
                    s.reg.sasl = Some(Box::new(Exchange {
                        reader: exchange.reader,
                        step: Step::ScramDone { account },
                    }));
                    Flow::Continue
                }
                (_, account) => {
                    let name = account.unwrap_or_else(|| server.username().to_owned());
                    wrong(s, &name, "SASL SCRAM-SHA-256")
                }
            };
        }
        Step::ScramDone { account } => {
            // The client has checked our signature and answers with an empty message.
            if payload.is_empty() {
                success(s, &account, "SASL SCRAM-SHA-256");
            } else {
                fail(s, "unexpected data after the server's signature");
            }
            return Flow::Continue;
        }
        Step::External => match String::from_utf8(payload) {
            Ok(authzid) => Step::CheckExternal { authzid },
            Err(_) => {
                fail(s, "the authorization identity is not UTF-8");
                return Flow::Continue;
            }
        },
        Step::CheckPlain { .. } | Step::CheckScramFirst(_) | Step::CheckExternal { .. } => {
            // Not reached: a check runs before the next line is read.
            fail(s, "unexpected message");
            return Flow::Continue;
        }
    };
    s.reg.sasl = Some(Box::new(Exchange {
        reader: exchange.reader,
        step: next,
    }));
    Flow::Wait(Box::new(Pending::new(run_check, Vec::new())))
}

fn run_check(s: &mut Session, _: Vec<String>) -> Wait<'_> {
    Box::pin(check_step(s))
}

/// The steps that wait for the store or the hashing pool.
async fn check_step(s: &mut Session) -> Flow {
    let Some(exchange) = s.reg.sasl.take() else {
        return Flow::Continue;
    };
    let Exchange { reader, step } = *exchange;
    match step {
        Step::CheckPlain { authcid, password } => {
            match check::password(s, &authcid, password, "SASL PLAIN").await {
                Ok(record) => {
                    success(s, &record.name, "SASL PLAIN");
                    Flow::Continue
                }
                Err(failure) => failed(s, failure),
            }
        }
        Step::CheckScramFirst(server) => {
            let username = server.username().to_owned();
            if !check::admit(s, &username).await {
                return failed(s, Failure::Throttled);
            }
            let record = match s.state.store.account(&key(&username)).await {
                Ok(record) => record,
                Err(e) => {
                    warn!(error = %e, "cannot read an account");
                    return failed(s, Failure::Unavailable);
                }
            };
            let credentials = record
                .as_ref()
                .and_then(|r| r.scram.as_ref())
                .and_then(|c| {
                    Some(ScramCredentials {
                        salt: c.salt.clone(),
                        iterations: c.iterations,
                        stored_key: c.stored_key.as_slice().try_into().ok()?,
                        server_key: c.server_key.as_slice().try_into().ok()?,
                    })
                })
                .unwrap_or_else(|| decoy(&s.state.secret, &username));
            let nonce = STANDARD.encode(rand::random::<[u8; 24]>());
            match server.server_first(Some(credentials), &nonce) {
                Ok((server, first)) => {
                    challenge(s, &first);
                    s.reg.sasl = Some(Box::new(Exchange {
                        reader,
                        step: Step::ScramProof {
                            server: Box::new(server),
                            account: record.map(|r| r.name),
                        },
                    }));
                    Flow::Continue
                }
                Err(e) => {
                    fail(s, &e.to_string());
                    Flow::Continue
                }
            }
        }
        Step::CheckExternal { authzid } => {
            let Some(fp) = s.conn.transport.certfp().map(str::to_owned) else {
                fail(s, "you offered no TLS client certificate");
                return Flow::Continue;
            };
            match s.state.store.account_by_cert(&fp).await {
                Ok(Some(record)) if authzid.is_empty() || key(&authzid) == record.key => {
                    success(s, &record.name, "SASL EXTERNAL");
                    Flow::Continue
                }
                Ok(Some(_)) => {
                    fail(s, "you may only log in as yourself");
                    Flow::Continue
                }
                Ok(None) => {
                    fail(s, "your client certificate belongs to no account");
                    Flow::Continue
                }
                Err(e) => {
                    warn!(error = %e, "cannot read an account");
                    failed(s, Failure::Unavailable)
                }
            }
        }
        _ => Flow::Continue,
    }
}

/// A wrong proof or password for `account`.
fn wrong(s: &mut Session, account: &str, how: &str) -> Flow {
    if check::failed(s, account, how) {
        failed(s, Failure::TooManyOnConnection)
    } else {
        failed(s, Failure::Wrong)
    }
}

fn failed(s: &Session, failure: Failure) -> Flow {
    match failure {
        Failure::Wrong => fail(s, "wrong account or password"),
        Failure::Throttled => fail(s, "too many failed attempts, try again later"),
        Failure::Unavailable => fail(s, "accounts are not available right now"),
        Failure::TooManyOnConnection => {
            fail(s, "too many failed attempts");
            return Flow::Close("Too many failed password attempts".to_owned());
        }
    }
    Flow::Continue
}

fn success(s: &Session, account: &str, how: &str) {
    check::succeeded(s, account);
    login::log_in(s, account, how);
    s.num(RPL_SASLSUCCESS)
        .t("SASL authentication successful")
        .send();
    tracing::debug!(conn_id = %s.conn.id, account = %Escaped(account), "SASL success");
}

/// SCRAM credentials for an account that does not exist: a salt that is the same for each
/// try on one name during this run (derived from the run's secret, so that no one can compute
/// it), and keys that match no password.
fn decoy(secret: &[u8; 32], username: &str) -> ScramCredentials {
    let salt = Hmac::<Sha256>::new_from_slice(secret)
        .map(|mut mac| {
            mac.update(key(username).as_bytes());
            mac.finalize().into_bytes()[..16].to_vec()
        })
        .unwrap_or_else(|_| vec![0; 16]);
    ScramCredentials {
        salt,
        iterations: DEFAULT_ITERATIONS,
        stored_key: rand::random(),
        server_key: rand::random(),
    }
}
