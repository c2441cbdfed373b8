use super::*;
use crate::config::Config;

#[test]
fn the_connection_task_stays_small() {
    // Every connection has one, idle or not: 10,000 idle clients multiply its size.
    let state = Arc::new(State::in_memory(Config::default()));
    let (a, _b) = tokio::io::duplex(64);
    let guards = Guards {
        permit: None,
        ip: None,
        task: Arc::new(crate::tracker::Tracker::default()).enter(),
    };
    let task = serve(
        state,
        a,
        "127.0.0.1:1".parse().expect("addr"),
        Transport::Plain,
        guards,
    );
    let size = std::mem::size_of_val(&task);
    assert!(size <= 728, "connection task is {size} bytes");
}

/// A stream whose reads panic: a bug inside the session's loop.
struct Explosive(Vec<u8>);

impl AsyncRead for Explosive {
    fn poll_read(
        self: Pin<&mut Self>,
        _: &mut Context<'_>,
        _: &mut tokio::io::ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        panic!("a bug in the session");
    }
}

impl AsyncWrite for Explosive {
    fn poll_write(
        mut self: Pin<&mut Self>,
        _: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        self.0.extend_from_slice(buf);
        Poll::Ready(Ok(buf.len()))
    }

    fn poll_flush(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Poll::Ready(Ok(()))
    }
}

#[tokio::test]
async fn a_panic_in_the_session_still_cleans_up() {
    let state = Arc::new(State::in_memory(Config::default()));
    let mut events = state.subscribe();
    let guards = Guards {
        permit: None,
        ip: None,
        task: Arc::new(crate::tracker::Tracker::default()).enter(),
    };
    let peer = "127.0.0.1:1".parse().expect("addr");
    let task = tokio::spawn(serve(
        state.clone(),
        Explosive(Vec::new()),
        peer,
        Transport::Plain,
        guards,
    ));
    tokio::time::timeout(Duration::from_secs(5), task)
        .await
        .expect("ended")
        .expect("the task itself did not panic");
    assert!(state.all_clients().is_empty(), "the client was left behind");
    let mut reasons = Vec::new();
    while let Ok(event) = events.try_recv() {
        if let ServerEvent::Disconnected { reason, .. } = event {
            reasons.push(reason);
        }
    }
    assert_eq!(reasons, ["Internal error"]);
}

/// A registered client `a` over an in-process stream, with a coalescing window of
/// `window_ms`; returns the state and the client's end of the stream.
async fn registered(window_ms: u64) -> (Arc<State>, tokio::io::DuplexStream) {
    let (state, theirs, _) = registered_counted(window_ms).await;
    (state, theirs)
}

/// A connection's task, and how many times it was polled. Past `cap` polls it is not polled
/// again (it ends): a task that spins would otherwise keep a paused clock from ever moving.
struct Counted<F> {
    task: Pin<Box<F>>,
    polls: Arc<std::sync::atomic::AtomicUsize>,
    cap: usize,
}

impl<F: Future<Output = ()>> Future for Counted<F> {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let polls = self
            .polls
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed)
            + 1;
        if polls > self.cap {
            return Poll::Ready(());
        }
        self.task.as_mut().poll(cx)
    }
}

/// [`registered`], with the count of its task's polls.
async fn registered_counted(
    window_ms: u64,
) -> (
    Arc<State>,
    tokio::io::DuplexStream,
    Arc<std::sync::atomic::AtomicUsize>,
) {
    let mut config = Config::default();
    config.limits.write_coalesce_ms = window_ms;
    let state = Arc::new(State::in_memory(config));
    let (theirs, polls) = session_counted(&state, "NICK a\r\nUSER a 0 * :A\r\n").await;
    (state, theirs, polls)
}

/// Another session of `state` over an in-process stream, registered by the lines of `hello`;
/// returns the client's end of the stream once its welcome is read.
async fn session(state: &Arc<State>, hello: &str) -> tokio::io::DuplexStream {
    session_counted(state, hello).await.0
}

