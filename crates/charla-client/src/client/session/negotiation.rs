//! Capability negotiation (CAP LS 302, REQ, END, NEW/DEL) and SASL log-in
//! (AUTHENTICATE and its numerics) for a [`Session`].

use charla_proto::OwnedMessage;
use charla_proto::numeric;

use super::super::sasl::{Login, Next};
use super::super::{End, Task};
use super::Session;
use crate::account::LoginError;
use crate::event::Event;

/// The capabilities we ask for when the server offers them.
pub(super) const WANTED_CAPS: &[&str] = &[
    "server-time",
    "message-tags",
    "echo-message",
    "multi-prefix",
    "away-notify",
    "extended-join",
    "userhost-in-names",
    "cap-notify",
    "account-notify",
    "account-tag",
    "chghost",
    "invite-notify",
    "setname",
    "batch",
    "draft/chathistory",
    "draft/event-playback",
    "draft/read-marker",
    "soju.im/search",
    "draft/message-redaction",
    super::multiline::CAP,
    "draft/metadata-2",
    "draft/channel-rename",
];

/// The account-registration capability (<https://ircv3.net/specs/extensions/account-registration>).
pub(super) const CAP_ACCOUNT_REGISTRATION: &str = "draft/account-registration";

impl Session {
    pub(super) fn cap(&mut self, task: &mut Task, msg: &OwnedMessage) -> Option<End> {
        // CAP <target> <sub> [*] :<caps>
        let sub = msg.param(1).unwrap_or("").to_ascii_uppercase();
        let more = msg.params.len() > 3 && msg.param(2) == Some("*");
        let list = msg.params.last().map(String::as_str).unwrap_or("");
        match sub.as_str() {
            "LS" | "NEW" => {
                for item in list.split(' ').filter(|s| !s.is_empty()) {
                    let (name, value) = item.split_once('=').unwrap_or((item, ""));
                    self.reg.offered.insert(name.to_owned(), value.to_owned());
                }
                if more {
                    return None;
                }
                if let Some(v) = self.reg.offered.get(CAP_ACCOUNT_REGISTRATION) {
                    task.account_registration = Some(v.clone());
                }
                let mut wanted: Vec<&str> = WANTED_CAPS
                    .iter()
                    .copied()
                    .filter(|c| self.reg.offered.contains_key(*c) && !task.state.has_cap(c))
                    .collect();
                if !self.registered
                    && self.reg.login.is_none()
                    && let Some(sasl) = &task.config.sasl
                {
                    let planned = match self.reg.offered.get("sasl") {
                        None => Err(LoginError::NotOffered),
                        Some(offered) => Login::plan(
                            sasl,
                            offered,
                            task.offers_certificate(),
                            task.password_may_travel(),
                        ),
                    };
                    match planned {
                        Ok(login) => {
                            self.reg.login = Some(login);
                            wanted.push("sasl");
                        }
                        Err(error) => {
                            if let Some(end) = self.login_failed(task, error, false) {
                                return Some(end);
                            }
                        }
                    }
                }
                if wanted.is_empty() {
                    if !self.registered {
                        self.cap_end();
                    }
                } else {
                    self.send_msg("CAP", &["REQ", &wanted.join(" ")]);
                }
            }
            "ACK" => {
                let mut enabled = task.state.caps.clone();
                let mut sasl = false;
                for item in list.split(' ').filter(|s| !s.is_empty()) {
                    if let Some(removed) = item.strip_prefix('-') {
                        enabled.retain(|c| c != removed);
                    } else {
                        if item == "sasl" {
                            sasl = true;
                        }
                        if !enabled.iter().any(|c| c == item) {
                            enabled.push(item.to_owned());
                        }
                    }
                }
                task.emit(Event::Capabilities { enabled });
                if self.registered {
                    return None;
                }
                match &self.reg.login {
                    Some(login) if sasl => {
                        self.reg.sasl_pending = true;
                        let mechanism = login.mechanism();
                        self.send_msg("AUTHENTICATE", &[mechanism]);
                    }
                    _ => self.cap_end(),
                }
            }
            "NAK" if !self.registered => {
                if self.reg.login.take().is_some() {
                    // The request with `sasl` in it was refused whole.
                    return self.login_over(task, LoginError::NotOffered, false);
                }
                self.cap_end();
            }
            "DEL" => {
                let gone: Vec<&str> = list.split(' ').collect();
                let mut enabled = task.state.caps.clone();
                enabled.retain(|c| !gone.contains(&c.as_str()));
                if gone.contains(&CAP_ACCOUNT_REGISTRATION) {
                    task.account_registration = None;
                }
                task.emit(Event::Capabilities { enabled });
            }
            _ => {}
        }
        None
    }

