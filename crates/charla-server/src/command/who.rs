//! WHO (<https://modern.ircdocs.horse/#who-message>): the members of a channel, or the users
//! whose nick matches a mask. Invisible users (`+i`) are listed only to people who share a
//! channel with them.

use std::collections::HashSet;
use std::sync::Arc;

use std::time::Instant;

use charla_proto::casemap::casefold;
use charla_proto::numeric::{ERR_TOOMANYMATCHES, RPL_ENDOFWHO, RPL_WHOREPLY, RPL_WHOSPCRPL};
use charla_proto::validate::is_channel_name;

use crate::caps::Cap;
use crate::channel::Channel;
use crate::client::{Client, ConnectionId};
use crate::command::paced::{self, Paced};
use crate::command::table::{Args, Wait};
use crate::command::{self, Flow, Pending};
use crate::mask::Mask;
use crate::session::Session;

/// Most replies to a mask WHO, so that `WHO *` on a big server cannot fill a SendQ.
const MAX_MASK_REPLIES: usize = 500;

/// `WHO [<mask> [%<fields>[,<token>]]]` (WHOX: <https://ircv3.net/specs/extensions/whox>).
pub fn who(s: &mut Session, p: Args<'_, 0>) -> Flow {
    let target = p.first().filter(|t| !t.is_empty()).unwrap_or("*");
    let whox = p.get(1).and_then(Whox::parse);
    if is_channel_name(target) {
        // In a cluster, a channel with no member here is the other nodes' to tell.
        if let Some(cluster) = s.state.cluster().cloned()
            && s.state.channel(target).is_none()
        {
            let target = target.to_owned();
            return Flow::Wait(Box::new(Pending::later(Box::new(
                move |s: &mut Session| -> Wait<'_> {
                    Box::pin(async move {
                        match cluster.view(&casefold(&target)).await {
                            Some(ch) => who_in(s, ch, &target, whox),
                            None => end(s, &target),
                        }
                        Flow::Continue
                    })
                },
            ))));
        }
        who_channel(s, target, whox);
    } else {
        who_mask(s, target, whox.as_ref());
        end(s, target);
    }
    Flow::Continue
}

/// The fields a WHOX query asks for, and its token.
#[derive(Debug, Clone)]
pub struct Whox {
    fields: String,
    token: String,
}

impl Whox {
    /// `%<fields>[,<token>]`; the token is at most three digits, as the spec says.
    fn parse(text: &str) -> Option<Whox> {
        let rest = text.strip_prefix('%')?;
        let (fields, token) = rest.split_once(',').unwrap_or((rest, ""));
        let token = if token.len() <= 3 && token.bytes().all(|b| b.is_ascii_digit()) {
            token
        } else {
            ""
        };
        Some(Whox {
            fields: fields
                .chars()
                .filter(|c| "tcuihsnfdlaor".contains(*c))
                .collect(),
            token: if token.is_empty() {
                "0".to_owned()
            } else {
                token.to_owned()
            },
        })
    }

    fn has(&self, field: char) -> bool {
        self.fields.contains(field)
    }
}

fn end(s: &Session, target: &str) {
    s.num(RPL_ENDOFWHO).p(target).t("End of WHO list").send();
}

/// Members looked at per lock of the channel.
const MEMBERS_PER_PIECE: usize = 64;

/// WHO of a channel, produced as the asker's queue drains: a channel of thousands is a reply
/// of thousands of lines.
fn who_channel(s: &mut Session, name: &str, whox: Option<Whox>) {
    let Some(ch) = s.state.channel(name) else {
        end(s, name);
        return;
    };
    who_in(s, ch, name, whox);
}

/// WHO of channel `ch`, asked as `name`.
fn who_in(s: &mut Session, ch: Arc<Channel>, name: &str, whox: Option<Whox>) {
    let (member, secret, members) = ch.read(|st| {
        (
            st.member(s.client.id).is_some(),
            st.modes.secret,
            st.members.len(),
        )
    });
    s.penalty += command::work_penalty(members);
    if secret && !member {
        end(s, name);
        return;
    }
    let reply = WhoChannel {
        ch,
        target: name.to_owned(),
        next: 0,
        member,
        multi: s.conn.has_cap(Cap::MultiPrefix),
        whox,
    };
    paced::start(s, Box::new(reply));
}

/// The rest of a channel's WHO. It walks the member list by position, so a member who joins or
/// leaves while it is produced may be missed or shown twice, as when two WHO replies overlap.
#[derive(Debug)]
struct WhoChannel {
    ch: Arc<Channel>,
    /// The target as asked, for RPL_ENDOFWHO.
    target: String,
    next: usize,
    /// The asker is a member: invisible members are shown too.
    member: bool,
    /// The WHOX fields asked for, if any.
    whox: Option<Whox>,
    multi: bool,
}

