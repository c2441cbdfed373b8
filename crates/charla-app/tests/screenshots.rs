//! The README's screenshots, made by the real `charla` binary under Xvfb so that they stay
//! true: the host console of `charla --host` with people connected, and the chat window of a
//! second `charla` in `#charla` with formatting, a reply, reactions and emoji. Runs only when
//! `CHARLA_SCREENSHOTS` names a directory (relative to the workspace), which gets
//! `host-console.png` and `chat.png`:
//!
//! ```sh
//! CHARLA_SCREENSHOTS=docs/screenshots cargo test -p charla-app --test screenshots
//! ```
//!
//! Needs `Xvfb` and ImageMagick's `import` (`.ci/app-smoke.sh` installs both and runs this
//! into the target directory, so CI checks that it works without touching the repository).

mod common;

use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context as _, Result, bail};
use common::{TestClient, runtime};

/// Where the pictures go, when asked for.
const DIR: &str = "CHARLA_SCREENSHOTS";

/// The app's window size (main.rs), and so the virtual screen's: the window fills it.
const SCREEN: &str = "1100x720x24";

/// A child process ended when dropped.
struct Running(Child);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// A virtual X display: its name (`:151`) and the Xvfb behind it.
struct Display {
    name: String,
    _xvfb: Running,
}

/// Whether display `n` is in use: its lock file names a running process (an X server killed
/// without its cleanup leaves a lock behind, which Xvfb takes over), or, with no lock, its
/// socket is there.
fn display_taken(n: u32) -> bool {
    match std::fs::read_to_string(format!("/tmp/.X{n}-lock")) {
        Ok(lock) => {
            let pid = lock.trim();
            !pid.is_empty() && Path::new(&format!("/proc/{pid}")).exists()
        }
        Err(_) => Path::new(&format!("/tmp/.X11-unix/X{n}")).exists(),
    }
}