/// [`session`], with the count of its task's polls.
async fn session_counted(
    state: &Arc<State>,
    hello: &str,
) -> (tokio::io::DuplexStream, Arc<std::sync::atomic::AtomicUsize>) {
    use tokio::io::AsyncWriteExt;
    let (ours, mut theirs) = tokio::io::duplex(64 * 1024);
    let guards = Guards {
        permit: None,
        ip: None,
        task: Arc::new(crate::tracker::Tracker::default()).enter(),
    };
    let polls = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    tokio::spawn(Counted {
        task: Box::pin(serve(
            state.clone(),
            ours,
            "127.0.0.1:1".parse().expect("addr"),
            Transport::Plain,
            guards,
        )),
        polls: polls.clone(),
        cap: 10_000,
    });
    theirs.write_all(hello.as_bytes()).await.expect("write");
    let mut burst = String::new();
    while !burst.contains(" 001 ") {
        let more = read_for(&mut theirs, Duration::from_secs(5)).await;
        assert!(!more.is_empty(), "not registered: {burst}");
        burst.push_str(&more);
    }
    // The rest of the burst, if it came in pieces.
    while !read_for(&mut theirs, Duration::from_millis(5))
        .await
        .is_empty()
    {}
    (theirs, polls)
}

/// A state whose runtime is always behind, with a channel `#grande` of 500 members
/// ([`crate::command::turns::BIG`]) that are no connection's.
fn behind_with_a_big_channel() -> (Arc<State>, Arc<crate::channel::Channel>) {
    use crate::deliver::Payload;
    let mut state = State::in_memory(Config::default());
    state.pressure = crate::pressure::Pressure::always_behind();
    let state = Arc::new(state);
    let (big, _) = state.channel_or_create("#grande").expect("a channel");
    let line = Payload::new(crate::outbound::Outgoing::new({
        let mut b = charla_proto::LineBuilder::new();
        b.source("m!u@h").command("JOIN").param("#grande");
        b
    }));
    for id in 0..crate::command::turns::BIG as u64 {
        let client = Arc::new(crate::client::Client::detached(1_000_000 + id));
        big.join_unchecked(&client, &line);
    }
    (state, big)
}

/// Whether, letting the runtime run a hundred times at most while `big` goes from `before`
/// members to `after`, its turn is seen taken while it still has `before`: the command waited
/// for its turn as a task before it changed the channel.
async fn waits_its_turn(big: &crate::channel::Channel, before: usize, after: usize) -> bool {
    let mut seen_waiting = false;
    for _ in 0..100 {
        tokio::task::yield_now().await;
        if big.turn().available_permits() == 0 && big.member_count() == before {
            seen_waiting = true;
        }
        if big.member_count() == after {
            break;
        }
    }
    seen_waiting
}

/// Reads until a PONG comes, within 5 s for each read.
async fn read_to_pong(rd: &mut tokio::io::DuplexStream, mut got: String) -> String {
    while !got.contains("PONG") {
        let more = read_for(rd, Duration::from_secs(5)).await;
        assert!(!more.is_empty(), "nothing more came: {got}");
        got.push_str(&more);
    }
    got
}

/// Sends `JOIN channels` and waits until the server has answered it (a PING after it).
async fn joined(rd: &mut tokio::io::DuplexStream, channels: &str) {
    use tokio::io::AsyncWriteExt;
    rd.write_all(format!("JOIN {channels}\r\nPING joined\r\n").as_bytes())
        .await
        .expect("write");
    read_to_pong(rd, String::new()).await;
}

/// While the runtime is behind, a PART from a channel of hundreds takes the channel's turn as
/// a task and lets the others run before it leaves (the turn is seen taken, the leaver still
/// in); it then leaves, and its next line waits for it.
#[tokio::test(start_paused = true)]
async fn a_part_from_a_big_channel_while_the_runtime_is_behind_lets_others_run_first() {
    use tokio::io::AsyncWriteExt;
    let (state, big) = behind_with_a_big_channel();
    let mut rd = session(&state, "NICK a\r\nUSER a 0 * :A\r\n").await;
    joined(&mut rd, "#grande").await;
    assert_eq!(big.member_count(), 501);
    rd.write_all(b"PART #grande :adi\xc3\xb3s\r\nPING after\r\n")
        .await
        .expect("write");
    assert!(waits_its_turn(&big, 501, 500).await, "left in one go");
    let got = read_to_pong(&mut rd, String::new()).await;
    let at = |what: &str| got.find(what).unwrap_or_else(|| panic!("{what}: {got}"));
    assert!(at("PART #grande :adiós") < at("PONG"), "{got}");
    assert_eq!(big.member_count(), 500);
    assert_eq!(big.turn().available_permits(), 1);
}