    pub(super) fn cap_end(&mut self) {
        if !self.reg.cap_done {
            self.reg.cap_done = true;
            self.send_msg("CAP", &["END"]);
        }
    }

    /// One `AUTHENTICATE` line from the server: the login answers it, or we abort one that
    /// no login of ours asked for.
    pub(super) fn authenticate(&mut self, task: &mut Task, param: &str) -> Option<End> {
        let Some(login) = self.reg.login.as_mut().filter(|_| self.reg.sasl_pending) else {
            self.send_msg("AUTHENTICATE", &["*"]);
            return None;
        };
        match login.on_authenticate(param) {
            Ok(replies) => {
                for reply in replies {
                    self.send_msg("AUTHENTICATE", &[&reply]);
                }
                None
            }
            Err(error) => {
                self.send_msg("AUTHENTICATE", &["*"]);
                // A server that fails to prove itself may be an impostor: never carry on.
                let fatal = matches!(error, LoginError::ServerSignature);
                self.login_over(task, error, fatal)
            }
        }
    }

    /// A SASL numeric while our login is under way (`902`–`908`).
    pub(super) fn sasl_numeric(
        &mut self,
        task: &mut Task,
        num: u16,
        msg: &OwnedMessage,
    ) -> Option<End> {
        let login = self.reg.login.as_mut()?;
        let error = match num {
            numeric::RPL_SASLMECHS => {
                login.on_mechanisms(msg.param(1).unwrap_or(""));
                return None;
            }
            numeric::ERR_SASLFAIL => match login.on_fail() {
                Next::Try(mechanism) => {
                    self.send_msg("AUTHENTICATE", &[mechanism]);
                    return None;
                }
                Next::Fail(error) => error,
            },
            numeric::RPL_SASLSUCCESS => match login.on_success() {
                Ok(()) => {
                    self.reg.sasl_pending = false;
                    self.reg.login = None;
                    self.cap_end();
                    return None;
                }
                Err(error) => return self.login_over(task, error, true),
            },
            // Already logged in (a reconnect that kept it, say): that is what we wanted.
            numeric::ERR_SASLALREADY => {
                self.reg.sasl_pending = false;
                self.reg.login = None;
                self.cap_end();
                return None;
            }
            numeric::ERR_SASLTOOLONG => LoginError::TooLong,
            numeric::ERR_SASLABORTED => LoginError::Aborted,
            _ => LoginError::Locked,
        };
        self.login_over(task, error, false)
    }

    /// Logging in failed: say so, then carry on without an account (IRCv3's rule), or quit
    /// when the config requires the account or `fatal` (the server failed to prove itself).
    pub(super) fn login_failed(
        &mut self,
        task: &mut Task,
        error: LoginError,
        fatal: bool,
    ) -> Option<End> {
        self.reg.sasl_pending = false;
        self.reg.login = None;
        let required = fatal || task.config.sasl.as_ref().is_some_and(|s| s.required);
        let reason = format!("could not log in: {error}");
        task.emit(Event::LoginFailed {
            error,
            continuing: !required,
        });
        if required {
            self.send_msg("QUIT", &["Could not log in"]);
            return Some(End::Refused(reason));
        }
        None
    }

    /// [`login_failed`](Self::login_failed) once the exchange was under way: registration
    /// goes on with `CAP END` unless it stopped.
    pub(super) fn login_over(
        &mut self,
        task: &mut Task,
        error: LoginError,
        fatal: bool,
    ) -> Option<End> {
        let end = self.login_failed(task, error, fatal);
        if end.is_none() {
            self.cap_end();
        }
        end
    }
}
