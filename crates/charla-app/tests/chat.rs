//! The chat window against a real in-process server: connect, join, send and receive, the
//! nick list updating live, and a private conversation. The harness panics on a missing
//! glyph, so the Spanish text and emoji here also check that they render.

mod common;

use anyhow::Result;
use charla_app::chat::NEW_SINCE;
use charla_app::{AppOptions, CharlaApp};
use common::{TestClient, app, connect, runtime, say, server, shows, step_until};
use egui::accesskit::Role;
use egui_kittest::Harness;
use egui_kittest::kittest::Queryable as _;

#[test]
fn connect_join_talk_and_see_the_nick_list_change() -> Result<()> {
    let rt = runtime()?;
    let (_server, addr) = server(&rt)?;
    let mut h = app(&rt, AppOptions::ephemeral());
    connect(&mut h, addr, "Ñandú")?;

    say(&mut h, "/join #charla");
    step_until(&mut h, "the channel in the side list", |h| {
        shows(h, "#charla")
    })?;
    step_until(&mut h, "ourselves as operator in the nick list", |h| {
        shows(h, "@Ñandú")
    })?;

    // Someone else joins: the nick list shows them without any action of ours.
    let mut bob = rt.block_on(TestClient::register(addr, "bob"))?;
    rt.block_on(bob.send("JOIN #charla"))?;
    step_until(&mut h, "bob in the nick list", |h| shows(h, "bob"))?;

    // They speak; we see it, with their nick.
    rt.block_on(bob.send("PRIVMSG #charla :hola Ñandú, ¿qué tal? 🎉"))?;
    step_until(&mut h, "bob's message", |h| {
        shows(h, "hola Ñandú, ¿qué tal? 🎉")
    })?;
    assert!(shows(&h, "bob: "), "the line names its sender");

    // While the window is in the background, what arrives stays unread; looking again
    // clears it and marks where we left off.
    let set_focus = |h: &mut Harness<'static, CharlaApp>, focused: bool| {
        h.input_mut()
            .viewports
            .entry(egui::ViewportId::ROOT)
            .or_default()
            .focused = Some(focused);
    };
    set_focus(&mut h, false);
    rt.block_on(bob.send("PRIVMSG #charla :¿estás ahí?"))?;
    step_until(&mut h, "the line while away", |h| shows(h, "¿estás ahí?"))?;
    let unread = |h: &Harness<'static, CharlaApp>| {
        h.state().sessions().first().and_then(|s| {
            s.state
                .buffer(&charla_client::BufferId::Channel("#charla".into()))
                .map(|b| b.unread)
        })
    };
    assert_eq!(
        unread(&h),
        Some(1),
        "unread while the window is in the background"
    );
    assert!(!shows(&h, NEW_SINCE));
    set_focus(&mut h, true);
    h.step();
    h.step();
    assert_eq!(unread(&h), Some(0), "read once looked at");
    assert!(shows(&h, NEW_SINCE), "marker where we left off");

    // We answer; they receive it exactly.
    say(&mut h, "muy bien, ñ á ¿ 🎉");
    let line = rt.block_on(bob.expect(|l| common::is(l, "PRIVMSG", "#charla")))?;
    assert!(line.ends_with(":muy bien, ñ á ¿ 🎉"), "got {line}");
    step_until(&mut h, "our own line in the window", |h| {
        shows(h, "muy bien, ñ á ¿ 🎉")
    })?;

    // They act and type: the action reads "* bob …", the typing notice shows live.
    rt.block_on(bob.send("PRIVMSG #charla :\u{1}ACTION saluda 👋\u{1}"))?;
    step_until(&mut h, "bob's /me action", |h| shows(h, "saluda 👋"))?;
    rt.block_on(bob.send("@+typing=active TAGMSG #charla"))?;
    step_until(&mut h, "bob typing", |h| shows(h, "bob is typing…"))?;
    rt.block_on(bob.send("@+typing=done TAGMSG #charla"))?;
    step_until(&mut h, "bob done typing", |h| !shows(h, "bob is typing…"))?;

    // Tab completes a nick; Up brings back the last line sent.
    let input = |h: &Harness<'static, CharlaApp>| {
        h.get_by_role_and_label(Role::MultilineTextInput, "Message input")
            .value()
    };
    h.get_by_role_and_label(Role::MultilineTextInput, "Message input")
        .focus();
    h.step();
    h.get_by_role_and_label(Role::MultilineTextInput, "Message input")
        .type_text("bo");
    h.step();
    h.key_press(egui::Key::Tab);
    h.step();
    assert_eq!(input(&h).as_deref(), Some("bob: "));
    h.key_press(egui::Key::ArrowUp);
    h.step();
    assert_eq!(input(&h).as_deref(), Some("muy bien, ñ á ¿ 🎉"));
    h.key_press(egui::Key::ArrowDown);
    h.step();
    assert_eq!(
        input(&h).as_deref(),
        Some("bob: "),
        "Down gives the draft back"
    );

    // We give them operator status: the prefix changes live. (Up/Down left "bob: " as draft.)
    h.get_by_role_and_label(Role::MultilineTextInput, "Message input")
        .set_text_value_accesskit("");
    h.step();
    // Shift+Enter starts a new line; Enter sends the lines as one message (draft/multiline):
    // our window shows the server's echo as one line of two, bob (without the capability)
    // gets them one by one.
    h.get_by_role_and_label(Role::MultilineTextInput, "Message input")
        .focus();
    h.step();
    h.get_by_role_and_label(Role::MultilineTextInput, "Message input")
        .type_text("primera línea");
    h.step();
    h.key_press_modifiers(egui::Modifiers::SHIFT, egui::Key::Enter);
    h.step();
    h.get_by_role_and_label(Role::MultilineTextInput, "Message input")
        .type_text("segunda 🎉");
    h.step();
    h.key_press(egui::Key::Enter);
    h.step();
    h.step();
    for text in ["primera línea", "segunda 🎉"] {
        let line = rt.block_on(bob.expect(|l| common::is(l, "PRIVMSG", "#charla")))?;
        assert!(line.ends_with(&format!(":{text}")), "got {line}");
    }
    step_until(&mut h, "our two lines as one message", |h| {
        h.state().sessions().first().is_some_and(|s| {
            s.state
                .buffer(&charla_client::BufferId::Channel("#charla".into()))
                .is_some_and(|b| {
                    b.lines
                        .iter()
                        .any(|l| l.own && l.text == "primera línea\nsegunda 🎉")
                })
        })
    })?;

    say(&mut h, "/op bob");
    step_until(&mut h, "@bob in the nick list", |h| shows(h, "@bob"))?;

    // They leave: the nick list drops them.
    rt.block_on(bob.send("PART #charla :chau"))?;
    step_until(&mut h, "bob gone from the nick list", |h| !shows(h, "@bob"))?;
    Ok(())
}