/// A PART whose channel's turn is taken (a JOIN or PART fanning out there) waits for it as a
/// task: the channels before it are left at once, the rest in order once the turn is free,
/// and the client's next line waits for all of them.
#[tokio::test]
async fn a_part_waits_for_its_turn_in_a_busy_channel_and_keeps_its_order() {
    use tokio::io::AsyncWriteExt;
    let (state, mut rd) = registered(0).await;
    joined(&mut rd, "#antes,#grande,#despues").await;
    let big = state.channel("#grande").expect("joined");
    let turn = big.turn().try_acquire().expect("free");
    rd.write_all(b"PART #antes,#grande,#despues\r\nPING after\r\n")
        .await
        .expect("write");
    let mut got = String::new();
    while let text = read_for(&mut rd, Duration::from_millis(100)).await
        && !text.is_empty()
    {
        got.push_str(&text);
    }
    assert!(!got.contains("PART #grande"), "left out of turn: {got}");
    assert!(!got.contains("PONG"), "the next line went first: {got}");
    assert_eq!(big.member_count(), 1);
    assert!(state.channel("#antes").is_none(), "#antes is left and gone");
    drop(turn);
    let rest = read_to_pong(&mut rd, got).await;
    let at = |what: &str| rest.find(what).unwrap_or_else(|| panic!("{what}: {rest}"));
    assert!(at("PART #antes") < at("PART #grande"), "{rest}");
    assert!(at("PART #grande") < at("PART #despues"), "{rest}");
    assert!(at("PART #despues") < at("PONG"), "{rest}");
    assert!(
        state.channel("#grande").is_none(),
        "#grande is left and gone"
    );
}

/// A user that quits leaves its channels in their turns: with one channel's turn taken, it is
/// still in both of its channels (the QUIT goes to them together) until the turn is free;
/// with a turn held for good, it leaves anyway once it has waited 2 s.
#[tokio::test(start_paused = true)]
async fn a_quit_waits_for_its_channels_turns_but_not_for_ever() {
    use tokio::io::AsyncWriteExt;
    let state = Arc::new(State::in_memory(Config::default()));
    let mut other = session(&state, "NICK b\r\nUSER b 0 * :B\r\n").await;
    joined(&mut other, "#antes,#grande").await;
    for (nick, hold) in [
        ("a", Duration::from_millis(500)),
        ("c", Duration::from_secs(60)),
    ] {
        let mut rd = session(&state, &format!("NICK {nick}\r\nUSER {nick} 0 * :X\r\n")).await;
        joined(&mut rd, "#antes,#grande").await;
        let big = state.channel("#grande").expect("joined");
        let small = state.channel("#antes").expect("joined");
        let turn = big.turn().try_acquire().expect("free");
        rd.write_all(b"QUIT :me voy\r\n").await.expect("write");
        tokio::time::sleep(hold.min(Duration::from_millis(1_900))).await;
        assert_eq!(
            (small.member_count(), big.member_count()),
            (2, 2),
            "{nick} left out of turn"
        );
        if hold < Duration::from_secs(2) {
            drop(turn);
            tokio::time::sleep(Duration::from_millis(1)).await;
        } else {
            tokio::time::sleep(Duration::from_millis(200)).await;
            drop(turn);
        }
        assert_eq!((small.member_count(), big.member_count()), (1, 1), "{nick}");
        let mut told = String::new();
        while !told.contains("QUIT") {
            let more = read_for(&mut other, Duration::from_secs(1)).await;
            assert!(!more.is_empty(), "no QUIT: {told}");
            told.push_str(&more);
        }
        assert!(
            told.contains(&format!(":{nick}!~{nick}@127.0.0.1 QUIT :")),
            "{told}"
        );
    }
}

/// While the runtime is behind, a user in a channel of hundreds that quits takes the
/// channel's turn as a task and lets the others run before its QUIT goes out.
#[tokio::test(start_paused = true)]
async fn a_quit_from_a_big_channel_while_the_runtime_is_behind_lets_others_run_first() {
    use tokio::io::AsyncWriteExt;
    let (state, big) = behind_with_a_big_channel();
    let mut rd = session(&state, "NICK a\r\nUSER a 0 * :A\r\n").await;
    joined(&mut rd, "#grande").await;
    rd.write_all(b"QUIT\r\n").await.expect("write");
    assert!(waits_its_turn(&big, 501, 500).await, "left in one go");
    assert_eq!(big.member_count(), 500);
    assert_eq!(big.turn().available_permits(), 1);
}