impl Paced for WhoChannel {
    fn produce(&mut self, s: &Session, until: usize) -> bool {
        while paced::has_room(s, until) {
            let (rows, done) = self.ch.read(|st| {
                let piece = st.members.iter().skip(self.next).take(MEMBERS_PER_PIECE);
                let rows: Vec<(Arc<Client>, &'static str)> = piece
                    .filter(|m| self.member || !m.client.info.read().modes.invisible)
                    .map(|m| (m.client.clone(), m.prefixes(self.multi)))
                    .collect();
                self.next = (self.next + MEMBERS_PER_PIECE).min(st.members.len());
                (rows, self.next >= st.members.len())
            });
            if done {
                for (c, prefix) in rows {
                    reply(s, &self.ch.name(), &c, prefix, self.whox.as_ref());
                }
                end(s, &self.target);
                return false;
            }
            for (c, prefix) in rows {
                reply(s, &self.ch.name(), &c, prefix, self.whox.as_ref());
            }
        }
        true
    }
}

fn who_mask(s: &mut Session, pattern: &str, whox: Option<&Whox>) {
    // An exact nick names one user, who is shown even if invisible: +i hides from searches,
    // not from someone who knows the nick (as WHOIS shows them too).
    if !pattern.contains(['*', '?'])
        && let Some(c) = s.state.find_nick(pattern)
        && c.info.read().registered
    {
        reply(s, "*", &c, "", whox);
        return;
    }
    // A mask too long to compile matches no one (nothing is that long but real names, and
    // those are found by shorter masks).
    let Ok(pattern) = Mask::new(pattern) else {
        return;
    };
    let shared: HashSet<ConnectionId> = {
        let channels = s.client.info.read().channels.clone();
        channels
            .iter()
            .flat_map(|ch| ch.read(|st| st.members.iter().map(|m| m.client.id).collect::<Vec<_>>()))
            .collect()
    };
    let mut clients = s.state.all_clients();
    // Every client is looked at, whatever the mask: the asker pays for the scan.
    s.penalty += command::work_penalty(clients.len());
    clients.sort_by_key(|c| c.id);
    let mut sent = 0;
    for c in clients {
        let visible = {
            let info = c.info.read();
            info.registered
                && (!info.modes.invisible || c.id == s.client.id || shared.contains(&c.id))
                && (pattern.matches(&info.nick)
                    || pattern.matches(&c.host)
                    || pattern.matches(&info.realname))
        };
        if visible {
            if sent == MAX_MASK_REPLIES {
                s.num(ERR_TOOMANYMATCHES)
                    .p("WHO")
                    .t("Output too long, truncated")
                    .send();
                break;
            }
            reply(s, "*", &c, "", whox);
            sent += 1;
        }
    }
}

/// `352 <client> <channel> <user> <host> <server> <nick> <flags> :<hopcount> <realname>`, or
/// with WHOX `354 <client>` and the fields asked for, in the spec's order.
fn reply(s: &Session, channel: &str, c: &Client, prefix: &str, whox: Option<&Whox>) {
    let info = c.info.read();
    let mut flags = String::from(if info.away.is_some() { "G" } else { "H" });
    if info.modes.oper {
        flags.push('*');
    }
    flags.push_str(prefix);
    if info.modes.bot {
        flags.push('B');
    }
    let (user, host, nick, realname, account) = (
        info.user.clone(),
        c.host.clone(),
        info.nick.clone(),
        info.realname.clone(),
        info.account.clone(),
    );
    let idle = Instant::now()
        .duration_since(info.last_message)
        .as_secs()
        .to_string();
    drop(info);
    let Some(whox) = whox else {
        s.num(RPL_WHOREPLY)
            .p(channel)
            .p(&user)
            .p(&host)
            .p(s.state.name())
            .p(&nick)
            .p(&flags)
            .t(&format!("0 {realname}"))
            .send();
        return;
    };
    // The address only to the user and operators, as WHOIS 378.
    let ip = if c.id == s.client.id || s.client.is_oper() {
        c.addr.ip().to_string()
    } else {
        "255.255.255.255".to_owned()
    };
    let mut r = s.num(RPL_WHOSPCRPL);
    for (field, value) in [
        ('t', whox.token.as_str()),
        ('c', channel),
        ('u', &user),
        ('i', &ip),
        ('h', &host),
        ('s', s.state.name()),
        ('n', &nick),
        ('f', &flags),
        ('d', "0"),
        ('l', &idle),
        ('a', account.as_deref().unwrap_or("0")),
        ('o', "n/a"),
    ] {
        if whox.has(field) {
            r = r.p(value);
        }
    }
    if whox.has('r') {
        r = r.t(&realname);
    }
    r.send();
}
