//! REGISTER and VERIFY (`draft/account-registration`,
//! <https://ircv3.net/specs/extensions/account-registration>): an account made from the
//! connection, before or after registration, logged in at once. No e-mail is needed, so
//! VERIFY never has anything to verify.

use crate::account::create::{self, CreateError};
use crate::account::password::Password;
use crate::account::{PASSWORD_NEEDS_TLS, login, may_send_password};
use crate::command::Flow;
use crate::command::table::Owned;
use crate::config::Registration;
use crate::session::Session;

/// `FAIL REGISTER <code> <account> :<text>`.
fn fail(s: &Session, code: &str, account: &str, text: &str) {
    let mut line = s.server_line("FAIL");
    line.param("REGISTER")
        .param(code)
        .param(account)
        .trailing(text);
    s.send_line(line);
}

/// `REGISTER <account> {<email> | *} <password>`.
pub async fn register(s: &mut Session, p: Owned<3>) -> Flow {
    let [account, email, password] = p.req;
    let nick = s.nick();
    let account = if account == "*" {
        nick.clone()
    } else {
        account
    };
    let allowed = match s.state.config.accounts.registration {
        Registration::Open => Ok(()),
        Registration::Opers if s.client.is_oper() => Ok(()),
        Registration::Opers => Err("Only IRC operators may register accounts here"),
        Registration::Closed => Err("Account registration is closed on this server"),
    };
    if let Err(why) = allowed {
        fail(s, "TEMPORARILY_UNAVAILABLE", &account, why);
        return Flow::Continue;
    }
    if s.client.info.read().account.is_some() {
        fail(
            s,
            "ALREADY_REGISTERED",
            &account,
            "You are already logged in",
        );
        return Flow::Continue;
    }
    if nick == "*" {
        fail(s, "NEED_NICK", "*", "Choose a nick first");
        return Flow::Continue;
    }
    // Early registration must not skip the connection password.
    if !s.reg.done && s.state.config.password.is_some() {
        let mut line = s.server_line("FAIL");
        line.param("REGISTER")
            .param("COMPLETE_CONNECTION_REQUIRED")
            .trailing("Finish connecting first");
        s.send_line(line);
        return Flow::Continue;
    }
    if !may_send_password(&s.client) {
        fail(s, "UNACCEPTABLE_PASSWORD", &account, PASSWORD_NEEDS_TLS);
        return Flow::Continue;
    }
    let email = match email.as_str() {
        "*" => None,
        e if e.contains('@') && !e.starts_with('@') && !e.ends_with('@') => Some(e.to_owned()),
        _ => {
            fail(
                s,
                "INVALID_EMAIL",
                &account,
                "That is not an e-mail address",
            );
            return Flow::Continue;
        }
    };
    match create::create(&s.state, &account, Password::new(password), email).await {
        Ok(record) => {
            let mut line = s.server_line("REGISTER");
            line.param("SUCCESS")
                .param(&record.name)
                .trailing("Account created");
            s.send_line(line);
            login::log_in(s, &record.name, "REGISTER");
        }
        Err(e) => {
            let code = match e {
                CreateError::Exists(_) => "ACCOUNT_EXISTS",
                CreateError::BadName(..) => "BAD_ACCOUNTNAME",
                CreateError::WeakPassword(_) => "WEAK_PASSWORD",
                CreateError::UnacceptablePassword => "UNACCEPTABLE_PASSWORD",
                CreateError::Unavailable => "TEMPORARILY_UNAVAILABLE",
            };
            fail(s, code, &account, &e.to_string());
        }
    }
    Flow::Continue
}

/// `VERIFY <account> <code>`: nothing here waits for verification.
pub async fn verify(s: &mut Session, p: Owned<2>) -> Flow {
    let [account, _code] = p.req;
    let (code, text) = if s.client.info.read().account.is_some() {
        ("ALREADY_REGISTERED", "You are already logged in")
    } else {
        (
            "INVALID_CODE",
            "No verification is pending: accounts here need none",
        )
    };
    let mut line = s.server_line("FAIL");
    line.param("VERIFY")
        .param(code)
        .param(&account)
        .trailing(text);
    s.send_line(line);
    Flow::Continue
}
