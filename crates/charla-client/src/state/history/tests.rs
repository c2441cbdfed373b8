//! Tests of history in the reducer: merging answers, keeping each line once, read markers.

use charla_proto::OwnedMessage;

use super::super::*;

fn irc(line: &str) -> Event {
    Event::Irc(OwnedMessage::parse(line).unwrap())
}

fn msg(line: &str) -> OwnedMessage {
    OwnedMessage::parse(line).unwrap()
}

fn chan() -> BufferId {
    BufferId::Channel("#c".into())
}

/// `ana`, logged into the account `ana`, in `#c` since 10:00:05 (with `server-time`).
fn joined() -> State {
    let mut s = State::new("ana");
    for line in [
        ":srv 001 ana :Welcome",
        ":srv 005 ana CHANTYPES=# CHATHISTORY=50 :are supported",
        ":srv 900 ana ana!a@h ana :You are now logged in as ana",
        "@time=2026-11-30T10:00:05.000Z :ana!a@h JOIN #c",
    ] {
        s.apply(&irc(line));
    }
    s
}

/// A history line at 10:00:`sec`.
fn at(sec: u32, id: &str, rest: &str) -> OwnedMessage {
    msg(&format!(
        "@time=2026-11-30T10:00:{sec:02}.000Z;msgid={id};batch=b {rest}"
    ))
}

fn loaded(target: &str, lines: Vec<OwnedMessage>, before: bool, more: bool) -> Event {
    Event::HistoryLoaded {
        target: target.into(),
        lines,
        before,
        more,
    }
}

fn texts(s: &State, id: &BufferId) -> Vec<String> {
    s.buffer(id)
        .unwrap()
        .lines
        .iter()
        .map(|l| l.text.clone())
        .collect()
}

#[test]
fn history_on_join_goes_above_the_join_in_order_and_is_not_news() {
    let mut s = joined();
    assert_eq!(s.isupport.history_page(), 50);
    s.apply(&Event::HistoryRequested {
        target: "#c".into(),
        before: false,
    });
    assert!(s.buffer(&chan()).unwrap().history.loading);
    let got = s.apply(&loaded(
        "#c",
        vec![
            at(1, "m1", ":bob!b@h PRIVMSG #c :hola"),
            at(2, "m2", ":bob!b@h PRIVMSG #c :ana: ¿estás?"),
            at(3, "m3", ":bob!b@h PRIVMSG #c :\u{1}ACTION baila\u{1}"),
            at(4, "m4", ":bob!b@h PRIVMSG #c :\u{1}VERSION\u{1}"),
            msg("@time=2026-11-30T10:00:04.000Z;msgid=m5;+draft/react=x :bob!b@h TAGMSG #c"),
        ],
        false,
        false,
    ));
    assert_eq!(got, None, "history never notifies");
    assert_eq!(
        texts(&s, &chan()),
        ["hola", "ana: ¿estás?", "baila", "You joined #c"]
    );
    let b = s.buffer(&chan()).unwrap();
    assert!(b.lines.iter().take(3).all(|l| l.from_history));
    assert!(b.lines[1].highlight, "a mention is still tinted");
    assert_eq!(b.lines[2].kind, LineKind::Action);
    assert_eq!(
        (b.unread, b.mentions),
        (0, 0),
        "no marker: history is old news"
    );
    assert!(!b.history.loading && !b.history.more);
    assert_eq!(
        b.history.oldest.as_ref().map(|o| o.msgid.as_str()),
        Some("m1")
    );
    // Each line has its own number, also those placed above older ones.
    let mut seqs: Vec<u64> = b.lines.iter().map(|l| l.seq).collect();
    seqs.sort_unstable();
    seqs.dedup();
    assert_eq!(seqs.len(), 4);
}