/// News of a user to its channels (a new nick, an away state, a real name) waits for their
/// turns when one is taken, as a PART does: nothing changes and nothing is answered until the
/// turn is free, and then the client's next line comes after the answer.
#[tokio::test]
async fn news_of_a_user_waits_for_its_channels_turns() {
    use tokio::io::AsyncWriteExt;
    let (state, mut rd) = registered(0).await;
    joined(&mut rd, "#antes,#grande").await;
    let big = state.channel("#grande").expect("joined");
    let user = state.find_nick("a").expect("registered");
    let realname = || user.info.read().realname.clone();
    for (line, answer) in [
        ("NICK \u{f1}and\u{fa}", "NICK \u{f1}and\u{fa}"),
        ("AWAY :fuera", " 306 "),
        ("SETNAME :Se\u{f1}or A", ""),
        ("AWAY", " 305 "),
    ] {
        let turn = big.turn().try_acquire().expect("free");
        let before = (user.nick(), realname(), user.info.read().away.clone());
        rd.write_all(format!("{line}\r\nPING after\r\n").as_bytes())
            .await
            .expect("write");
        let early = read_for(&mut rd, Duration::from_millis(100)).await;
        assert!(early.is_empty(), "{line}: answered out of turn: {early}");
        let now = (user.nick(), realname(), user.info.read().away.clone());
        assert_eq!(now, before, "{line}: changed out of turn");
        drop(turn);
        let got = read_to_pong(&mut rd, String::new()).await;
        let at = |what: &str| got.find(what).unwrap_or_else(|| panic!("{what}: {got}"));
        assert!(at(answer) < at("PONG"), "{line}: {got}");
    }
    assert_eq!(realname(), "Se\u{f1}or A");
    assert!(user.info.read().away.is_none());
    assert_eq!(user.nick(), "\u{f1}and\u{fa}");
}

/// While the runtime is behind, a JOIN into a channel of hundreds takes the channel's turn as
/// a task and lets the others run before it joins (the turn is seen taken, the joiner not yet
/// in); it then joins, gets its NAMES, and its next line waits for all of it.
#[tokio::test(start_paused = true)]
async fn a_join_into_a_big_channel_while_the_runtime_is_behind_lets_others_run_first() {
    use tokio::io::AsyncWriteExt;
    let (state, big) = behind_with_a_big_channel();
    let mut rd = session(&state, "NICK a\r\nUSER a 0 * :A\r\n").await;
    rd.write_all(b"JOIN #grande\r\nPING after\r\n")
        .await
        .expect("write");
    assert!(waits_its_turn(&big, 500, 501).await, "joined in one go");
    let got = read_to_pong(&mut rd, String::new()).await;
    let at = |what: &str| got.find(what).unwrap_or_else(|| panic!("{what}: {got}"));
    assert!(at("JOIN #grande") < at(" 366 "), "{got}");
    assert!(at(" 366 ") < at("PONG"), "{got}");
    assert_eq!(big.member_count(), 501);
    assert_eq!(big.turn().available_permits(), 1);
}

/// A JOIN whose channel's turn is taken (another JOIN fanning out there) waits for it as a
/// task, not on the channel's lock: the channels before it are joined at once, the rest
/// in order once the turn is free, and the client's next line waits for all of them.
/// (What the wait's command said goes out with the rest, after the wait.)
#[tokio::test]
async fn a_join_waits_for_its_turn_in_a_busy_channel_and_keeps_its_order() {
    use tokio::io::AsyncWriteExt;
    let (state, mut rd) = registered(0).await;
    let (big, _) = state.channel_or_create("#grande").expect("a channel");
    let turn = big.turn().try_acquire().expect("free");
    rd.write_all(b"JOIN #antes,#grande,#despues\r\nPING after\r\n")
        .await
        .expect("write");
    let mut got = String::new();
    while let text = read_for(&mut rd, Duration::from_millis(100)).await
        && !text.is_empty()
    {
        got.push_str(&text);
    }
    assert!(!got.contains("JOIN #grande"), "joined out of turn: {got}");
    assert!(!got.contains("PONG"), "the next line went first: {got}");
    assert_eq!(big.member_count(), 0);
    assert_eq!(state.channel("#antes").expect("joined").member_count(), 1);
    drop(turn);
    let rest = read_to_pong(&mut rd, got).await;
    let at = |what: &str| rest.find(what).unwrap_or_else(|| panic!("{what}: {rest}"));
    assert!(at("JOIN #antes") < at("JOIN #grande"), "{rest}");
    assert!(at("JOIN #grande") < at("JOIN #despues"), "{rest}");
    assert!(at("JOIN #despues") < at("PONG"), "{rest}");
    assert_eq!(big.member_count(), 1);
}

async fn read_some(rd: &mut tokio::io::DuplexStream) -> String {
    use tokio::io::AsyncReadExt;
    let mut buf = vec![0; 64 * 1024];
    let n = rd.read(&mut buf).await.expect("read");
    String::from_utf8_lossy(&buf[..n]).into_owned()
}

