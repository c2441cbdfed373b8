//! The separator, the scroll anchor, loading at the top and the read-marker debounce, on states
//! built by charla-client's reducer from the lines a server sends.

use charla_client::{BufferId, Event, State};
use charla_proto::OwnedMessage;

use super::*;

fn irc(line: &str) -> Event {
    Event::Irc(OwnedMessage::parse(line).unwrap())
}

fn time(sec: u32) -> DateTime<Utc> {
    format!("2026-11-30T10:00:{sec:02}.000Z").parse().unwrap()
}

/// `ana` in `#c`, with `bob` saying `uno`…`cinco` at 10:00:01…05 and ana herself at 10:00:03.
fn chat() -> State {
    let mut s = State::new("ana");
    s.apply(&irc(":srv 001 ana :Welcome"));
    s.apply(&irc("@time=2026-11-30T10:00:00.000Z :ana!a@h JOIN #c"));
    for (sec, who, text) in [
        (1, "bob", "uno"),
        (2, "bob", "dos"),
        (3, "ana", "mío"),
        (4, "bob", "cuatro"),
        (5, "bob", "cinco"),
    ] {
        s.apply(&irc(&format!(
            "@time=2026-11-30T10:00:{sec:02}.000Z;msgid=m{sec} :{who}!x@h PRIVMSG #c :{text}"
        )));
    }
    s
}

fn chan() -> BufferId {
    BufferId::Channel("#c".into())
}

fn text_at(s: &State, i: Option<usize>) -> Option<&str> {
    let b = s.buffer(&chan())?;
    Some(b.lines.get(i?)?.text.as_str())
}

#[test]
fn the_separator_goes_above_the_first_unread_line_from_others() {
    let mut s = chat();
    // Four of bob's lines unread (ours never is).
    let b = s.buffer(&chan()).unwrap();
    assert_eq!(b.unread, 4);
    let after = read_up_to(b).unwrap();
    assert_eq!(text_at(&s, separator_at(&b.lines, after)), Some("uno"));

    // Read up to "dos" in this window: two unread after it.
    s.mark_read(&chan());
    for (sec, text) in [(6, "seis"), (7, "siete")] {
        s.apply(&irc(&format!(
            "@time=2026-11-30T10:00:{sec:02}.000Z;msgid=m{sec} :bob!x@h PRIVMSG #c :{text}"
        )));
    }
    let b = s.buffer(&chan()).unwrap();
    let after = read_up_to(b).unwrap();
    assert_eq!(text_at(&s, separator_at(&b.lines, after)), Some("seis"));

    // Another client of the account read further: its marker wins, and moves the separator.
    s.apply(&irc(":srv MARKREAD #c timestamp=2026-11-30T10:00:06.000Z"));
    let b = s.buffer(&chan()).unwrap();
    assert_eq!(b.unread, 1);
    let after = read_up_to(b).unwrap();
    assert_eq!(text_at(&s, separator_at(&b.lines, after)), Some("siete"));

    // All read: no separator.
    s.apply(&irc(":srv MARKREAD #c timestamp=2026-11-30T10:00:07.000Z"));
    let b = s.buffer(&chan()).unwrap();
    assert_eq!(read_up_to(b), None);
    assert_eq!(separator_at(&b.lines, time(7)), None);
}

#[test]
fn the_separator_stays_on_its_line_when_older_lines_come_in_above() {
    let mut s = chat();
    let after = read_up_to(s.buffer(&chan()).unwrap()).unwrap();
    s.apply(&Event::HistoryLoaded {
        target: "#c".into(),
        lines: vec![
            OwnedMessage::parse(
                "@time=2026-11-30T09:59:00.000Z;msgid=old :bob!x@h PRIVMSG #c :de antes",
            )
            .unwrap(),
        ],
        before: true,
        more: false,
    });
    let b = s.buffer(&chan()).unwrap();
    assert_eq!(b.lines[0].text, "de antes");
    assert_eq!(text_at(&s, separator_at(&b.lines, after)), Some("uno"));
}

#[test]
fn the_anchor_puts_the_top_line_back_where_it_was() {
    // At the top, the line 20 points down (below the "Show older lines" button).
    let anchor = ScrollAnchor::new(7, 20.0, 0.0);
    // While loading, a shorter label above moves it up by 5: as near as can be is the top.
    assert_eq!(anchor.correction(0.0, 15.0, 0.0), None);
    // 120 points of older lines came in above it: scroll down by as much.
    assert_eq!(anchor.correction(0.0, 140.0, 500.0), Some(120.0));
    // Once there, nothing more to do.
    assert_eq!(anchor.correction(120.0, 140.0, 500.0), None);
    // Anchored half a line below the top of a view scrolled to 30: kept so.
    let anchor = ScrollAnchor::new(7, 40.0, 30.0);
    assert_eq!(anchor.correction(30.0, 290.0, 1000.0), Some(280.0));
    // Not past the end of the content.
    assert_eq!(anchor.correction(30.0, 290.0, 100.0), Some(100.0));
}

#[test]
fn reaching_the_top_shows_more_then_loads_older_then_stops() {
    let mut s = chat();
    let b = s.buffer(&chan()).unwrap();
    // Lines the app has come first; the server is asked only once it said it has more.
    assert_eq!(at_top(10, b), AtTop::ShowMore);
    assert_eq!(at_top(0, b), AtTop::Nothing);
    s.apply(&Event::HistoryLoaded {
        target: "#c".into(),
        lines: Vec::new(),
        before: false,
        more: true,
    });
    assert_eq!(at_top(0, s.buffer(&chan()).unwrap()), AtTop::LoadOlder);
    s.apply(&Event::HistoryRequested {
        target: "#c".into(),
        before: true,
    });
    assert_eq!(
        at_top(0, s.buffer(&chan()).unwrap()),
        AtTop::Nothing,
        "one request at a time"
    );
    s.apply(&Event::HistoryLoaded {
        target: "#c".into(),
        lines: Vec::new(),
        before: true,
        more: false,
    });
    assert_eq!(
        at_top(0, s.buffer(&chan()).unwrap()),
        AtTop::Nothing,
        "the beginning"
    );
}

#[test]
fn marking_read_is_debounced_and_never_goes_back() {
    let mut sync = ReadSync::default();
    let t0 = Instant::now();
    assert_eq!(sync.read(time(5), None, t0), Some(time(5)));
    assert!(sync.is_own(time(5)));
    // Within two seconds: held back, and only the newest is kept.
    let t1 = t0 + Duration::from_millis(500);
    assert_eq!(sync.read(time(6), None, t1), None);
    assert_eq!(sync.read(time(7), None, t1), None);
    assert_eq!(sync.wake_in(t1), Some(Duration::from_millis(1_500)));
    assert_eq!(sync.due(t0 + Duration::from_millis(1_999)), None);
    let t2 = t0 + MARK_READ_EVERY;
    assert_eq!(sync.due(t2), Some(time(7)));
    assert_eq!(sync.wake_in(t2), None);
    // Never backwards, and not what the server already has from another client.
    let later = t2 + MARK_READ_EVERY;
    assert_eq!(sync.read(time(6), None, later), None);
    assert_eq!(sync.read(time(8), Some(time(9)), later), None);
    assert_eq!(sync.read(time(10), Some(time(9)), later), Some(time(10)));
    assert!(!sync.is_own(time(9)));
}