#[test]
fn a_line_seen_live_and_in_history_appears_once() {
    let mut s = joined();
    // Live first (between the JOIN and the answer), then in the answer.
    s.apply(&irc(
        "@time=2026-11-30T10:00:06.000Z;msgid=m6 :bob!b@h PRIVMSG #c :en vivo",
    ));
    // Someone joined just after us: seen live, without an id; in history with one.
    s.apply(&irc("@time=2026-11-30T10:00:06.500Z :carla!c@h JOIN #c"));
    s.apply(&loaded(
        "#c",
        vec![
            at(1, "m1", ":bob!b@h PRIVMSG #c :antes"),
            // Our own join, from event playback: the live one has no id.
            at(5, "j1", ":ana!a@h JOIN #c"),
            at(6, "m6", ":bob!b@h PRIVMSG #c :en vivo"),
            at(6, "j2", ":carla!c@h JOIN #c"),
        ],
        false,
        false,
    ));
    assert_eq!(
        texts(&s, &chan()),
        ["antes", "You joined #c", "en vivo", "carla joined"]
    );
    // The answer came before the live line: the live one is dropped, and not counted.
    s.apply(&loaded(
        "#c",
        vec![at(7, "m7", ":bob!b@h PRIVMSG #c :carrera")],
        false,
        false,
    ));
    let unread = s.buffer(&chan()).unwrap().unread;
    s.apply(&irc(
        "@time=2026-11-30T10:00:07.000Z;msgid=m7 :bob!b@h PRIVMSG #c :carrera",
    ));
    assert_eq!(
        texts(&s, &chan()),
        [
            "antes",
            "You joined #c",
            "en vivo",
            "carla joined",
            "carrera"
        ]
    );
    assert_eq!(s.buffer(&chan()).unwrap().unread, unread);
    // Two messages with the same words but different ids are two messages.
    s.apply(&loaded(
        "#c",
        vec![at(7, "m8", ":bob!b@h PRIVMSG #c :carrera")],
        false,
        false,
    ));
    assert_eq!(texts(&s, &chan()).len(), 6);
}

#[test]
fn scrolling_back_puts_older_lines_on_top_until_there_are_no_more() {
    let mut s = joined();
    s.apply(&loaded(
        "#c",
        vec![
            at(3, "m3", ":bob!b@h PRIVMSG #c :tres"),
            at(4, "m4", ":bob!b@h PRIVMSG #c :cuatro"),
        ],
        false,
        true,
    ));
    let b = s.buffer(&chan()).unwrap();
    assert!(b.history.more);
    assert_eq!(b.history.oldest.as_ref().unwrap().msgid, "m3");
    s.apply(&loaded(
        "#c",
        vec![
            at(1, "m1", ":bob!b@h PRIVMSG #c :uno"),
            at(2, "m2", ":bob!b@h PRIVMSG #c :dos"),
        ],
        true,
        true,
    ));
    assert_eq!(
        texts(&s, &chan()),
        ["uno", "dos", "tres", "cuatro", "You joined #c"]
    );
    let b = s.buffer(&chan()).unwrap();
    assert!(b.history.more);
    assert_eq!(b.history.oldest.as_ref().unwrap().msgid, "m1");
    assert_eq!(b.history.answers, 2);
    // A short answer says it was the beginning.
    s.apply(&loaded(
        "#c",
        vec![at(0, "m0", ":bob!b@h PRIVMSG #c :cero")],
        true,
        false,
    ));
    assert!(!s.buffer(&chan()).unwrap().history.more);
    // An answer that brings nothing new also ends it (no asking the same forever).
    let mut s2 = s.clone();
    s2.buffer_mut(&chan()).unwrap().history.more = true;
    s2.apply(&loaded(
        "#c",
        vec![at(0, "m0", ":bob!b@h PRIVMSG #c :cero")],
        true,
        true,
    ));
    assert!(!s2.buffer(&chan()).unwrap().history.more);
    // A buffer closed meanwhile: the answer is dropped.
    s.apply(&irc(":ana!a@h PART #c"));
    s.apply(&loaded(
        "#c",
        vec![at(0, "x", ":bob!b@h PRIVMSG #c :x")],
        true,
        false,
    ));
    assert!(s.buffer(&chan()).is_none());
}

#[test]
fn history_events_read_as_the_live_ones() {
    let events = [
        ":bob!b@h PART #c :adiós",
        ":bob!b@h PART #c",
        ":carla!c@h KICK #c dani :fuera",
        ":carla!c@h KICK #c dani dani",
        ":carla!c@h TOPIC #c :Tema nuevo",
        ":carla!c@h TOPIC #c :",
        ":carla!c@h NICK :carlota",
        ":carlota!c@h QUIT :Quit: me voy",
        ":bob!b@h KICK #c ana :¡fuera!",
    ];
    let mut live = joined();
    live.apply(&irc(":srv 353 ana = #c :ana bob carla dani"));
    live.apply(&irc(":srv 366 ana #c :End"));
    let mut history = live.clone();
    let before = live.buffer(&chan()).unwrap().lines.len();
    for line in events {
        live.apply(&irc(line));
    }
    history.apply(&loaded(
        "#c",
        events.iter().map(|l| msg(l)).collect(),
        false,
        false,
    ));
    let live_texts = texts(&live, &chan()).split_off(before);
    assert_eq!(live_texts.len(), events.len(), "{live_texts:?}");
    assert_eq!(texts(&history, &chan()).split_off(before), live_texts);
    // Our own join and nick change, too.
    let mut s = joined();
    let own = [":ana!a@h JOIN #otro", ":ana!a@h NICK :anita"];
    s.apply(&Event::OpenBuffer {
        buffer: BufferId::Channel("#otro".into()),
        focus: false,
    });
    s.apply(&loaded(
        "#otro",
        own.iter().map(|l| msg(l)).collect(),
        false,
        false,
    ));
    assert_eq!(
        texts(&s, &BufferId::Channel("#otro".into())),
        ["You joined #otro", "You are now known as anita"]
    );
}

