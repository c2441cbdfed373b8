//! Replies and reactions, the client tags of <https://ircv3.net/specs/client-tags/reply> and
//! <https://ircv3.net/specs/client-tags/react>: a reply is a message with `+draft/reply=<msgid>`
//! ([`Line::reply_to`](super::Line::reply_to)); a reaction is a `TAGMSG` with `+draft/reply`
//! naming the message and `+draft/react=<emoji>`. Taking a reaction back has no ratified tag:
//! `+draft/unreact=<emoji>`, as Goguma and others send it, is read and sent.
//!
//! Reactions are kept per buffer by the message's `msgid`, not on its line, so a reaction that
//! comes before its message (history loads newest pages first, a scroll-back brings the
//! message later) still counts once the message is there. Each person counts once per emoji,
//! so the same reaction seen live and again in history is not counted twice.

use std::collections::HashMap;

use charla_proto::OwnedMessage;
use charla_proto::casemap::eq_folded;

use super::Buffer;

/// The tag that names the message a reply or reaction is about.
pub const REPLY_TAG: &str = "+draft/reply";
/// The tag that carries a reaction.
pub const REACT_TAG: &str = "+draft/react";
/// The tag that takes a reaction back.
pub const UNREACT_TAG: &str = "+draft/unreact";

/// The reactions offered at one click: a dozen in common use.
pub const QUICK_REACTIONS: [&str; 12] = [
    "👍", "👎", "😂", "❤️", "🎉", "😮", "😢", "🙏", "👀", "🔥", "✅", "👏",
];

/// The longest reaction kept, in bytes (an emoji sequence with skin tone and joiners is well
/// under it; the spec sets no limit, so a long one is dropped rather than drawn).
const MAX_REACTION_BYTES: usize = 64;
/// The most different reactions kept for one message.
const MAX_KINDS_PER_MESSAGE: usize = 32;
/// The most messages with reactions a buffer keeps (the oldest go first).
const MAX_MESSAGES: usize = 5_000;

/// One reaction to a message: the emoji (or text) and who reacted with it, in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reaction {
    /// What they reacted with.
    pub emoji: String,
    /// Who, by nick, first first.
    pub nicks: Vec<String>,
}

impl Reaction {
    /// How many reacted so.
    pub fn count(&self) -> usize {
        self.nicks.len()
    }

    /// Whether `nick` is among them.
    pub fn by(&self, nick: &str) -> bool {
        self.nicks.iter().any(|n| eq_folded(n, nick))
    }
}

/// The reactions of a buffer's messages, by `msgid`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Reactions {
    by_msgid: HashMap<String, Vec<Reaction>>,
    /// msgids in the order their first reaction came, to drop the oldest past the bound.
    order: Vec<String>,
}

impl Reactions {
    /// The reactions to message `msgid`, in the order they were first made.
    pub fn of(&self, msgid: &str) -> &[Reaction] {
        self.by_msgid.get(msgid).map_or(&[], Vec::as_slice)
    }

    /// Whether no message has reactions.
    pub fn is_empty(&self) -> bool {
        self.by_msgid.is_empty()
    }

    /// `nick` reacted to `msgid` with `emoji` (again: counted once).
    pub(crate) fn add(&mut self, msgid: &str, emoji: &str, nick: &str) {
        if emoji.is_empty() || emoji.len() > MAX_REACTION_BYTES || nick.is_empty() {
            return;
        }
        if !self.by_msgid.contains_key(msgid) {
            if self.order.len() >= MAX_MESSAGES {
                let oldest = self.order.remove(0);
                self.by_msgid.remove(&oldest);
            }
            self.order.push(msgid.to_owned());
        }
        let reactions = self.by_msgid.entry(msgid.to_owned()).or_default();
        let kinds = reactions.len();
        match reactions.iter_mut().find(|r| r.emoji == emoji) {
            Some(r) if r.by(nick) => {}
            Some(r) => r.nicks.push(nick.to_owned()),
            None if kinds < MAX_KINDS_PER_MESSAGE => reactions.push(Reaction {
                emoji: emoji.to_owned(),
                nicks: vec![nick.to_owned()],
            }),
            None => {}
        }
    }

    /// `nick` took back their `emoji` on `msgid`.
    pub(crate) fn remove(&mut self, msgid: &str, emoji: &str, nick: &str) {
        let Some(reactions) = self.by_msgid.get_mut(msgid) else {
            return;
        };
        for r in reactions.iter_mut().filter(|r| r.emoji == emoji) {
            r.nicks.retain(|n| !eq_folded(n, nick));
        }
        reactions.retain(|r| !r.nicks.is_empty());
        if reactions.is_empty() {
            self.by_msgid.remove(msgid);
            self.order.retain(|m| m != msgid);
        }
    }

    /// Follows a nick change: their reactions stay theirs.
    pub(crate) fn rename(&mut self, old: &str, new: &str) {
        for r in self.by_msgid.values_mut().flatten() {
            for n in r.nicks.iter_mut().filter(|n| eq_folded(n, old)) {
                *n = new.to_owned();
            }
        }
    }
}

