//! MODE (<https://modern.ircdocs.horse/#mode-message>) for users (`+i +o +w`) and channels
//! (`+C +i +m +n +s +t`, `+k`, `+l`, lists `+b +e +I` with mutes `+b ~m:<mask>`, prefixes
//! `+o +v`). Mode strings are split
//! with `charla_proto::mode` by the CHANMODES/PREFIX types we advertise, and the changes that
//! took effect are packed back into as few MODE lines as ISUPPORT `MODES` allows.

use std::sync::Arc;
use std::time::SystemTime;

use charla_proto::LineBuilder;
use charla_proto::casemap::casefold;
use charla_proto::isupport::ChanModes;
use charla_proto::mode::{self, ModeChange, ModeError, ModeTypes};
use charla_proto::numeric::{
    ERR_BANLISTFULL, ERR_INVALIDKEY, ERR_INVALIDMODEPARAM, ERR_NOSUCHCHANNEL, ERR_NOSUCHNICK,
    ERR_UMODEUNKNOWNFLAG, ERR_UNKNOWNMODE, ERR_USERNOTINCHANNEL, ERR_USERSDONTMATCH, RPL_BANLIST,
    RPL_CHANNELMODEIS, RPL_CREATIONTIME, RPL_ENDOFBANLIST, RPL_ENDOFEXCEPTLIST, RPL_ENDOFINVEXLIST,
    RPL_EXCEPTLIST, RPL_INVEXLIST, RPL_UMODEIS,
};
use charla_proto::validate::is_channel_name;

use crate::channel::{Channel, ChannelState, ListEntry};
use crate::client::Client;
use crate::command::Flow;
use crate::command::table::Args;
use crate::deliver::Payload;
use crate::isupport::{CHANMODES, MODES, PREFIX_MODES, USER_MODES};
use crate::outbound::Outgoing;
use crate::session::Session;
use crate::state::Counter;
use crate::timefmt;

/// Longest channel key (ISUPPORT `KEYLEN`).
pub const KEYLEN: usize = 32;
/// Bytes of mode string and arguments per MODE line (leaves room for the source and target).
const MODE_LINE_BUDGET: usize = 300;

/// `MODE <target> [<modestring> [<mode arguments>...]]`.
pub fn mode(s: &mut Session, p: Args<'_, 1>) -> Flow {
    if is_channel_name(p.req[0]) {
        channel_mode(s, p.req[0], p.from(1));
    } else {
        user_mode(s, p.req[0], p.from(1));
    }
    Flow::Continue
}

fn user_mode(s: &Session, target: &str, rest: &[&str]) {
    let Some(t) = s.state.find_nick(target) else {
        s.num(ERR_NOSUCHNICK)
            .p(target)
            .t("No such nick/channel")
            .send();
        return;
    };
    if t.id != s.client.id {
        s.num(ERR_USERSDONTMATCH)
            .t("Can't change mode for other users")
            .send();
        return;
    }
    let Some(modestring) = rest.first() else {
        let modes = s.client.info.read().modes.to_mode_string();
        s.num(RPL_UMODEIS).p(&modes).send();
        return;
    };
    let parsed = mode::parse(modestring, &rest[1..], &ModeTypes::user(USER_MODES));
    if !parsed.errors.is_empty() {
        s.num(ERR_UMODEUNKNOWNFLAG).t("Unknown MODE flag").send();
    }
    let mut applied = Vec::new();
    {
        let mut info = s.client.info.write();
        for c in &parsed.changes {
            let slot = match c.mode {
                'i' => &mut info.modes.invisible,
                'w' => &mut info.modes.wallops,
                'B' => &mut info.modes.bot,
                // +o only through OPER; -o drops operator status.
                'o' if !c.add => &mut info.modes.oper,
                _ => continue,
            };
            if *slot != c.add {
                *slot = c.add;
                applied.push(*c);
                match c.mode {
                    'i' => s.state.count(Counter::Invisible, c.add),
                    'o' => s.state.count(Counter::Opers, false),
                    _ => {}
                }
            }
        }
        if !info.modes.oper {
            info.oper_name = None;
        }
    }
    let nick = s.nick();
    for line in mode::pack(&applied, Some(MODES), MODE_LINE_BUDGET) {
        let mut b = LineBuilder::new();
        b.source(&nick).command("MODE").param(&nick);
        for p in line.params() {
            b.param(p);
        }
        s.send_line(b);
    }
}

fn channel_types() -> ModeTypes {
    ModeTypes::channel(ChanModes::parse(CHANMODES), PREFIX_MODES)
}

