//! NAMES (<https://modern.ircdocs.horse/#names-message>), also sent after JOIN.

use std::sync::Arc;

use charla_proto::numeric::{ERR_TOOMANYTARGETS, RPL_ENDOFNAMES, RPL_NAMREPLY};

use crate::caps::Cap;
use crate::channel::Channel;
use crate::client::Client;
use crate::command::paced::{self, Paced};
use crate::command::table::{Args, Wait};
use crate::command::{self, Flow, Pending, split_list};
use crate::session::Session;
use charla_proto::casemap::casefold;

/// Bytes of nicks per RPL_NAMREPLY line, so that the whole line stays under 512.
const NAMES_PER_LINE_BYTES: usize = 380;

/// Channels one NAMES may name (ISUPPORT `TARGMAX` NAMES); more get ERR_TOOMANYTARGETS.
pub const MAX_NAMES_TARGETS: usize = 10;

/// `NAMES [<channel>{,<channel>}]`: each channel's 353 lines and its 366, in the order asked.
pub fn names(s: &mut Session, p: Args<'_, 0>) -> Flow {
    let Some(list) = p.first() else {
        s.num(RPL_ENDOFNAMES).p("*").t("End of /NAMES list").send();
        return Flow::Continue;
    };
    // In a cluster, a channel with no member here is the other nodes' to tell.
    if let Some(cluster) = s.state.cluster().cloned()
        && split_list(list)
            .take(MAX_NAMES_TARGETS)
            .any(|name| s.state.channel(name).is_none())
    {
        let names: Vec<String> = split_list(list).map(str::to_owned).collect();
        return Flow::Wait(Box::new(Pending::later(Box::new(
            move |s: &mut Session| -> Wait<'_> {
                Box::pin(async move {
                    for (i, name) in names.iter().enumerate() {
                        let found = match s.state.channel(name) {
                            Some(ch) => Some(ch),
                            None if i < MAX_NAMES_TARGETS => cluster.view(&casefold(name)).await,
                            None => None,
                        };
                        if !names_of(s, i, name, found) {
                            break;
                        }
                    }
                    Flow::Continue
                })
            },
        ))));
    }
    for (i, name) in split_list(list).enumerate() {
        let found = s.state.channel(name);
        if !names_of(s, i, name, found) {
            break;
        }
    }
    Flow::Continue
}

/// The reply for the `i`th channel of a NAMES, `name`, found as `found`; false past the most a
/// NAMES may name (told with ERR_TOOMANYTARGETS).
fn names_of(s: &mut Session, i: usize, name: &str, found: Option<Arc<Channel>>) -> bool {
    if i >= MAX_NAMES_TARGETS {
        s.num(ERR_TOOMANYTARGETS)
            .p(name)
            .t("Too many targets")
            .send();
        return false;
    }
    match found {
        Some(ch) => {
            // The asker pays for the size of each list (the NAMES after a JOIN does not).
            s.penalty += command::work_penalty(ch.member_count());
            send_names(s, ch);
        }
        None => end_in_order(s, name),
    }
    true
}

/// 353 lines and 366 for `ch`, produced as the asker's queue drains ([`paced`]). Outsiders
/// see nothing of a secret channel and no invisible members.
pub fn send_names(s: &mut Session, ch: Arc<Channel>) {
    let (member, secret) = ch.read(|st| (st.member(s.client.id).is_some(), st.modes.secret));
    let symbol = match (secret, member) {
        (true, false) => {
            end_in_order(s, &ch.name());
            return;
        }
        (true, true) => "@",
        (false, _) => "=",
    };
    let reply = NamesReply {
        ch,
        next: 0,
        member,
        multi: s.conn.has_cap(Cap::MultiPrefix),
        userhost: s.conn.has_cap(Cap::UserhostInNames),
        symbol,
        line: String::new(),
    };
    paced::start(s, Box::new(reply));
}

fn end(s: &Session, channel: &str) {
    s.num(RPL_ENDOFNAMES)
        .p(channel)
        .t("End of /NAMES list")
        .send();
}

/// A 366 alone (no such channel, or a secret one seen from outside), after the replies still
/// being produced for the channels named before it.
fn end_in_order(s: &mut Session, channel: &str) {
    paced::start(s, Box::new(EndOnly(channel.to_owned())));
}

/// A NAMES reply that is only its end.
#[derive(Debug)]
struct EndOnly(String);

impl Paced for EndOnly {
    fn produce(&mut self, s: &Session, _until: usize) -> bool {
        end(s, &self.0);
        false
    }
}

/// Members looked at per lock of the channel.
const MEMBERS_PER_PIECE: usize = 128;

/// The rest of a NAMES reply. It walks the member list by position, so a member who joins or
/// leaves meanwhile may be missed or shown twice (JOIN and PART lines tell the truth).
#[derive(Debug)]
struct NamesReply {
    ch: Arc<Channel>,
    next: usize,
    member: bool,
    multi: bool,
    userhost: bool,
    symbol: &'static str,
    /// The 353 line being filled.
    line: String,
}

impl NamesReply {
    fn flush(&mut self, s: &Session) {
        if !self.line.is_empty() {
            s.num(RPL_NAMREPLY)
                .p(self.symbol)
                .p(&self.ch.name())
                .t(&self.line)
                .send();
            self.line.clear();
        }
    }
}

impl Paced for NamesReply {
    fn produce(&mut self, s: &Session, until: usize) -> bool {
        while paced::has_room(s, until) {
            // Under the channel's lock only the piece's members are taken (a reference count
            // each): a JOIN fans out under that lock, and in a storm of joins every joiner's
            // NAMES is read while others join, so names are looked up and written outside it.
            let (piece, done) = self.ch.read(|st| {
                let piece: Vec<(Arc<Client>, &'static str)> = st
                    .members
                    .iter()
                    .skip(self.next)
                    .take(MEMBERS_PER_PIECE)
                    .map(|m| (m.client.clone(), m.prefixes(self.multi)))
                    .collect();
                self.next = (self.next + MEMBERS_PER_PIECE).min(st.members.len());
                (piece, self.next >= st.members.len())
            });
            let mut entry = String::new();
            for (client, prefix) in piece {
                entry.clear();
                {
                    let info = client.info.read();
                    if !self.member && info.modes.invisible {
                        continue;
                    }
                    entry.push_str(prefix);
                    if self.userhost {
                        entry.push_str(&info.source(&client.host));
                    } else {
                        entry.push_str(&info.nick);
                    }
                }
                if !self.line.is_empty() && self.line.len() + entry.len() + 1 > NAMES_PER_LINE_BYTES
                {
                    self.flush(s);
                }
                if !self.line.is_empty() {
                    self.line.push(' ');
                }
                self.line.push_str(&entry);
            }
            if done {
                self.flush(s);
                end(s, &self.ch.name());
                return false;
            }
        }
        true
    }
}