impl Buffer {
    /// A `TAGMSG` from `nick` in this buffer: a reaction or its withdrawal, if it is one.
    pub(super) fn apply_reaction(&mut self, msg: &OwnedMessage, nick: &str) {
        let Some(msgid) = msg.tag(REPLY_TAG).filter(|m| !m.is_empty()) else {
            return;
        };
        if let Some(emoji) = msg.tag(REACT_TAG) {
            self.reactions.add(msgid, emoji, nick);
        } else if let Some(emoji) = msg.tag(UNREACT_TAG) {
            self.reactions.remove(msgid, emoji, nick);
        }
    }
}

#[cfg(test)]
mod tests {
    use charla_proto::OwnedMessage;

    use super::super::{BufferId, Event, State};

    fn irc(line: &str) -> Event {
        Event::Irc(OwnedMessage::parse(line).unwrap())
    }

    /// `ana` in `#c`, where bob said "¿Quién viene?" (msgid m1).
    fn chatting() -> State {
        let mut s = State::new("ana");
        for line in [
            ":srv 001 ana :Welcome",
            ":ana!a@h JOIN #c",
            "@msgid=m1 :bob!b@h PRIVMSG #c :¿Quién viene?",
        ] {
            s.apply(&irc(line));
        }
        s
    }

    fn chan(s: &State) -> &super::Buffer {
        s.buffer(&BufferId::Channel("#c".into())).unwrap()
    }

    /// What the message `m1` shows under it: "👍 bob,ana".
    fn shown(s: &State) -> Vec<String> {
        chan(s)
            .reactions
            .of("m1")
            .iter()
            .map(|r| format!("{} {}", r.emoji, r.nicks.join(",")))
            .collect()
    }

    #[test]
    fn a_reply_names_its_message() {
        let mut s = chatting();
        s.apply(&irc(
            "@msgid=m2;+draft/reply=m1 :carla!c@h PRIVMSG #c :Yo, con mi ñandú",
        ));
        let line = chan(&s).lines.back().unwrap();
        assert_eq!(line.reply_to.as_deref(), Some("m1"));
        assert_eq!(line.text, "Yo, con mi ñandú");
        // A reply to nothing is a plain message.
        s.apply(&irc("@msgid=m3;+draft/reply= :carla!c@h PRIVMSG #c :hola"));
        assert_eq!(chan(&s).lines.back().unwrap().reply_to, None);
    }

    #[test]
    fn reactions_count_each_person_once_per_emoji() {
        let mut s = chatting();
        for line in [
            "@+draft/reply=m1;+draft/react=👍 :bob!b@h TAGMSG #c",
            "@+draft/reply=m1;+draft/react=👍 :carla!c@h TAGMSG #c",
            // The same again (a second device, or history after live): counted once.
            "@+draft/reply=m1;+draft/react=👍 :carla!c@h TAGMSG #c",
            "@+draft/reply=m1;+draft/react=🎉 :ana!a@h TAGMSG #c",
            // Typing is no reaction; a reaction without its message is dropped.
            "@+typing=active :bob!b@h TAGMSG #c",
            "@+draft/react=😢 :bob!b@h TAGMSG #c",
        ] {
            s.apply(&irc(line));
        }
        assert_eq!(shown(&s), ["👍 bob,carla", "🎉 ana"]);
        assert!(
            chan(&s).reactions.of("m1")[1].by("ANA"),
            "nicks without case"
        );
        // Taken back: carla's goes, and the emoji with its last person.
        s.apply(&irc(
            "@+draft/reply=m1;+draft/unreact=👍 :carla!c@h TAGMSG #c",
        ));
        s.apply(&irc(
            "@+draft/reply=m1;+draft/unreact=🎉 :ana!a@h TAGMSG #c",
        ));
        assert_eq!(shown(&s), ["👍 bob"]);
        // A nick change keeps their reactions theirs.
        s.apply(&irc(":bob!b@h NICK Roberto"));
        assert_eq!(shown(&s), ["👍 Roberto"]);
        // Our own, shown without echo-message (as the client emits it).
        let own = OwnedMessage {
            tags: vec![
                ("+draft/reply".into(), "m1".into()),
                ("+draft/react".into(), "❤️".into()),
            ],
            source: Some("ana".into()),
            command: "TAGMSG".into(),
            params: vec!["#c".into()],
        };
        s.apply(&Event::Echo(own));
        assert_eq!(shown(&s), ["👍 Roberto", "❤️ ana"]);
    }

    #[test]
    fn history_brings_replies_and_reactions() {
        let mut s = chatting();
        let m = |l: &str| OwnedMessage::parse(l).unwrap();
        s.apply(&Event::HistoryLoaded {
            target: "#c".into(),
            lines: vec![
                m("@time=2026-11-30T10:00:01.000Z;msgid=m0;batch=b :dani!d@h PRIVMSG #c :¿y vos?"),
                m("@time=2026-11-30T10:00:02.000Z;msgid=r1;batch=b;+draft/reply=m1;+draft/react=😂 :dani!d@h TAGMSG #c"),
                m("@time=2026-11-30T10:00:03.000Z;msgid=m9;batch=b;+draft/reply=m0 :ana!a@h PRIVMSG #c :sí"),
            ],
            before: false,
            more: false,
        });
        assert_eq!(shown(&s), ["😂 dani"]);
        let reply = chan(&s)
            .lines
            .iter()
            .find(|l| l.msgid.as_deref() == Some("m9"));
        assert_eq!(reply.and_then(|l| l.reply_to.as_deref()), Some("m0"));
        assert!(
            !chan(&s).lines.iter().any(|l| l.text.is_empty()),
            "a reaction is no line"
        );
    }
}