#[test]
fn read_markers_count_unread_and_never_go_back() {
    let mut s = joined();
    s.apply(&loaded(
        "#c",
        vec![
            at(1, "m1", ":bob!b@h PRIVMSG #c :uno"),
            at(2, "m2", ":bob!b@h PRIVMSG #c :ana, dos"),
            msg("@time=2026-11-30T10:00:03.000Z;msgid=m3;account=ana :ana_movil!a@h PRIVMSG #c :desde el móvil"),
            at(4, "m4", ":bob!b@h PRIVMSG #c :cuatro"),
        ],
        false,
        false,
    ));
    let b = s.buffer(&chan()).unwrap();
    assert!(
        b.lines[2].own,
        "a line of our account from another client is ours"
    );
    assert_eq!(b.unread, 0);
    s.apply(&irc(":srv MARKREAD #c timestamp=2026-11-30T10:00:01.000Z"));
    let b = s.buffer(&chan()).unwrap();
    assert_eq!(
        (b.unread, b.mentions),
        (2, 1),
        "dos and cuatro; ours is not unread"
    );
    s.apply(&irc(":srv MARKREAD #C timestamp=2026-11-30T10:00:04.000Z"));
    let b = s.buffer(&chan()).unwrap();
    assert_eq!((b.unread, b.mentions), (0, 0));
    assert_eq!(
        b.read_marker.map(iso_time).as_deref(),
        Some("2026-11-30T10:00:04.000Z")
    );
    assert_eq!(
        b.newest_server_time().map(iso_time).as_deref(),
        Some("2026-11-30T10:00:04.000Z")
    );
    // Never back, and `*` changes nothing.
    s.apply(&irc(":srv MARKREAD #c timestamp=2026-11-30T09:00:00.000Z"));
    s.apply(&irc(":srv MARKREAD #c *"));
    let b = s.buffer(&chan()).unwrap();
    assert_eq!(
        b.read_marker.map(iso_time).as_deref(),
        Some("2026-11-30T10:00:04.000Z")
    );
    // Live lines after the marker count as ever; the marker is not shown as a line.
    s.apply(&irc(
        "@time=2026-11-30T10:00:09.000Z;msgid=m9 :bob!b@h PRIVMSG #c :nueve",
    ));
    assert_eq!(s.buffer(&chan()).unwrap().unread, 1);
    assert!(!texts(&s, &chan()).iter().any(|t| t.contains("MARKREAD")));
}

#[test]
fn private_history_is_from_both_sides_and_highlights_theirs() {
    let mut s = joined();
    s.apply(&Event::OpenBuffer {
        buffer: BufferId::Query("beto".into()),
        focus: false,
    });
    s.apply(&loaded(
        "beto",
        vec![
            at(1, "p1", ":ana!a@h PRIVMSG beto :hola beto"),
            at(2, "p2", ":beto!b@h PRIVMSG ana :hola ana"),
        ],
        false,
        false,
    ));
    let q = s.buffer(&BufferId::Query("BETO".into())).unwrap();
    let lines: Vec<(bool, bool, &str)> = q
        .lines
        .iter()
        .map(|l| (l.own, l.highlight, l.text.as_str()))
        .collect();
    assert_eq!(
        lines,
        [(true, false, "hola beto"), (false, true, "hola ana")]
    );
    assert_eq!(s.target_buffer("beto"), BufferId::Query("beto".into()));
}

#[test]
fn times_are_written_as_ircv3_wants_them() {
    let t = super::parse_time("2026-11-30T10:00:04.5Z").unwrap();
    assert_eq!(iso_time(t), "2026-11-30T10:00:04.500Z");
    let mut i = Isupport::default();
    assert_eq!(i.history_page(), 100);
    i.chathistory = Some(0);
    assert_eq!(i.history_page(), 100);
    i.chathistory = Some(1000);
    assert_eq!(i.history_page(), 100);
}

#[test]
fn lines_of_the_same_millisecond_keep_the_servers_order() {
    let mut s = joined();
    let same = |id: &str, text: &str| {
        msg(&format!(
            "@time=2026-11-30T10:00:01.000Z;msgid={id} :bob!b@h PRIVMSG #c :{text}"
        ))
    };
    s.apply(&loaded(
        "#c",
        vec![same("c", "c"), same("d", "d")],
        false,
        true,
    ));
    // Older lines of the same millisecond go above, in their order.
    s.apply(&loaded(
        "#c",
        vec![same("a", "a"), same("b", "b")],
        true,
        true,
    ));
    // A latest answer overlapping what is there puts its new lines after the known ones.
    s.apply(&loaded(
        "#c",
        vec![same("c", "c"), same("d", "d"), same("e", "e")],
        false,
        false,
    ));
    assert_eq!(
        texts(&s, &chan()),
        ["a", "b", "c", "d", "e", "You joined #c"]
    );
}