/// Starts Xvfb on the first free display from `:151`.
fn xvfb() -> Result<Display> {
    let n = (151..200)
        .find(|&n| !display_taken(n))
        .context("no free X display")?;
    // What a dead X server left: its socket would pass for the new server's before it listens.
    let socket = format!("/tmp/.X11-unix/X{n}");
    let _ = std::fs::remove_file(&socket);
    let _ = std::fs::remove_file(format!("/tmp/.X{n}-lock"));
    let xvfb = Command::new("Xvfb")
        .args([&format!(":{n}"), "-screen", "0", SCREEN, "-nolisten", "tcp"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .context("Xvfb (apt-get install xvfb)")?;
    let xvfb = Running(xvfb);
    wait_for("Xvfb", Duration::from_secs(10), || {
        Path::new(&socket).exists()
    })?;
    Ok(Display {
        name: format!(":{n}"),
        _xvfb: xvfb,
    })
}

/// Polls `ready` every 50 ms for at most `limit`.
fn wait_for(what: &str, limit: Duration, mut ready: impl FnMut() -> bool) -> Result<()> {
    let deadline = Instant::now() + limit;
    while !ready() {
        if Instant::now() > deadline {
            bail!("timed out waiting for {what}");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    Ok(())
}

/// The real app on `display`, with a fresh settings directory `home`.
fn charla(display: &Display, home: &Path, args: &[&str]) -> Result<Running> {
    let child = Command::new(env!("CARGO_BIN_EXE_charla"))
        .args(args)
        .env_remove("WAYLAND_DISPLAY")
        .env("DISPLAY", &display.name)
        .env("XDG_CONFIG_HOME", home)
        .env("LIBGL_ALWAYS_SOFTWARE", "1")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .context("the charla binary")?;
    Ok(Running(child))
}

/// Takes screenshots of `display` until two in a row are the same and not blank (the window
/// has drawn what it had to), at most 40 s; keeps the last at `path`.
fn shoot(display: &Display, path: &Path) -> Result<()> {
    let take = || -> Result<Vec<u8>> {
        let status = Command::new("import")
            .args(["-display", &display.name, "-window", "root"])
            .arg(path)
            .stderr(Stdio::null())
            .status()
            .context("import (apt-get install imagemagick)")?;
        if !status.success() {
            bail!("import failed");
        }
        Ok(std::fs::read(path)?)
    };
    let colours = |path: &Path| -> usize {
        Command::new("identify")
            .args(["-format", "%k"])
            .arg(path)
            .output()
            .ok()
            .and_then(|o| String::from_utf8_lossy(&o.stdout).trim().parse().ok())
            .unwrap_or(0)
    };
    let deadline = Instant::now() + Duration::from_secs(40);
    let mut last = Vec::new();
    loop {
        // The window repaints on its own time: look again in a while, as a person would.
        std::thread::sleep(Duration::from_millis(700));
        let shot = take()?;
        if shot == last && colours(path) > 16 {
            return Ok(());
        }
        if Instant::now() > deadline {
            bail!("the window did not settle in 40 s");
        }
        last = shot;
    }
}

/// A port free on 127.0.0.1 now.
fn free_port() -> Result<u16> {
    Ok(TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

/// Someone in `#charla` with client tags and their own messages echoed (with their msgid).
async fn person(addr: SocketAddr, nick: &str) -> Result<TestClient> {
    let mut c = TestClient::connect(addr).await?;
    c.send(&format!(
        "CAP REQ :message-tags echo-message server-time\r\nNICK {nick}\r\nUSER {nick} 0 * :{nick}\r\nCAP END"
    ))
    .await?;
    c.expect(|l| l.contains(" 001 ")).await?;
    c.send("JOIN #charla").await?;
    c.expect(|l| l.contains(" JOIN #charla")).await?;
    Ok(c)
}

/// Says `text` in `#charla` (with `tags`) and gives back the message's msgid.
async fn say(c: &mut TestClient, tags: &str, text: &str) -> Result<String> {
    let tags = if tags.is_empty() {
        String::new()
    } else {
        format!("@{tags} ")
    };
    c.send(&format!("{tags}PRIVMSG #charla :{text}")).await?;
    let echo = c
        .expect(|l| l.contains(&format!("PRIVMSG #charla :{text}")))
        .await?;
    echo.split(';')
        .chain(echo.split(' ').take(1))
        .find_map(|t| t.trim_start_matches('@').strip_prefix("msgid="))
        .map(|m| m.split(' ').next().unwrap_or(m).to_owned())
        .context("no msgid")
}

#[test]
fn screenshots_of_the_chat_and_the_host_console() -> Result<()> {
    let Some(dir) = std::env::var_os(DIR) else {
        eprintln!("skipped: set {DIR}=docs/screenshots to make the README's screenshots");
        return Ok(());
    };
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .join(dir);
    std::fs::create_dir_all(&dir)?;
    let homes = tempfile_dir()?;
    let port = free_port()?;
    let addr: SocketAddr = ([127, 0, 0, 1], port).into();

    // The host: `charla --host`, its own chat joining #charla by itself.
    let host_display = xvfb()?;
    let port_text = port.to_string();
    let _host = charla(
        &host_display,
        &homes.join("host"),
        &["--host", &port_text, "--nick", "Ñandú"],
    )?;
    wait_for("the hosted server", Duration::from_secs(60), || {
        TcpStream::connect(addr).is_ok()
    })?;

    let rt = runtime()?;
    let mut bob = rt.block_on(person(addr, "bob"))?;
    let mut carla = rt.block_on(person(addr, "carla"))?;
    let mut dani = rt.block_on(person(addr, "dani"))?;

    // A second app, in #charla as ana.
    let chat_display = xvfb()?;
    let link = format!("irc://127.0.0.1:{port}/#charla");
    let _chat = charla(
        &chat_display,
        &homes.join("chat"),
        &[&link, "--nick", "ana"],
    )?;
    // A second app starting under Xvfb (software OpenGL) while the first draws: once in a
    // CI run it took more than the 15 s of a line's wait.
    rt.block_on(bob.expect_within(Duration::from_secs(60), |l| {
        l.contains(":ana!") && l.contains(" JOIN #charla")
    }))?;

    rt.block_on(async {
        let asado = say(
            &mut bob,
            "",
            "¡Buenas! ¿Quién viene al asado del sábado? 🔥",
        )
        .await?;
        say(
            &mut carla,
            &format!("+draft/reply={asado}"),
            "Yo llevo la ensalada 🥗",
        )
        .await?;
        for (who, emoji) in [(&mut carla, "👍"), (&mut dani, "👍"), (&mut bob, "🎉")] {
            who.send(&format!(
                "@+draft/reply={asado};+draft/react={emoji} TAGMSG #charla"
            ))
            .await?;
        }
        say(
            &mut dani,
            "",
            "\x02Importante\x02: alguien traiga \x0304carbón\x03, ¡el ñandú no cuenta! 😄",
        )
        .await?;
        say(&mut dani, "", "\x01ACTION pone la música 🎶\x01").await?;
        say(&mut bob, "", "Fotos del último: https://example.org/asado").await?;
        anyhow::Ok(())
    })?;

    shoot(&chat_display, &dir.join("chat.png"))?;
    shoot(&host_display, &dir.join("host-console.png"))?;
    std::fs::remove_dir_all(&homes).ok();
    Ok(())
}

/// A fresh directory for the apps' settings (removed at the end).
fn tempfile_dir() -> Result<PathBuf> {
    let dir = std::env::temp_dir().join(format!("charla-screenshots-{}", std::process::id()));
    std::fs::create_dir_all(dir.join("host"))?;
    std::fs::create_dir_all(dir.join("chat"))?;
    Ok(dir)
}
