//! A channel's side of RENAME (<https://ircv3.net/specs/extensions/channel-rename>): the new
//! name, and how each member learns it — the RENAME line with `draft/channel-rename`, and
//! otherwise the spec's fallback: a PART of the old name and a JOIN of the new one followed by
//! its topic and NAMES, as after a JOIN. A change of case only is told to capable members alone
//! (the spec: the fallback SHOULD NOT be used then).

use charla_proto::LineBuilder;
use charla_proto::casemap::casefold;
use charla_proto::numeric::{RPL_ENDOFNAMES, RPL_NAMREPLY, RPL_TOPIC, RPL_TOPICWHOTIME};
use charla_store::{StoreHandle, Write};

use crate::caps::Cap;
use crate::channel::{Channel, ChannelState, Member, Pending, Waiting};
use crate::client::Client;
use crate::deliver::{self, Actor, Payload};
use crate::outbound::Outgoing;
use crate::timefmt;

/// Bytes of nicks per RPL_NAMREPLY line, as NAMES sends them.
const NAMES_PER_LINE_BYTES: usize = 380;

/// A rename to announce.
#[derive(Debug)]
pub struct Renamed {
    /// The name before.
    pub old: String,
    /// The name after.
    pub new: String,
    /// The reason given (may be empty).
    pub reason: String,
    /// `:<renamer> RENAME <old> <new> :<reason>`, for the members with the capability.
    pub line: Outgoing,
    /// The server's name, the source of the fallback's numerics.
    pub server: String,
}

impl Channel {
    /// Gives the channel the name `renamed.new` and tells the members: at once, or after the
    /// messages still waiting for their commit (they were sent under the old name). The caller
    /// ([`crate::state::State::finish_rename`]) holds the channel map's lock and gives it in
    /// `switch_map`, which puts the channel under its new key and lets the map go; the store
    /// already keeps everything under the new key.
    ///
    /// A second [`Write::RenameChannel`] sweeps up what was written under the old key while the
    /// first was being committed (messages, events), and a registered channel's topic and modes
    /// are written again under the new key (a change made meanwhile found no channel under the
    /// old one).
    pub(crate) fn rename(
        &self,
        renamed: Renamed,
        store: &StoreHandle,
        actor: Option<Actor<'_>>,
        switch_map: impl FnOnce(),
    ) {
        let mut st = self.state.lock();
        let old_key = self.key();
        renamed.new.clone_into(&mut self.name.write());
        // The map's lock goes with the closure: from here on only this channel's is held.
        switch_map();
        let new_key = self.key();
        store.write_later(Write::RenameChannel {
            from: old_key,
            to: new_key.clone(),
            name: renamed.new.clone(),
        });
        st.persist_modes(&new_key);
        st.persist_topic(&new_key);
        if st.waiting.is_empty() {
            renamed.announce(&st, actor);
        } else {
            st.waiting.push_back(Waiting {
                receipt: None,
                what: Pending::Rename(Box::new(renamed)),
            });
        }
    }
}

impl Renamed {
    /// Tells every member, under the channel's lock.
    pub(crate) fn announce(&self, st: &ChannelState, actor: Option<Actor<'_>>) {
        let line = Payload::only_with(Cap::ChannelRename, self.line.clone());
        deliver::to_members(&st.members, &line, actor, |_| true);
        if casefold(&self.old) == casefold(&self.new) {
            return;
        }
        let mut names = NamesCache::default();
        for m in &st.members {
            // Each of the member's connections (devices) in the form it asks for.
            for conn in m.client.connections() {
                if !conn.has_cap(Cap::ChannelRename) {
                    self.fall_back(st, &m.client, &conn, &mut names, actor);
                }
            }
        }
    }

    /// The fallback for one connection without the capability, of the member `client`: its
    /// own PART and JOIN, then the topic and NAMES a JOIN brings.
    fn fall_back(
        &self,
        st: &ChannelState,
        client: &Client,
        conn: &Client,
        names: &mut NamesCache,
        actor: Option<Actor<'_>>,
    ) {
        let (source, nick, account, realname) = {
            let info = client.info.read();
            (
                info.source(&client.host),
                info.nick.clone(),
                info.account.clone(),
                info.realname.clone(),
            )
        };
        let send = |line: LineBuilder| {
            deliver::to_connection(conn, &Payload::new(Outgoing::new(line)), actor);
        };
        let mut part = LineBuilder::new();
        part.source(&source).command("PART").param(&self.old);
        if !self.reason.is_empty() {
            part.trailing(&self.reason);
        }
        send(part);
        let mut join = LineBuilder::new();
        join.source(&source).command("JOIN").param(&self.new);
        if conn.has_cap(Cap::ExtendedJoin) {
            join.param(account.as_deref().unwrap_or("*"))
                .trailing(&realname);
        }
        send(join);
        let numeric = |n: u16| {
            let mut line = LineBuilder::new();
            line.source(&self.server).numeric(n).param(&nick);
            line
        };
        if let Some(topic) = &st.topic {
            let mut line = numeric(RPL_TOPIC);
            line.param(&self.new).trailing(&topic.text);
            send(line);
            let mut line = numeric(RPL_TOPICWHOTIME);
            line.param(&self.new)
                .param(&topic.set_by)
                .param(&timefmt::unix(topic.set_at).to_string());
            send(line);
        }
        if conn.has_cap(Cap::NoImplicitNames) {
            return;
        }
        let symbol = if st.modes.secret { "@" } else { "=" };
        let multi = conn.has_cap(Cap::MultiPrefix);
        let userhost = conn.has_cap(Cap::UserhostInNames);
        for chunk in names.get(&st.members, multi, userhost) {
            let mut line = numeric(RPL_NAMREPLY);
            line.param(symbol).param(&self.new).trailing(chunk);
            send(line);
        }
        let mut end = numeric(RPL_ENDOFNAMES);
        end.param(&self.new).trailing("End of /NAMES list");
        send(end);
    }
}

/// The NAMES text of the members, cut into lines, made once per variant (`multi-prefix`,
/// `userhost-in-names`) for all the members who need it.
#[derive(Debug, Default)]
struct NamesCache {
    variants: [Option<Vec<String>>; 4],
}

impl NamesCache {
    fn get(&mut self, members: &[Member], multi: bool, userhost: bool) -> &[String] {
        let slot = usize::from(multi) * 2 + usize::from(userhost);
        self.variants[slot].get_or_insert_with(|| {
            let mut lines = Vec::new();
            let mut line = String::new();
            for m in members {
                let prefix = m.prefixes(multi);
                let entry = {
                    let info = m.client.info.read();
                    if userhost {
                        format!("{prefix}{}", info.source(&m.client.host))
                    } else {
                        format!("{prefix}{}", info.nick)
                    }
                };
                if !line.is_empty() && line.len() + entry.len() + 1 > NAMES_PER_LINE_BYTES {
                    lines.push(std::mem::take(&mut line));
                }
                if !line.is_empty() {
                    line.push(' ');
                }
                line.push_str(&entry);
            }
            if !line.is_empty() {
                lines.push(line);
            }
            lines
        })
    }
}