#[test]
fn a_private_conversation_opens_and_answers() -> Result<()> {
    let rt = runtime()?;
    let (_server, addr) = server(&rt)?;
    let mut h = app(&rt, AppOptions::ephemeral());
    connect(&mut h, addr, "ana")?;
    let mut bob = rt.block_on(TestClient::register(addr, "bob"))?;

    rt.block_on(bob.send("PRIVMSG ana :psst, ¿estás?"))?;
    step_until(&mut h, "the conversation in the side list", |h| {
        shows(h, "✉ bob")
    })?;
    step_until(&mut h, "an unread count on it", |h| shows(h, " 1 "))?;

    common::click(&mut h, "✉ bob")?;
    step_until(&mut h, "bob's message", |h| shows(h, "psst, ¿estás?"))?;
    assert!(
        shows(&h, "Conversation with bob"),
        "the header names the conversation"
    );
    assert!(shows(&h, NEW_SINCE), "a marker above what was unread");

    // Alt+Up goes to the buffer above (the server's), Alt+Down back.
    h.key_press_modifiers(egui::Modifiers::ALT, egui::Key::ArrowUp);
    h.step();
    h.step();
    assert!(shows(&h, "Server messages"), "Alt+Up moved up the list");
    h.key_press_modifiers(egui::Modifiers::ALT, egui::Key::ArrowDown);
    h.step();
    h.step();
    assert!(shows(&h, "Conversation with bob"), "Alt+Down came back");
    assert!(!shows(&h, NEW_SINCE), "the marker goes once read and left");

    say(&mut h, "sí, acá estoy");
    let line = rt.block_on(bob.expect(|l| common::is(l, "PRIVMSG", "bob")))?;
    assert!(line.ends_with(":sí, acá estoy"), "got {line}");

    // Writing to someone who is not here: the error shows where we acted, in words.
    say(&mut h, "/msg carla hola");
    step_until(
        &mut h,
        "an error in words for a nick that is not here",
        |h| common::shows_part(h, "There is no one called carla here"),
    )?;

    // A /command being typed lists what it could be; Tab completes it.
    h.get_by_role_and_label(Role::MultilineTextInput, "Message input")
        .focus();
    h.step();
    h.get_by_role_and_label(Role::MultilineTextInput, "Message input")
        .type_text("/jo");
    h.step();
    h.step();
    assert!(common::shows_part(&h, "(Tab completes)"), "the hint shows");
    h.key_press(egui::Key::Tab);
    h.step();
    assert_eq!(
        h.get_by_role_and_label(Role::MultilineTextInput, "Message input")
            .value()
            .as_deref(),
        Some("/join ")
    );
    Ok(())
}