/// What arrives within `wait` (in one read), or "" if nothing does.
async fn read_for(rd: &mut tokio::io::DuplexStream, wait: Duration) -> String {
    tokio::time::timeout(wait, read_some(rd))
        .await
        .unwrap_or_default()
}

fn push(state: &State, text: &str) {
    let client = state.find_nick("a").expect("registered");
    client
        .queue
        .push(Line::from(format!("NOTICE a :{text}\r\n")))
        .expect("push");
}

/// Pushes `text` and checks that it is written at once.
async fn goes_out_at_once(state: &State, rd: &mut tokio::io::DuplexStream, text: &str) {
    push(state, text);
    let got = read_for(rd, Duration::from_millis(1)).await;
    assert!(got.contains(text), "{text:?} was held back: {got:?}");
}

/// A client with a window of `window_ms`, quiet for longer than that, that has just been
/// written "one" (at once, which opens a window).
async fn just_written(window_ms: u64) -> (Arc<State>, tokio::io::DuplexStream) {
    let (state, mut rd) = registered(window_ms).await;
    tokio::time::sleep(Duration::from_millis(2 * window_ms)).await;
    goes_out_at_once(&state, &mut rd, "one").await;
    (state, rd)
}

#[tokio::test(start_paused = true)]
async fn a_calm_client_s_lines_go_out_at_once_even_two_close_together() {
    // A calm channel: two lines every 10 ms, a millisecond apart (about 6 per 30 ms window,
    // under HOLD_PACE): none is held, however close it comes to the last write.
    let (state, mut rd) = just_written(30).await;
    for i in 0..20 {
        tokio::time::sleep(Duration::from_millis(9)).await;
        goes_out_at_once(&state, &mut rd, &format!("first {i}")).await;
        tokio::time::sleep(Duration::from_millis(1)).await;
        goes_out_at_once(&state, &mut rd, &format!("second {i}")).await;
    }
}

/// A client with a window of `window_ms`, quiet for longer than that, that has just been
/// written twice HOLD_PACE lines (in one write, at once: it is busy now).
async fn burst_written(window_ms: u64) -> (Arc<State>, tokio::io::DuplexStream) {
    let (state, mut rd) = registered(window_ms).await;
    tokio::time::sleep(Duration::from_millis(2 * window_ms)).await;
    let lines = 2 * HOLD_PACE as usize;
    for i in 0..lines {
        push(&state, &format!("burst {i}"));
    }
    let first = read_for(&mut rd, Duration::from_millis(1)).await;
    assert_eq!(first.lines().count(), lines, "{first:?}");
    (state, rd)
}

#[tokio::test(start_paused = true)]
async fn a_busy_client_s_lines_within_the_window_go_out_together_at_its_end() {
    let (state, mut rd) = burst_written(50).await;
    // Right after that write: held back, then written together.
    push(&state, "two");
    push(&state, "three");
    assert_eq!(read_for(&mut rd, Duration::from_millis(30)).await, "");
    let both = read_for(&mut rd, Duration::from_millis(40)).await;
    assert_eq!(both, "NOTICE a :two\r\nNOTICE a :three\r\n");
}

#[tokio::test(start_paused = true)]
async fn a_busy_client_s_next_line_waits_for_the_window() {
    let (state, mut rd) = burst_written(40).await;
    tokio::time::sleep(Duration::from_millis(15)).await;
    push(&state, "three");
    assert_eq!(read_for(&mut rd, Duration::from_millis(10)).await, "");
    let late = read_for(&mut rd, Duration::from_millis(30)).await;
    assert!(late.contains("three"), "{late:?}");
}

/// The pace decays with the time since the last write, once: a busy client whose task looks at
/// its queue often and finds nothing (after its own lines that answer nothing, here PONGs) is
/// as busy as one left alone. (Each look decayed it again, and ten PONGs made it calm.)
#[tokio::test(start_paused = true)]
async fn lines_that_answer_nothing_do_not_make_a_busy_client_calm() {
    use tokio::io::AsyncWriteExt;
    let (state, mut rd) = burst_written(40).await;
    for _ in 0..10 {
        tokio::time::sleep(Duration::from_millis(1)).await;
        rd.write_all(b"PONG :nada\r\n").await.expect("write");
    }
    tokio::time::sleep(Duration::from_millis(1)).await;
    push(&state, "three");
    assert_eq!(read_for(&mut rd, Duration::from_millis(10)).await, "");
    let late = read_for(&mut rd, Duration::from_millis(30)).await;
    assert!(late.contains("three"), "{late:?}");
}

