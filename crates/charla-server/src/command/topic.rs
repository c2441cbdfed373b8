//! TOPIC (<https://modern.ircdocs.horse/#topic-message>), and the topic burst after JOIN.

use std::time::SystemTime;

use charla_proto::LineBuilder;
use charla_proto::numeric::{ERR_NOSUCHCHANNEL, RPL_NOTOPIC, RPL_TOPIC, RPL_TOPICWHOTIME};
use charla_proto::validate::TOPICLEN;

use crate::channel::{Channel, Denied, Topic};
use crate::command::Flow;
use crate::command::table::Args;
use crate::deliver::Payload;
use crate::event::ServerEvent;
use crate::history::Event;
use crate::session::Session;
use crate::timefmt;

/// Cuts `text` to at most `max` bytes at a character boundary.
pub fn truncate(text: &str, max: usize) -> &str {
    if text.len() <= max {
        return text;
    }
    let mut end = max;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    &text[..end]
}

/// `TOPIC <channel> [<topic>]`.
pub fn topic(s: &mut Session, p: Args<'_, 1>) -> Flow {
    let Some(ch) = s.state.channel(p.req[0]) else {
        s.num(ERR_NOSUCHCHANNEL)
            .p(p.req[0])
            .t("No such channel")
            .send();
        return Flow::Continue;
    };
    let Some(text) = p.get(1) else {
        let (member, secret) = ch.read(|st| (st.member(s.client.id).is_some(), st.modes.secret));
        if secret && !member {
            s.err_not_on_channel(&ch.name());
        } else {
            send_topic(s, &ch, true);
        }
        return Flow::Continue;
    };
    let text = truncate(text, TOPICLEN);
    let (source, nick) = {
        let info = s.client.info.read();
        (info.source(&s.client.host), info.nick.clone())
    };
    let topic = (!text.is_empty()).then(|| Topic {
        text: text.to_owned(),
        set_by: nick.clone(),
        set_at: SystemTime::now(),
    });
    let mut line = LineBuilder::new();
    line.source(&source)
        .command("TOPIC")
        .param(&ch.name())
        .trailing(text);
    let payload = Payload::new(s.outgoing(line));
    let event = Event::new(
        &s.state,
        &s.client,
        "TOPIC",
        vec![ch.name(), text.to_owned()],
    )
    .map(|e| e.through_log(&s.state));
    match ch.set_topic(
        s.client.id,
        topic,
        &payload,
        event.as_ref(),
        Some(s.actor()),
    ) {
        Ok(()) => {
            if let Some(cluster) = s.state.cluster() {
                cluster.topic_set(&ch, &payload, event.as_ref().and_then(Event::take_held));
            }
        }
        Err(Denied::NotOperator) => {
            s.err_chanop_needed(&ch.name());
            return Flow::Continue;
        }
        Err(_) => {
            s.err_not_on_channel(&ch.name());
            return Flow::Continue;
        }
    }
    s.state.emit(ServerEvent::TopicChanged {
        channel: ch.name(),
        by: nick,
        topic: text.to_owned(),
    });
    Flow::Continue
}

/// RPL_TOPIC and RPL_TOPICWHOTIME, or RPL_NOTOPIC when `say_none` and there is no topic.
pub fn send_topic(s: &Session, ch: &Channel, say_none: bool) {
    let topic = ch.read(|st| st.topic.clone());
    match topic {
        Some(t) => {
            s.num(RPL_TOPIC).p(&ch.name()).t(&t.text).send();
            s.num(RPL_TOPICWHOTIME)
                .p(&ch.name())
                .p(&t.set_by)
                .p(&timefmt::unix(t.set_at).to_string())
                .send();
        }
        None if say_none => s.num(RPL_NOTOPIC).p(&ch.name()).t("No topic is set").send(),
        None => {}
    }
}
