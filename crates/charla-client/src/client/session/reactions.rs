//! Replies and reactions going out (<https://ircv3.net/specs/client-tags/reply>,
//! <https://ircv3.net/specs/client-tags/react>): a reply is a PRIVMSG tagged
//! `+draft/reply=<msgid>`; a reaction a TAGMSG tagged `+draft/reply=<msgid>` and
//! `+draft/react=<emoji>` (`+draft/unreact` to take it back). Client tags need `message-tags`;
//! without `echo-message` the line is shown as if the server had echoed it, tags and all, so
//! the state links it the same way.

use charla_proto::{LineBuilder, OwnedMessage};

use super::super::text::split_text;
use super::{Session, Task, text_budget};
use crate::event::Event;
use crate::state::{LineKind, REACT_TAG, REPLY_TAG, UNREACT_TAG};

impl Session {
    /// Sends `text` to `target` as an answer to `msgid`.
    pub(super) fn reply(&mut self, task: &mut Task, target: &str, msgid: &str, text: &str) {
        if target.is_empty() {
            return;
        }
        if !task.state.has_cap("message-tags") || msgid.is_empty() {
            // The tag would be dropped on the way: the words still go.
            self.say(task, "PRIVMSG", target, text, false);
            return;
        }
        let budget = text_budget(task, "PRIVMSG", target, false);
        let tags = vec![(REPLY_TAG.to_owned(), msgid.to_owned())];
        for line in text.split('\n').map(|l| l.trim_end_matches('\r')) {
            for piece in split_text(line, budget)
                .into_iter()
                .filter(|p| !p.is_empty())
            {
                let mut b = LineBuilder::new();
                b.tag(REPLY_TAG, Some(msgid))
                    .command("PRIVMSG")
                    .param(target)
                    .trailing(piece);
                self.send(b.finish_string());
                self.echo(
                    task,
                    &tags,
                    "PRIVMSG",
                    vec![target.to_owned(), piece.to_owned()],
                );
            }
        }
    }

    /// Reacts to `msgid` in `target` with `emoji`, or (`remove`) takes that reaction back.
    pub(super) fn react(
        &mut self,
        task: &mut Task,
        target: &str,
        msgid: &str,
        emoji: &str,
        remove: bool,
    ) {
        if target.is_empty() || msgid.is_empty() || emoji.is_empty() {
            return;
        }
        if !task.state.has_cap("message-tags") {
            let at = task.state_acting();
            task.local(
                at,
                LineKind::Error,
                "This server does not pass reactions on (it lacks message-tags)",
            );
            return;
        }
        let tag = if remove { UNREACT_TAG } else { REACT_TAG };
        let mut b = LineBuilder::new();
        b.tag(REPLY_TAG, Some(msgid))
            .tag(tag, Some(emoji))
            .command("TAGMSG")
            .param(target);
        self.send(b.finish_string());
        let tags = vec![
            (REPLY_TAG.to_owned(), msgid.to_owned()),
            (tag.to_owned(), emoji.to_owned()),
        ];
        self.echo(task, &tags, "TAGMSG", vec![target.to_owned()]);
    }

    /// Shows a line we sent as the server would echo it, when it will not (no `echo-message`).
    fn echo(&self, task: &mut Task, tags: &[(String, String)], verb: &str, params: Vec<String>) {
        if task.state.has_cap("echo-message") {
            return;
        }
        task.emit(Event::Echo(OwnedMessage {
            tags: tags.to_vec(),
            source: Some(task.state.nick.clone()),
            command: verb.to_owned(),
            params,
        }));
    }
}