#[tokio::test(start_paused = true)]
async fn a_client_that_calms_down_is_no_longer_held() {
    let (state, mut rd) = burst_written(40).await;
    // A whole window later the burst is forgotten.
    tokio::time::sleep(Duration::from_millis(45)).await;
    goes_out_at_once(&state, &mut rd, "calm").await;
}

#[test]
fn the_lines_a_held_write_waits_for_grow_with_the_pace() {
    let first = ConnectionId(0);
    // Lines per 30 ms window: 500, 1,000, 2,000 and 8,000 lines a second.
    assert_eq!(enough_lines(first, 15.0, 0.0), 3);
    assert_eq!(enough_lines(first, 30.0, 0.0), 7);
    assert_eq!(enough_lines(first, 60.0, 0.0), 30);
    assert_eq!(enough_lines(first, 240.0, 0.0), FULL_WRITE_LINES);
    // Never a single line (that would be no hold at all); staggered by connection.
    assert_eq!(enough_lines(first, HOLD_PACE, 0.0), 2);
    assert_eq!(
        enough_lines(ConnectionId(15), 240.0, 0.0),
        FULL_WRITE_LINES - 15 * FULL_WRITE_LINES / 64
    );
    // Busy workers: more of the window, the whole of it when saturated.
    assert_eq!(enough_lines(first, 15.0, 0.5), 3);
    assert_eq!(enough_lines(first, 20.0, 0.7), 13);
    assert_eq!(enough_lines(first, 30.0, 0.9), 30);
    assert_eq!(enough_lines(first, 40.0, 1.0), 40);
    assert_eq!(enough_lines(first, 60.0, 1.0), FULL_WRITE_LINES);
}

#[tokio::test(start_paused = true)]
async fn a_busy_client_s_lines_go_out_a_few_at_a_time_long_before_the_window_ends() {
    // 500 lines a second, about 15 a window of 30 ms: held (several a write), but each write
    // goes when the few lines of its share of the window wait, not at the window's end.
    let (state, mut rd) = burst_written(30).await;
    let start = tokio::time::Instant::now();
    let mut pushed = Vec::new();
    let (mut lines, mut writes, mut longest) = (0, 0, Duration::ZERO);
    for i in 0..150 {
        tokio::time::sleep_until(start + Duration::from_millis(2 * i)).await;
        push(&state, &format!("line {i}"));
        pushed.push(tokio::time::Instant::now());
        let got = read_for(&mut rd, Duration::from_micros(100)).await;
        if got.is_empty() {
            continue;
        }
        writes += 1;
        for line in got.lines() {
            let n: usize = line.rsplit(' ').next().unwrap().parse().expect("numbered");
            longest = longest.max(pushed[n].elapsed());
            lines += 1;
        }
    }
    assert!(lines >= 140, "{lines} of 150 written");
    assert!(
        writes * 2 <= lines,
        "{writes} writes for {lines} lines: not held"
    );
    assert!(
        longest < Duration::from_millis(10),
        "a line waited {longest:?}"
    );
}

#[tokio::test(start_paused = true)]
async fn a_full_write_s_worth_goes_out_before_the_window_ends() {
    let (state, mut rd) = burst_written(1000).await;
    // A burst was written: what follows is held, until a full write's worth waits.
    let enough = enough_lines(
        state.find_nick("a").expect("registered").id,
        2.0 * HOLD_PACE,
        0.0,
    );
    for i in 0..enough - 1 {
        push(&state, &format!("held {i}"));
    }
    assert_eq!(read_for(&mut rd, Duration::from_millis(10)).await, "");
    push(&state, "enough");
    let mut got = String::new();
    while !got.contains("enough") {
        let more = read_for(&mut rd, Duration::from_millis(10)).await;
        assert!(!more.is_empty(), "held back: {got:?}");
        got.push_str(&more);
    }
    assert_eq!(got.lines().count(), enough);
}

