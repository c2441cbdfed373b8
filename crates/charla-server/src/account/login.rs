//! Logging a connection into an account and out of it, and telling those who follow it.
//!
//! Logging in sets the account and, once registered, the user name to the account's name (the
//! `~` of an unverified user name goes: the account vouches for it). Peers with
//! `account-notify` get `ACCOUNT <name>`, peers with `chghost` get `CHGHOST`, and the client
//! gets 900 RPL_LOGGEDIN (<https://ircv3.net/specs/extensions/sasl-3.1>).

use charla_proto::LineBuilder;
use charla_proto::numeric::{RPL_LOGGEDIN, RPL_LOGGEDOUT};
use charla_proto::validate::USERLEN;
use tracing::info;

use crate::caps::Cap;
use crate::deliver::{self, Payload};
use crate::logtext::Escaped;
use crate::outbound::Outgoing;
use crate::session::Session;

/// The user name a logged-in user shows: the account name, cut to `USERLEN`, without the
/// characters a user name may not hold.
pub fn user_for(account: &str) -> String {
    account
        .chars()
        .filter(|c| !matches!(c, ' ' | '@' | '!' | ':' | ',' | '*' | '?') && !c.is_control())
        .take(USERLEN)
        .collect()
}

/// Logs the session's client into `account` (its name as registered). `how` says how, for the
/// log ("SASL PLAIN", "NickServ IDENTIFY", ...).
pub fn log_in(s: &Session, account: &str, how: &str) {
    let (old_source, registered) = {
        let mut info = s.client.info.write();
        info.account = Some(account.to_owned());
        (info.source(&s.client.host), info.registered)
    };
    info!(conn_id = %s.conn.id, peer = %s.conn.addr, account = %Escaped(account),
        how, "logged in");
    s.state.metrics.logins.inc();
    crate::command::metadata::load_for_account(&s.state, &s.client, account);
    load_always_on(s, account);
    if registered {
        s.state.set_present(account, &s.client);
        let new_user = user_for(account);
        let old_user = std::mem::replace(&mut s.client.info.write().user, new_user.clone());
        if old_user != new_user {
            let mut line = LineBuilder::new();
            line.source(&old_source)
                .command("CHGHOST")
                .param(&new_user)
                .param(&s.client.host);
            let payload = Payload::only_with(Cap::Chghost, Outgoing::new(line)).may_wait();
            deliver::to_peers_and_watchers(&s.state, &s.client, &payload, true, Some(s.actor()));
        }
        let mut line = LineBuilder::new();
        line.source(&s.client.source())
            .command("ACCOUNT")
            .param(account);
        let payload = Payload::only_with(Cap::AccountNotify, Outgoing::new(line)).may_wait();
        deliver::to_peers_and_watchers(&s.state, &s.client, &payload, false, Some(s.actor()));
    }
    s.num(RPL_LOGGEDIN)
        .p(&s.client.source())
        .p(account)
        .t(&format!("You are now logged in as {account}"))
        .send();
}

/// Reads the account's always-on choice into the user, in the background (it matters only
/// when its last connection leaves).
fn load_always_on(s: &Session, account: &str) {
    let (state, user, key) = (
        s.state.clone(),
        s.client.clone(),
        crate::account::key(account),
    );
    tokio::spawn(async move {
        if let Ok(Some(record)) = state.store.account(&key).await {
            let mut info = user.info.write();
            if info.account.as_deref().map(crate::account::key) == Some(key) {
                info.always_on = record.always_on;
            }
        }
    });
}

/// Logs the session's client out of its account, if it is logged in.
pub fn log_out(s: &Session) {
    let Some(account) = s.client.info.write().account.take() else {
        return;
    };
    info!(conn_id = %s.conn.id, account = %Escaped(&account), "logged out");
    s.state.clear_present(&account, &s.client);
    crate::devices::forget_presence(&s.state, &account);
    s.client.info.write().always_on = None;
    if s.client.info.read().registered {
        let mut line = LineBuilder::new();
        line.source(&s.client.source())
            .command("ACCOUNT")
            .param("*");
        let payload = Payload::only_with(Cap::AccountNotify, Outgoing::new(line)).may_wait();
        deliver::to_peers_and_watchers(&s.state, &s.client, &payload, false, Some(s.actor()));
    }
    s.num(RPL_LOGGEDOUT)
        .p(&s.client.source())
        .t("You are now logged out")
        .send();
}
