//! PART (<https://modern.ircdocs.horse/#part-message>).

use charla_proto::LineBuilder;
use charla_proto::numeric::ERR_NOSUCHCHANNEL;

use std::sync::Arc;

use crate::channel::Channel;
use crate::command::table::Args;
use crate::command::turns::{self, InTurn};
use crate::command::{Flow, split_list};
use crate::deliver::Payload;
use crate::event::ServerEvent;
use crate::history::Event;
use crate::session::Session;

/// `PART <channel>{,<channel>} [<reason>]`.
pub fn part(s: &mut Session, p: Args<'_, 1>) -> Flow {
    let reason = p.get(1).filter(|r| !r.is_empty()).map(str::to_owned);
    let names: Vec<String> = split_list(p.req[0]).map(str::to_owned).collect();
    // One token per channel, as for JOIN.
    s.penalty += u32::try_from(names.len().saturating_sub(1)).unwrap_or(u32::MAX);
    leave(s, names, reason)
}

/// Leaves the channels `names`, in order, each in its turn (as JOIN joins them: see
/// [`turns`]).
pub fn leave(s: &mut Session, names: Vec<String>, reason: Option<String>) -> Flow {
    turns::run(
        s,
        PartList {
            names,
            reason,
            next: 0,
        },
    )
}

/// The channels of one PART line (or of `JOIN 0`), left in order.
struct PartList {
    names: Vec<String>,
    reason: Option<String>,
    /// The first not tried yet.
    next: usize,
}

impl InTurn for PartList {
    /// Leaves the channels from `next` on, each in its turn.
    fn run(&mut self, s: &mut Session, held: Option<&Arc<Channel>>) -> Result<(), Arc<Channel>> {
        let mut held = held;
        while let Some(name) = self.names.get(self.next) {
            let existing = s.state.channel(name);
            let _turn = turns::take(s, existing.as_ref(), held)?;
            held = None;
            self.next += 1;
            part_one(s, name, existing.as_ref(), self.reason.as_deref());
        }
        Ok(())
    }

    fn finish(self, _: &mut Session) -> Flow {
        Flow::Continue
    }
}

/// Leaves the channel `name`, `ch` when it exists, telling its members (the leaver included).
fn part_one(s: &Session, name: &str, ch: Option<&Arc<Channel>>, reason: Option<&str>) {
    let Some(ch) = ch else {
        s.num(ERR_NOSUCHCHANNEL).p(name).t("No such channel").send();
        return;
    };
    let source = s.client.source();
    let mut line = LineBuilder::new();
    line.source(&source).command("PART").param(&ch.name());
    if let Some(r) = reason {
        line.trailing(r);
    }
    let mut params = vec![ch.name()];
    params.extend(reason.map(str::to_owned));
    let event = Event::new(&s.state, &s.client, "PART", params).map(|e| e.through_log(&s.state));
    let line = Payload::new(s.outgoing(line)).may_wait();
    if ch
        .part(&s.client, &line, event.as_ref(), Some(s.actor()))
        .is_err()
    {
        s.err_not_on_channel(&ch.name());
        return;
    }
    if let Some(cluster) = s.state.cluster() {
        cluster.parted(
            ch,
            &s.client,
            &line,
            event.as_ref().and_then(Event::take_held),
        );
    }
    s.state.drop_channel_if_empty(ch);
    s.state.emit(ServerEvent::Parted {
        nick: s.client.nick(),
        channel: ch.name(),
        reason: reason.map(str::to_owned),
    });
}