fn channel_mode(s: &Session, name: &str, rest: &[&str]) {
    let Some(ch) = s.state.channel(name) else {
        s.num(ERR_NOSUCHCHANNEL).p(name).t("No such channel").send();
        return;
    };
    let Some(modestring) = rest.first() else {
        let (modes, args) = ch.read(|st| st.modes.to_mode_string(st.member(s.client.id).is_some()));
        let mut r = s.num(RPL_CHANNELMODEIS).p(&ch.name()).p(&modes);
        for a in &args {
            r = r.p(a);
        }
        r.send();
        s.num(RPL_CREATIONTIME)
            .p(&ch.name())
            .p(&timefmt::unix(ch.created).to_string())
            .send();
        return;
    };
    let parsed = mode::parse(modestring, &rest[1..], &channel_types());
    // Each unknown letter and each list is answered once, however often it is repeated.
    let mut unknown: Vec<char> = Vec::new();
    for e in &parsed.errors {
        if let ModeError::Unknown { mode, .. } = e
            && !unknown.contains(mode)
        {
            unknown.push(*mode);
            s.num(ERR_UNKNOWNMODE)
                .p(&mode.to_string())
                .t("is unknown mode char to me")
                .send();
        }
    }
    let mut listed: Vec<char> = Vec::new();
    for q in &parsed.list_queries {
        if !listed.contains(q) {
            listed.push(*q);
            send_list(s, &ch, *q);
        }
    }
    if parsed.changes.is_empty() {
        return;
    }
    let (source, nick) = {
        let info = s.client.info.read();
        (info.source(&s.client.host), info.nick.clone())
    };
    let mut replies = Vec::new();
    // Op and voice given or taken (for the other nodes of a cluster, as changes).
    let mut statuses = Vec::new();
    let max_list = s.state.config.limits.max_list_entries;
    let changed = ch.change_modes(
        s.client.id,
        |st| {
            let mut applied: Vec<Applied> = Vec::new();
            // Only MODES changes with an argument per command, as advertised; the rest are
            // ignored.
            let mut with_args = 0;
            for c in &parsed.changes {
                if c.arg.is_some() {
                    with_args += 1;
                    if with_args > MODES {
                        continue;
                    }
                }
                if let Some(change) = apply(st, c, &nick, max_list, &mut replies, &mut statuses) {
                    applied.push(change);
                }
            }
            let changes: Vec<ModeChange<'_>> = applied
                .iter()
                .map(|a| ModeChange {
                    add: a.add,
                    mode: a.mode,
                    arg: a.arg.as_deref(),
                })
                .collect();
            mode::pack(&changes, Some(MODES), MODE_LINE_BUDGET)
                .into_iter()
                .map(|line| {
                    let mut b = LineBuilder::new();
                    b.source(&source).command("MODE").param(&ch.name());
                    for p in line.params() {
                        b.param(p);
                    }
                    Payload::new(Outgoing::new(b))
                })
                .collect()
        },
        Some(s.actor()),
    );
    match changed {
        Ok(lines) => {
            if let Some(cluster) = s.state.cluster().filter(|_| !lines.is_empty()) {
                cluster.modes_changed(&ch, &lines, &statuses);
            }
        }
        Err(_) => {
            s.err_chanop_needed(&ch.name());
            return;
        }
    }
    for r in replies {
        r.send(s, &ch.name());
    }
}

/// A change that took effect, to announce (list masks in their stored, normalized form).
struct Applied {
    add: bool,
    mode: char,
    arg: Option<String>,
}

impl Applied {
    fn flag(add: bool, mode: char) -> Self {
        Applied {
            add,
            mode,
            arg: None,
        }
    }

    fn with_arg(add: bool, mode: char, arg: &str) -> Self {
        Applied {
            add,
            mode,
            arg: Some(arg.to_owned()),
        }
    }
}

/// An error to send once the channel lock is released.
enum Deferred {
    NotOnChannel(String),
    ListFull(char, String),
    InvalidKey,
    InvalidParam(char, String),
}

impl Deferred {
    fn send(self, s: &Session, channel: &str) {
        match self {
            Deferred::NotOnChannel(nick) if s.state.find_nick(&nick).is_none() => s
                .num(ERR_NOSUCHNICK)
                .p(&nick)
                .t("No such nick/channel")
                .send(),
            Deferred::NotOnChannel(nick) => s
                .num(ERR_USERNOTINCHANNEL)
                .p(&nick)
                .p(channel)
                .t("They aren't on that channel")
                .send(),
            Deferred::ListFull(m, mask) => s
                .num(ERR_BANLISTFULL)
                .p(channel)
                .p(&mask)
                .t(&format!("Channel list is full (+{m})"))
                .send(),
            Deferred::InvalidKey => s
                .num(ERR_INVALIDKEY)
                .p(channel)
                .t("Key is not well-formed")
                .send(),
            // An empty parameter cannot be a middle one: it is shown as `*`, so that the
            // description still comes last.
            Deferred::InvalidParam(m, arg) => s
                .num(ERR_INVALIDMODEPARAM)
                .p(channel)
                .p(&m.to_string())
                .p(if arg.is_empty() { "*" } else { &arg })
                .t("Invalid mode parameter")
                .send(),
        }
    }
}