#[test]
fn only_an_operator_is_offered_kick_in_the_nick_list() -> Result<()> {
    let rt = runtime()?;
    let (_server, addr) = server(&rt)?;
    let mut h = app(&rt, AppOptions::ephemeral());
    connect(&mut h, addr, "Ñandú")?;
    say(&mut h, "/join #charla");
    step_until(&mut h, "ourselves as operator", |h| shows(h, "@Ñandú"))?;
    let mut bob = rt.block_on(TestClient::register(addr, "bob"))?;
    rt.block_on(bob.send("JOIN #charla"))?;
    let mut carla = rt.block_on(TestClient::register(addr, "carla"))?;
    rt.block_on(carla.send("JOIN #charla"))?;
    step_until(&mut h, "carla in the nick list", |h| shows(h, "carla"))?;
    let menu = |h: &mut Harness<'static, CharlaApp>, nick: &str| -> Result<()> {
        h.key_press(egui::Key::Escape);
        h.step();
        h.query_all_by_label(nick)
            .next()
            .ok_or_else(|| anyhow::anyhow!("no {nick} in the nick list"))?
            .click_secondary();
        step_until(h, "the nick's menu", |h| shows(h, "Private conversation"))
    };

    // As an operator: others can be kicked, we cannot kick ourselves.
    menu(&mut h, "@Ñandú")?;
    assert!(!shows(&h, "Kick from channel"), "no kicking ourselves");
    menu(&mut h, "bob")?;
    common::click(&mut h, "Kick from channel")?;
    let kick = rt.block_on(bob.expect(|l| common::is(l, "KICK", "#charla")))?;
    assert!(kick.contains(" bob"), "got {kick}");
    step_until(&mut h, "bob gone", |h| !shows(h, "bob"))?;

    // Without operator status the menu has no Kick.
    say(&mut h, "/deop Ñandú");
    step_until(&mut h, "no longer operator", |h| !shows(h, "@Ñandú"))?;
    menu(&mut h, "carla")?;
    assert!(
        !shows(&h, "Kick from channel"),
        "a plain member is not offered kick"
    );
    Ok(())
}

#[test]
fn people_show_under_the_display_name_they_chose() -> Result<()> {
    let rt = runtime()?;
    let (_server, addr) = server(&rt)?;
    let mut h = app(&rt, AppOptions::ephemeral());
    connect(&mut h, addr, "Ñandú")?;
    say(&mut h, "/join #perfil");
    step_until(&mut h, "ourselves in the nick list", |h| shows(h, "@Ñandú"))?;
    let mut bob = rt.block_on(TestClient::register(addr, "bob"))?;
    rt.block_on(bob.send("JOIN #perfil"))?;
    step_until(&mut h, "bob in the nick list", |h| shows(h, "bob"))?;
    // bob names himself (draft/metadata-2); the app, subscribed to display names, shows it.
    rt.block_on(bob.send("METADATA * SET display-name :Roberto Gómez"))?;
    rt.block_on(bob.send("PRIVMSG #perfil :¡hola!"))?;
    step_until(&mut h, "bob's line under his display name", |h| {
        shows(h, "Roberto Gómez: ")
    })?;
    // We name ourselves with /displayname; bob's raw client reads the METADATA line once it
    // takes the capability and subscribes.
    rt.block_on(bob.send("CAP REQ :draft/metadata-2"))?;
    rt.block_on(bob.expect(|l| l.contains(" ACK ")))?;
    rt.block_on(bob.send("METADATA * SUB display-name"))?;
    rt.block_on(bob.expect(|l| l.contains(" 770 ")))?;
    say(&mut h, "/displayname Ñandú el Grande");
    let line = rt.block_on(bob.expect(|l| l.contains("METADATA Ñandú display-name")))?;
    assert!(line.ends_with(":Ñandú el Grande"), "got {line}");
    Ok(())
}