/// Lines held back, then written when enough came: the write opens a new window, and the
/// task looks again at that window's end, not at the end of the one the lines were held in.
/// (It did: the timer, set to a time already past, fired at once, again and again, and the
/// task was polled thousands of times until the new window ended.)
#[tokio::test(start_paused = true)]
async fn a_held_write_does_not_leave_the_task_a_deadline_already_past() {
    use std::sync::atomic::Ordering;
    let window = Duration::from_millis(40);
    let (state, mut rd, polls) = registered_counted(40).await;
    tokio::time::sleep(2 * window).await;
    let burst = 2 * HOLD_PACE as usize;
    for i in 0..burst {
        push(&state, &format!("burst {i}"));
    }
    assert_eq!(
        read_for(&mut rd, Duration::from_millis(1))
            .await
            .lines()
            .count(),
        burst
    );
    // Held (the window of that write runs until 40 ms)...
    tokio::time::sleep(Duration::from_millis(20)).await;
    push(&state, "held");
    assert_eq!(read_for(&mut rd, Duration::from_millis(1)).await, "");
    // ...until enough wait: written at 31 ms, which opens a window until 71 ms. The pace has
    // come down meanwhile: right after that write the client is no longer busy, so nothing
    // is held and no new deadline is set.
    tokio::time::sleep(Duration::from_millis(10)).await;
    let enough = enough_lines(
        state.find_nick("a").expect("registered").id,
        burst as f32,
        0.0,
    );
    for i in 1..enough {
        push(&state, &format!("more {i}"));
    }
    let got = read_for(&mut rd, Duration::from_millis(1)).await;
    assert_eq!(got.lines().count(), enough, "{got:?}");
    // Quiet past the old window's end (40 ms) and the new one's (71 ms).
    let before = polls.load(Ordering::Relaxed);
    tokio::time::sleep(2 * window).await;
    let during = polls.load(Ordering::Relaxed) - before;
    assert!(
        during <= 4,
        "the task was polled {during} times while nothing happened"
    );
    goes_out_at_once(&state, &mut rd, "still there").await;
}

#[tokio::test(start_paused = true)]
async fn the_answer_to_the_clients_own_command_is_not_held_back() {
    use tokio::io::AsyncWriteExt;
    let (_state, mut rd) = just_written(1000).await;
    // Inside the window opened by that write, the client asks something.
    rd.write_all(b"PING now\r\n").await.expect("write");
    let answer = read_for(&mut rd, Duration::from_millis(10)).await;
    assert!(
        answer.contains("PONG") && answer.contains("now"),
        "{answer:?}"
    );
}

/// Pushes a JOIN of `nick`'s: news of someone else, which may wait. An idle connection is
/// woken at once, as a fan-out to one member would.
fn push_join(state: &State, nick: &str) {
    let client = state.find_nick("a").expect("registered");
    let idle = client
        .queue
        .push_soon(Line::from(format!(":{nick}!u@h JOIN #c\r\n")))
        .expect("push");
    if let Some(waker) = idle {
        waker.wake();
    }
}

#[tokio::test(start_paused = true)]
async fn news_of_others_waits_a_while_or_for_the_next_line_that_may_not() {
    let window = Duration::from_millis(30);
    let (state, mut rd) = registered(30).await;
    tokio::time::sleep(2 * window).await;
    let id = state.find_nick("a").expect("registered").id;
    push_join(&state, "b");
    assert_eq!(
        read_for(&mut rd, 2 * window - Duration::from_millis(1)).await,
        ""
    );
    let late = read_for(&mut rd, soon_delay(id, window)).await;
    assert_eq!(late, ":b!u@h JOIN #c\r\n");
    // The next one waits too, until a line that may not wait comes: both go out at once, in
    // their order.
    tokio::time::sleep(Duration::from_millis(3)).await;
    push_join(&state, "c");
    assert_eq!(read_for(&mut rd, Duration::from_millis(5)).await, "");
    push(&state, "hola");
    let both = read_for(&mut rd, Duration::from_millis(1)).await;
    assert_eq!(both, ":c!u@h JOIN #c\r\nNOTICE a :hola\r\n");
    // The client's own command is answered at once, with what waited before the answer.
    tokio::time::sleep(2 * window).await;
    push_join(&state, "d");
    use tokio::io::AsyncWriteExt;
    rd.write_all(b"PING ya\r\n").await.expect("write");
    let answer = read_for(&mut rd, Duration::from_millis(5)).await;
    assert!(answer.starts_with(":d!u@h JOIN #c\r\n"), "{answer:?}");
    assert!(answer.contains("PONG"), "{answer:?}");
}

/// A member of a channel a join storm hits (a JOIN every millisecond) is written the JOINs
/// dozens at a time, once per delay, and none of them wakes its task: before, it was written
/// every few lines, a write and a wake-up of thousands of members at each.
#[tokio::test(start_paused = true)]
async fn a_join_storm_s_member_is_written_once_per_delay_and_woken_by_none_of_the_joins() {
    use std::sync::atomic::Ordering;
    let window = Duration::from_millis(30);
    let (state, mut rd, polls) = registered_counted(30).await;
    tokio::time::sleep(2 * window).await;
    let before = polls.load(Ordering::Relaxed);
    let (mut got, mut writes) = (0, 0);
    let mut count = |text: String| {
        if !text.is_empty() {
            writes += 1;
            got += text.lines().count();
        }
    };
    for i in 0..600 {
        push_join(&state, &format!("j{i}"));
        count(read_for(&mut rd, Duration::from_millis(1)).await);
    }
    for _ in 0..3 {
        count(read_for(&mut rd, 4 * window).await);
    }
    assert_eq!(got, 600);
    // 600 ms, 60 to 180 ms a write.
    assert!((3..=11).contains(&writes), "{writes} writes");
    let polls = polls.load(Ordering::Relaxed) - before;
    assert!(polls <= 2 * writes + 4, "{polls} polls for {writes} writes");
    goes_out_at_once(&state, &mut rd, "still there").await;
}