#[test]
fn a_redact_shows_the_line_as_deleted_live_and_from_history() {
    let mut s = joined();
    s.apply(&irc(
        "@time=2026-11-30T10:00:06.000Z;msgid=m1 :bob!b@h PRIVMSG #c :mi clave es zanahoria",
    ));
    s.apply(&irc(
        "@time=2026-11-30T10:00:07.000Z;msgid=m2 :bob!b@h PRIVMSG #c :ana: spam",
    ));
    s.apply(&irc(
        "@time=2026-11-30T10:00:08.000Z;msgid=m3 :bob!b@h PRIVMSG #c :sigue",
    ));
    // Live, by its sender: who and when stay, the text goes.
    s.apply(&irc("@msgid=r1 :bob!b@h REDACT #c m1"));
    let b = s.buffer(&chan()).unwrap();
    let line = b
        .lines
        .iter()
        .find(|l| l.msgid.as_deref() == Some("m1"))
        .unwrap();
    assert_eq!(line.kind, LineKind::Deleted);
    assert_eq!(line.text, "message deleted");
    assert_eq!(line.nick.as_deref(), Some("bob"));
    assert_eq!(line.time.to_rfc3339(), "2026-11-30T10:00:06+00:00");
    assert!(!texts(&s, &chan()).iter().any(|t| t.contains("zanahoria")));
    // A msgid not in this buffer is ignored.
    s.apply(&irc(":bob!b@h REDACT #c nope"));
    s.apply(&irc(":bob!b@h REDACT #otro m3"));
    assert!(texts(&s, &chan()).contains(&"sigue".to_owned()));

    // In a history answer (we were away): by an operator, with a reason; the REDACT is no
    // line of its own.
    let before = s.buffer(&chan()).unwrap().lines.len();
    s.apply(&loaded(
        "#c",
        vec![
            at(8, "m3", ":bob!b@h PRIVMSG #c :sigue"),
            at(9, "r2", ":op!o@h REDACT #c m2 :spam"),
        ],
        false,
        false,
    ));
    let b = s.buffer(&chan()).unwrap();
    assert_eq!(b.lines.len(), before);
    let line = b
        .lines
        .iter()
        .find(|l| l.msgid.as_deref() == Some("m2"))
        .unwrap();
    assert_eq!(line.kind, LineKind::Deleted);
    assert_eq!(line.text, "message deleted by op (spam)");
    assert!(!line.highlight);
    assert!(!texts(&s, &chan()).iter().any(|t| t.contains("ana: spam")));
}

#[test]
fn a_redact_of_a_private_message_finds_its_conversation() {
    let mut s = joined();
    s.apply(&irc("@msgid=p1 :bob!b@h PRIVMSG ana :secreto"));
    s.apply(&irc("@msgid=p2 :ana!a@h PRIVMSG bob :otro secreto"));
    let query = BufferId::Query("bob".into());
    // bob deletes his; we delete ours (the echo names bob as the target).
    s.apply(&irc(":bob!b@h REDACT ana p1"));
    s.apply(&irc(":ana!a@h REDACT bob p2"));
    let b = s.buffer(&query).unwrap();
    assert!(
        b.lines
            .iter()
            .filter(|l| l.msgid.is_some())
            .all(|l| l.kind == LineKind::Deleted)
    );
    assert!(!texts(&s, &query).iter().any(|t| t.contains("secreto")));
}

#[test]
fn scrolling_back_goes_before_the_topmost_line_when_lines_share_their_time() {
    let mut s = joined();
    let same = |id: &str, text: &str| at(3, id, &format!(":bob!b@h PRIVMSG #c :{text}"));
    s.apply(&loaded(
        "#c",
        vec![same("m3", "tres"), same("m4", "cuatro")],
        false,
        true,
    ));
    assert_eq!(
        s.buffer(&chan())
            .unwrap()
            .history
            .oldest
            .as_ref()
            .unwrap()
            .msgid,
        "m3"
    );
    s.apply(&loaded(
        "#c",
        vec![same("m1", "uno"), same("m2", "dos")],
        true,
        true,
    ));
    assert_eq!(
        texts(&s, &chan()),
        ["uno", "dos", "tres", "cuatro", "You joined #c"]
    );
    assert_eq!(
        s.buffer(&chan())
            .unwrap()
            .history
            .oldest
            .as_ref()
            .unwrap()
            .msgid,
        "m1"
    );
}