#[test]
fn an_avatar_from_the_chat_server_shows_in_the_nick_list() -> Result<()> {
    let rt = runtime()?;
    let (_server, addr) = server(&rt)?;
    // A picture served on the chat server's host (loopback here), as its file host would.
    let mut png = Vec::new();
    image::RgbaImage::from_pixel(40, 40, image::Rgba([30, 120, 200, 255]))
        .write_to(&mut std::io::Cursor::new(&mut png), image::ImageFormat::Png)?;
    let web = rt.block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))?;
    let url = format!("http://127.0.0.1:{}/bob.png", web.local_addr()?.port());
    rt.spawn(async move {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        // One request is all the test makes (the app keeps what it fetched).
        if let Ok((mut stream, _)) = web.accept().await {
            let mut request = [0; 2048];
            let _ = stream.read(&mut request).await;
            let head = format!(
                "HTTP/1.1 200 OK\r\nContent-Type: image/png\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                png.len()
            );
            let _ = stream.write_all(head.as_bytes()).await;
            let _ = stream.write_all(&png).await;
        }
    });
    let mut h = app(&rt, AppOptions::ephemeral());
    connect(&mut h, addr, "Ñandú")?;
    say(&mut h, "/join #fotos");
    step_until(&mut h, "ourselves in the nick list", |h| shows(h, "@Ñandú"))?;
    let mut bob = rt.block_on(TestClient::register(addr, "bob"))?;
    rt.block_on(bob.send(&format!("METADATA * SET avatar :{url}")))?;
    rt.block_on(bob.send("JOIN #fotos"))?;
    step_until(&mut h, "bob's picture fetched", |h| {
        h.state().avatars().is_ready(&url)
    })?;
    Ok(())
}

#[test]
fn a_message_is_deleted_from_its_menu_after_confirming() -> Result<()> {
    let rt = runtime()?;
    let (_server, addr) = server(&rt)?;
    let mut h = app(&rt, AppOptions::ephemeral());
    connect(&mut h, addr, "Ñandú")?;
    say(&mut h, "/join #charla");
    step_until(&mut h, "ourselves as operator", |h| shows(h, "@Ñandú"))?;
    // bob understands deletions.
    let mut bob = rt.block_on(TestClient::connect(addr))?;
    rt.block_on(bob.send(
        "CAP REQ :message-tags draft/message-redaction\r\nNICK bob\r\nUSER bob 0 * :bob\r\nCAP END",
    ))?;
    rt.block_on(bob.expect(|l| l.split(' ').nth(1) == Some("001")))?;
    rt.block_on(bob.send("JOIN #charla"))?;
    step_until(&mut h, "bob in the nick list", |h| shows(h, "bob"))?;

    say(&mut h, "me equivoqué de canal");
    step_until(&mut h, "our line", |h| shows(h, "me equivoqué de canal"))?;
    rt.block_on(bob.expect(|l| l.contains("PRIVMSG #charla :me equivoqué de canal")))?;
    let open_menu = |h: &mut Harness<'static, CharlaApp>, text: &str| -> Result<()> {
        h.key_press(egui::Key::Escape);
        h.step();
        h.get_by_label(text).click_secondary();
        step_until(h, "the line's menu", |h| shows(h, "Delete message"))
    };

    // Cancelling keeps it.
    open_menu(&mut h, "me equivoqué de canal")?;
    common::click(&mut h, "Delete message")?;
    step_until(&mut h, "the confirmation", |h| {
        shows(h, "Delete this message?")
    })?;
    common::click(&mut h, "Cancel")?;
    step_until(&mut h, "the dialog gone", |h| {
        !shows(h, "Delete this message?")
    })?;
    assert!(shows(&h, "me equivoqué de canal"));

    // Confirming sends REDACT; the line stays, as deleted, without its words.
    open_menu(&mut h, "me equivoqué de canal")?;
    common::click(&mut h, "Delete message")?;
    step_until(&mut h, "the confirmation", |h| {
        shows(h, "Delete this message?")
    })?;
    common::click(&mut h, "Delete")?;
    // (bob has message-tags: the line starts with its tags.)
    let redact = rt.block_on(bob.expect(|l| l.contains(" REDACT #charla ")))?;
    assert!(redact.contains(":Ñandú!"), "got {redact}");
    step_until(&mut h, "the line shown as deleted", |h| {
        shows(h, "message deleted") && !shows(h, "me equivoqué de canal")
    })?;
    assert!(shows(&h, "Ñandú: "), "who said it stays");

    // As channel operator, bob's message can be deleted too.
    rt.block_on(bob.send("PRIVMSG #charla :publicidad"))?;
    step_until(&mut h, "bob's line", |h| shows(h, "publicidad"))?;
    open_menu(&mut h, "publicidad")?;
    // Without operator status, only our own lines offer it.
    h.key_press(egui::Key::Escape);
    say(&mut h, "/deop Ñandú");
    step_until(&mut h, "no longer operator", |h| !shows(h, "@Ñandú"))?;
    h.get_by_label("publicidad").click_secondary();
    for _ in 0..5 {
        h.step();
    }
    assert!(!shows(&h, "Delete message"), "not ours, not an operator");
    Ok(())
}
