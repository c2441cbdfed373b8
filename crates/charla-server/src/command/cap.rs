//! CAP (<https://ircv3.net/specs/extensions/capability-negotiation>): LS, LIST, REQ, END.
//! Negotiation started before registration holds registration until CAP END.

use charla_proto::numeric::ERR_INVALIDCAPCMD;

use crate::caps::{self, Cap, CapSet};
use crate::command::table::Args;
use crate::command::{Flow, registration};
use crate::session::Session;

/// `CAP <subcommand> [...]`.
pub fn cap(s: &mut Session, p: Args<'_, 1>) -> Flow {
    let sub = p.req[0].to_ascii_uppercase();
    match sub.as_str() {
        "LS" => {
            if !s.reg.done {
                s.reg.cap_negotiating = true;
            }
            let version: u32 = p.get(1).and_then(|v| v.parse().ok()).unwrap_or(0);
            if version >= 302 {
                s.reg.cap_302 = true;
                // cap-notify is implicitly on for 302 clients.
                let caps = s.client.caps();
                s.conn.set_caps(CapSet(caps.0 | Cap::CapNotify.bit()));
            }
            let state = &s.state;
            let secure = s.conn.transport.is_secure();
            let list: Vec<String> = ls_order()
                // STS, multiline and metadata mean nothing without their values, which only
                // 302 clients get.
                .filter(|c| {
                    caps::offered(state, *c)
                        && (!matches!(c, Cap::Sts | Cap::Multiline | Cap::Metadata)
                            || s.reg.cap_302)
                })
                .map(|c| match caps::value(state, c, secure) {
                    Some(v) if s.reg.cap_302 => format!("{}={v}", c.name()),
                    _ => c.name().to_owned(),
                })
                .collect();
            reply_list(s, "LS", &list);
        }
        "LIST" => {
            let caps = s.client.caps();
            let list: Vec<String> = Cap::ALL
                .iter()
                .filter(|c| caps.has(**c))
                .map(|c| c.name().to_owned())
                .collect();
            reply_list(s, "LIST", &list);
        }
        "REQ" => {
            if !s.reg.done {
                s.reg.cap_negotiating = true;
            }
            let requested = p.get(1).unwrap_or("");
            let mut caps = s.client.caps();
            let mut ok = true;
            for item in requested.split(' ').filter(|x| !x.is_empty()) {
                let (remove, name) = match item.strip_prefix('-') {
                    Some(n) => (true, n),
                    None => (false, item),
                };
                match Cap::from_name(name).filter(|c| caps::offered(&s.state, *c)) {
                    Some(c) if remove => caps.0 &= !c.bit(),
                    Some(c) => caps.0 |= c.bit(),
                    None => ok = false,
                }
            }
            // All or nothing: one unknown capability rejects the whole request.
            if ok {
                let before = s.client.caps();
                s.conn.set_caps(caps);
                reply(s, "ACK", requested);
                // draft/metadata-2 taken after registration: the client's own metadata now
                // (during registration it comes after the welcome).
                if s.reg.done && caps.has(Cap::Metadata) && !before.has(Cap::Metadata) {
                    crate::command::metadata::on_enabled(s);
                }
            } else {
                reply(s, "NAK", requested);
            }
        }
        "END" => {
            if !s.reg.done && s.reg.cap_negotiating {
                s.reg.cap_negotiating = false;
                return registration::try_complete(s);
            }
        }
        _ => {
            s.num(ERR_INVALIDCAPCMD)
                .p(p.req[0])
                .t("Invalid CAP command")
                .send();
        }
    }
    Flow::Continue
}

/// `CAP <nick> LS|LIST :<tokens>`, on several lines when they do not fit in one: for a 302
/// client every line but the last says `*` before its list, as the spec asks; an older
/// client gets the lines without it (a list cut short would be worse).
///
/// The lines are filled from the end: the last line is as full as a line can be and the first
/// holds what is left. Some client libraries (pydle 1.2, for one) read only the last line of a
/// long list, so the capabilities most clients use are listed last ([`ls_order`]).
fn reply_list(s: &Session, sub: &str, tokens: &[String]) {
    let nick = s.nick();
    // `:<server> CAP <nick> <sub> * :` and CR LF around the list.
    let overhead = 1 + s.state.name().len() + 5 + nick.len() + 1 + sub.len() + 4 + 2;
    let budget = 512usize.saturating_sub(overhead).max(64);
    let mut lines: Vec<String> = Vec::new();
    let mut current = String::new();
    for token in tokens.iter().rev() {
        if !current.is_empty() && current.len() + 1 + token.len() > budget {
            lines.push(std::mem::take(&mut current));
        }
        if current.is_empty() {
            current.clone_from(token);
        } else {
            current.insert(0, ' ');
            current.insert_str(0, token);
        }
    }
    lines.push(current);
    lines.reverse();
    let count = lines.len();
    for (i, text) in lines.iter().enumerate() {
        let mut line = s.server_line("CAP");
        line.param(&nick).param(sub);
        if i + 1 < count && s.reg.cap_302 {
            line.param("*");
        }
        line.trailing(text);
        s.send_line(line);
    }
}

/// The capabilities in the order `CAP LS` lists them: those few clients use first, so that
/// when the list takes two lines the common ones are on the last (see [`reply_list`]).
fn ls_order() -> impl Iterator<Item = Cap> {
    const FIRST: [Cap; 6] = [
        Cap::AccountRegistration,
        Cap::Metadata,
        Cap::Search,
        Cap::EventPlayback,
        Cap::ReadMarker,
        Cap::Sts,
    ];
    FIRST
        .into_iter()
        .chain(Cap::ALL.into_iter().filter(|c| !FIRST.contains(c)))
}

/// `:server CAP <nick> <sub> :<text>`.
fn reply(s: &Session, sub: &str, text: &str) {
    let mut line = s.server_line("CAP");
    line.param(&s.nick()).param(sub).trailing(text);
    s.send_line(line);
}
