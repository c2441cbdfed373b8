//! Registered nicks are protected: someone who takes the nick of an account without being
//! logged into it is told so, and after `accounts.nick_grace_secs` (unless they logged in or
//! changed nick meanwhile) renamed to a guest nick.
//!
//! The check runs in its own task (it reads the store, then waits the grace period), holding
//! only the state and the client; the session goes on meanwhile.

use std::sync::Arc;

use charla_proto::LineBuilder;
use tracing::info;

use crate::account::key;
use crate::account::services::{self, Service};
use crate::client::Client;
use crate::command::nick;
use crate::deliver::{self, Payload};
use crate::logtext::Escaped;
use crate::outbound::Outgoing;
use crate::state::State;

/// Whether `client` uses the nick of an account it is not logged into, as far as memory says
/// (the store says whether the nick is an account).
fn holds_other(client: &Client, nick_key: &str) -> bool {
    let info = client.info.read();
    key(&info.nick) == nick_key && info.account.as_deref().map(key).as_deref() != Some(nick_key)
}

/// A NOTICE from NickServ to `client`.
fn tell(state: &State, client: &Client, text: &str) {
    let mut line = LineBuilder::new();
    line.source(&services::source(state, Service::NickServ.nick()))
        .command("NOTICE")
        .param(&client.nick())
        .trailing(text);
    deliver::to_client(client, &Payload::new(Outgoing::new(line)), None);
}

/// Starts the check of `client`'s current nick (after registration or a nick change).
pub fn check(state: &Arc<State>, client: &Arc<Client>) {
    let Some(grace) = state.config.accounts.nick_grace() else {
        return;
    };
    let nick_key = key(&client.nick());
    if !holds_other(client, &nick_key) {
        return;
    }
    let (state, client) = (state.clone(), client.clone());
    tokio::spawn(async move {
        let Ok(Some(account)) = state.store.account(&nick_key).await else {
            return;
        };
        if !holds_other(&client, &nick_key) {
            return;
        }
        tell(
            &state,
            &client,
            &format!(
                "{} is a registered nick. Log in to its account within {} seconds (SASL, or /msg NickServ IDENTIFY <password>), or you will be renamed.",
                account.name,
                grace.as_secs()
            ),
        );
        tokio::time::sleep(grace).await;
        if client.queue.is_closed() || state.client(client.id).is_none() {
            return;
        }
        if holds_other(&client, &nick_key) {
            rename_to_guest(&state, &client, |old, guest| {
                format!("You did not log in to {old}'s account: you are now {guest}.")
            });
        }
    });
}

/// Renames `client` to a free guest nick, telling it `why(old nick, guest nick)`.
pub(crate) fn rename_to_guest(state: &State, client: &Client, why: impl Fn(&str, &str) -> String) {
    let prefix = &state.config.accounts.guest_prefix;
    let (old_source, old_nick) = {
        let info = client.info.read();
        (info.source(&client.host), info.nick.clone())
    };
    for _ in 0..32 {
        let guest = format!("{prefix}{}", rand::random_range(10_000..100_000));
        let Some(me) = state.client(client.id) else {
            return;
        };
        if state.claim_nick(&me, &guest).is_ok() {
            info!(conn_id = %client.id, old = %Escaped(&old_nick), new = %guest,
                "renamed to a guest nick");
            tell(state, client, &why(&old_nick, &guest));
            nick::announce(state, client, &old_source, &old_nick, &guest, None);
            return;
        }
    }
}
