//! Desktop notifications over a real D-Bus session bus: a private bus is started
//! (`dbus-run-session`), a stand-in notification service on it records
//! `org.freedesktop.Notifications.Notify` calls, and a private message to the app arrives there
//! with its sender and text.
//!
//! The app's notifier (notify-rust over zbus) finds the bus through
//! `DBUS_SESSION_BUS_ADDRESS`, which a test may not set in its own process (the workspace
//! forbids `unsafe`, and `set_var` is unsafe): so the outer test runs this same test binary
//! again, only the inner test, under `dbus-run-session`, which sets it.

mod common;

use std::collections::HashMap;
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{Context as _, Result, bail};
use charla_app::AppOptions;
use common::{TestClient, app, connect, runtime, say, server, shows, step_until};

/// Set (by the outer test) in the inner test's environment.
const INNER: &str = "CHARLA_TEST_INSIDE_DBUS_SESSION";

/// The longest the inner run may take.
const INNER_LIMIT: Duration = Duration::from_secs(90);

/// One `Notify` call: app name, summary, body.
type Call = (String, String, String);

/// The stand-in notification service: records what it is asked to show.
struct Recorder {
    calls: Arc<Mutex<Vec<Call>>>,
}

#[zbus::interface(name = "org.freedesktop.Notifications")]
impl Recorder {
    /// <https://specifications.freedesktop.org/notification-spec/latest/protocol.html>
    #[allow(clippy::too_many_arguments, reason = "the method as the spec has it")]
    fn notify(
        &self,
        app_name: String,
        _replaces_id: u32,
        _app_icon: String,
        summary: String,
        body: String,
        _actions: Vec<String>,
        _hints: HashMap<String, zbus::zvariant::OwnedValue>,
        _expire_timeout: i32,
    ) -> u32 {
        let mut calls = self.calls.lock().unwrap_or_else(|e| e.into_inner());
        calls.push((app_name, summary, body));
        u32::try_from(calls.len()).unwrap_or(u32::MAX)
    }

    fn get_capabilities(&self) -> Vec<String> {
        vec!["body".to_owned()]
    }

    fn get_server_information(&self) -> (String, String, String, String) {
        (
            "charla-test".to_owned(),
            "charla".to_owned(),
            "0".to_owned(),
            "1.2".to_owned(),
        )
    }

    fn close_notification(&self, _id: u32) {}
}

#[test]
fn a_private_message_notifies_the_desktop_over_a_real_session_bus() -> Result<()> {
    if std::env::var_os(INNER).is_some() {
        // Already inside: the inner test does the work.
        return Ok(());
    }
    let runs = Command::new("dbus-run-session")
        .args(["--", "true"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if !runs {
        eprintln!(
            "skipped: dbus-run-session cannot start a session bus here \
             (apt-get install dbus-daemon; .ci/run does)"
        );
        return Ok(());
    }
    let mut child = Command::new("dbus-run-session")
        .arg("--")
        .arg(std::env::current_exe()?)
        .args(["--exact", "inner_notification_arrives", "--test-threads=1"])
        .env(INNER, "1")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .context("dbus-run-session")?;
    let deadline = Instant::now() + INNER_LIMIT;
    let status = loop {
        if let Some(status) = child.try_wait()? {
            break status;
        }
        if Instant::now() > deadline {
            child.kill()?;
            child.wait()?;
            bail!("the test inside the session bus took longer than {INNER_LIMIT:?}");
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let output = child.wait_with_output()?;
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        status.success() && stdout.contains("1 passed"),
        "inside the session bus:\n{stdout}\n{stderr}"
    );
    Ok(())
}

/// Run by the test above inside `dbus-run-session`; passes at once elsewhere.
#[test]
fn inner_notification_arrives() -> Result<()> {
    if std::env::var_os(INNER).is_none() {
        return Ok(());
    }
    let calls: Arc<Mutex<Vec<Call>>> = Arc::default();
    let recorder = Recorder {
        calls: calls.clone(),
    };
    let _service = zbus::blocking::connection::Builder::session()?
        .name("org.freedesktop.Notifications")?
        .serve_at("/org/freedesktop/Notifications", recorder)?
        .build()
        .context("the stand-in notification service")?;

    let rt = runtime()?;
    let (_server, addr) = server(&rt)?;
    let options = AppOptions {
        notifications: true,
        ..AppOptions::ephemeral()
    };
    let mut h = app(&rt, options);
    connect(&mut h, addr, "Ñandú")?;
    say(&mut h, "/join #charla");
    step_until(&mut h, "in #charla", |h| shows(h, "@Ñandú"))?;
    let mut bob = rt.block_on(TestClient::register(addr, "bob"))?;
    rt.block_on(bob.send("PRIVMSG Ñandú :¿Venís al asado, \x02Ñandú\x02?"))?;
    step_until(&mut h, "the notification", |_| {
        !calls.lock().unwrap_or_else(|e| e.into_inner()).is_empty()
    })?;
    let calls = calls.lock().unwrap_or_else(|e| e.into_inner()).clone();
    let (app_name, summary, body) = &calls[0];
    assert_eq!(app_name, "Charla");
    assert!(summary.starts_with("bob"), "the sender: {summary:?}");
    assert_eq!(
        body, "¿Venís al asado, Ñandú?",
        "the text, without formatting"
    );
    Ok(())
}
