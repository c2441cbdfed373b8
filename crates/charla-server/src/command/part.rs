//! PART (<https://modern.ircdocs.horse/#part-message>).

use charla_proto::LineBuilder;
use charla_proto::numeric::ERR_NOSUCHCHANNEL;

use crate::command::table::Args;
use crate::command::{Flow, split_list};
use crate::deliver::Payload;
use crate::event::ServerEvent;
use crate::history::Event;
use crate::session::Session;

/// `PART <channel>{,<channel>} [<reason>]`.
pub fn part(s: &mut Session, p: Args<'_, 1>) -> Flow {
    let reason = p.get(1).filter(|r| !r.is_empty());
    for (i, name) in split_list(p.req[0]).enumerate() {
        // One token per channel, as for JOIN.
        if i > 0 {
            s.penalty += 1;
        }
        part_one(s, name, reason);
    }
    Flow::Continue
}

/// Leaves one channel, telling its members (the leaver included).
pub fn part_one(s: &Session, name: &str, reason: Option<&str>) {
    let Some(ch) = s.state.channel(name) else {
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
            &ch,
            &s.client,
            &line,
            event.as_ref().and_then(Event::take_held),
        );
    }
    s.state.drop_channel_if_empty(&ch);
    s.state.emit(ServerEvent::Parted {
        nick: s.client.nick(),
        channel: ch.name(),
        reason: reason.map(str::to_owned),
    });
}
