//! Tests of the state reducer: IRC lines in, buffers out.

use super::*;

fn irc(line: &str) -> Event {
    Event::Irc(OwnedMessage::parse(line).unwrap())
}

#[test]
fn fresh_state_has_server_buffer() {
    let s = State::new("ana");
    assert_eq!(s.buffers.len(), 1);
    assert_eq!(s.server_buffer().id, BufferId::Server);
    let _ = irc("PING x");
}