/// Applies one change; returns the change as it should be announced, if anything changed.
fn apply(
    st: &mut ChannelState,
    c: &ModeChange<'_>,
    setter: &str,
    max_list: usize,
    replies: &mut Vec<Deferred>,
    statuses: &mut Vec<(Arc<Client>, char, bool)>,
) -> Option<Applied> {
    let flag = |slot: &mut bool| {
        if *slot == c.add {
            None
        } else {
            *slot = c.add;
            Some(Applied::flag(c.add, c.mode))
        }
    };
    match c.mode {
        'i' => flag(&mut st.modes.invite_only),
        'm' => flag(&mut st.modes.moderated),
        'n' => flag(&mut st.modes.no_external),
        's' => flag(&mut st.modes.secret),
        'C' => flag(&mut st.modes.no_ctcp),
        't' => flag(&mut st.modes.topic_lock),
        'k' => {
            let arg = c.arg?;
            if c.add {
                let valid = !arg.is_empty()
                    && arg.len() <= KEYLEN
                    && !arg.contains([',', ' ', ':'])
                    && !arg.chars().any(char::is_control);
                if !valid {
                    replies.push(Deferred::InvalidKey);
                    return None;
                }
                st.modes.key = Some(arg.to_owned());
                Some(Applied::with_arg(true, 'k', arg))
            } else {
                st.modes
                    .key
                    .take()
                    .map(|_| Applied::with_arg(false, 'k', "*"))
            }
        }
        'l' => {
            if c.add {
                let arg = c.arg?;
                match arg.parse::<usize>() {
                    Ok(n) if n > 0 => {
                        st.modes.limit = Some(n);
                        Some(Applied::with_arg(true, 'l', &n.to_string()))
                    }
                    _ => {
                        replies.push(Deferred::InvalidParam('l', arg.to_owned()));
                        None
                    }
                }
            } else {
                st.modes.limit.take().map(|_| Applied::flag(false, 'l'))
            }
        }
        'b' | 'e' | 'I' => {
            let arg = c.arg?;
            let list = match c.mode {
                'b' => &mut st.bans,
                'e' => &mut st.excepts,
                _ => &mut st.invex,
            };
            let Some(entry) = ListEntry::new(c.mode, arg, setter, SystemTime::now()) else {
                replies.push(Deferred::InvalidParam(c.mode, arg.to_owned()));
                return None;
            };
            let folded = casefold(&entry.mask);
            let pos = list.iter().position(|e| casefold(&e.mask) == folded);
            if c.add {
                if pos.is_some() {
                    return None;
                }
                if list.len() >= max_list {
                    replies.push(Deferred::ListFull(c.mode, entry.mask));
                    return None;
                }
                let announce = Applied::with_arg(true, c.mode, &entry.mask);
                list.push(entry);
                Some(announce)
            } else {
                let removed = list.remove(pos?);
                Some(Applied::with_arg(false, c.mode, &removed.mask))
            }
        }
        'o' | 'v' => {
            let arg = c.arg?;
            // Look the nick up among the members, not in the nick map: the map's lock comes
            // before a channel's in the lock order.
            let folded = casefold(arg);
            let Some(m) = st
                .members
                .iter_mut()
                .find(|m| casefold(&m.client.info.read().nick) == folded)
            else {
                replies.push(Deferred::NotOnChannel(arg.to_owned()));
                return None;
            };
            let target = m.client.clone();
            let slot = if c.mode == 'o' {
                &mut m.op
            } else {
                &mut m.voice
            };
            if *slot == c.add {
                return None;
            }
            *slot = c.add;
            statuses.push((target.clone(), c.mode, c.add));
            Some(Applied::with_arg(c.add, c.mode, &target.nick()))
        }
        _ => None,
    }
}

/// RPL_BANLIST / RPL_EXCEPTLIST / RPL_INVEXLIST and their end.
fn send_list(s: &Session, ch: &Channel, which: char) {
    let (item, end, end_text) = match which {
        'b' => (RPL_BANLIST, RPL_ENDOFBANLIST, "End of channel ban list"),
        'e' => (
            RPL_EXCEPTLIST,
            RPL_ENDOFEXCEPTLIST,
            "End of channel exception list",
        ),
        _ => (
            RPL_INVEXLIST,
            RPL_ENDOFINVEXLIST,
            "End of channel invite list",
        ),
    };
    let entries: Vec<ListEntry> = ch.read(|st| match which {
        'b' => st.bans.clone(),
        'e' => st.excepts.clone(),
        _ => st.invex.clone(),
    });
    for e in entries {
        s.num(item)
            .p(&ch.name())
            .p(&e.mask)
            .p(&e.set_by)
            .p(&timefmt::unix(e.set_at).to_string())
            .send();
    }
    s.num(end).p(&ch.name()).t(end_text).send();
}