/// Others' news of a member (AWAY, a new nick, a new real name) waits like a JOIN, and what
/// the member itself is told goes out at once.
#[tokio::test(start_paused = true)]
async fn news_of_a_member_waits_for_the_others_but_not_for_the_member() {
    use tokio::io::AsyncWriteExt;
    let window = Duration::from_millis(30);
    let (state, _a) = registered(30).await;
    let caps = "CAP LS 302\r\nCAP REQ :away-notify setname\r\nCAP END\r\n";
    let mut b = session(&state, &format!("{caps}NICK b\r\nUSER b 0 * :B\r\n")).await;
    let mut c = session(&state, &format!("{caps}NICK c\r\nUSER c 0 * :C\r\n")).await;
    for (rd, nick) in [(&mut b, "b"), (&mut c, "c")] {
        rd.write_all(b"JOIN #c\r\n").await.expect("write");
        let mut got = String::new();
        while !got.contains(" 366 ") {
            got.push_str(&read_for(rd, Duration::from_millis(5)).await);
        }
        assert!(got.contains(&format!(":{nick}!")), "{got}");
    }
    // c's JOIN, which waited for b.
    let join = read_for(&mut b, 7 * window).await;
    assert!(join.contains(":c!"), "{join:?}");
    // Past the delay of the next look, which finds nothing held and stops looking.
    tokio::time::sleep(7 * window).await;
    let b_id = state.find_nick("b").expect("registered").id;
    let said: [(&[u8], &str, &str); 3] = [
        (b"AWAY :comiendo\r\n", " 306 c ", " AWAY :comiendo"),
        (
            b"NICK \xc3\xb1and\xc3\xba\r\n",
            " NICK \u{f1}and\u{fa}",
            " NICK \u{f1}and\u{fa}",
        ),
        (
            b"SETNAME :Se\xc3\xb1or C\r\n",
            " SETNAME :Se\u{f1}or C",
            " SETNAME :Se\u{f1}or C",
        ),
    ];
    for (line, own, theirs) in said {
        c.write_all(line).await.expect("write");
        let now = read_for(&mut c, Duration::from_millis(1)).await;
        assert!(now.contains(own), "c's own answer was held: {now:?}");
        assert_eq!(
            read_for(&mut b, 2 * window - Duration::from_millis(2)).await,
            "",
            "{theirs} did not wait"
        );
        let late = read_for(&mut b, soon_delay(b_id, window)).await;
        assert!(late.contains(theirs), "{late:?}");
        tokio::time::sleep(7 * window).await;
    }
}

#[tokio::test(start_paused = true)]
async fn no_window_writes_every_line_at_once() {
    let (state, mut rd) = registered(0).await;
    goes_out_at_once(&state, &mut rd, "one").await;
    goes_out_at_once(&state, &mut rd, "two").await;
    push_join(&state, "b");
    let join = read_for(&mut rd, Duration::from_millis(1)).await;
    assert_eq!(
        join, ":b!u@h JOIN #c\r\n",
        "news of others waits with no window either"
    );
}

#[tokio::test]
async fn the_tls_connection_task_stays_small() {
    // The handshake's state and the TLS stream (1,224 bytes) live in boxes; unboxed, the
    // task's future held the stream twice and the handshake beside it: 3,448 bytes.
    let state = Arc::new(State::in_memory(Config::default()));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    let _client = tokio::net::TcpStream::connect(addr).await.expect("connect");
    let (socket, _) = listener.accept().await.expect("accept");
    let guards = Guards {
        permit: None,
        ip: None,
        task: Arc::new(crate::tracker::Tracker::default()).enter(),
    };
    let tls = Arc::new(crate::tls::Tls::self_signed(&["localhost"]).expect("a certificate"));
    let (_tx, shutdown) = tokio::sync::watch::channel(false);
    let task = crate::tls::serve(tls, state, socket, addr, guards, shutdown);
    let size = std::mem::size_of_val(&task);
    assert!(size <= 960, "TLS connection task is {size} bytes");
}
