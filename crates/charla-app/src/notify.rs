//! Desktop notifications on mentions and private messages, through the freedesktop
//! notification service (D-Bus, via notify-rust). Sent from a short-lived thread: the D-Bus
//! call may block, and the UI thread must not.

use charla_client::Notification;
// A notification is plain text: formatting codes would show as boxes.
use charla_proto::formatting::strip;

/// Shows `notification` on the desktop, unless the app has notifications off. Failures (no
/// notification service, as under Xvfb) are logged, never shown as errors: the window still
/// counts the mention.
pub fn show(server: &str, notification: &Notification) {
    let (summary, body) = match notification {
        Notification::Mention { buffer, nick, text } => (
            format!("{nick} in {} ({server})", buffer.name()),
            strip(text).into_owned(),
        ),
        Notification::Private { nick, text } => {
            (format!("{nick} ({server})"), strip(text).into_owned())
        }
    };
    let spawned = std::thread::Builder::new()
        .name("charla-notify".to_owned())
        .spawn(move || {
            let result = notify_rust::Notification::new()
                .appname("Charla")
                .summary(&summary)
                .body(&body)
                .show();
            if let Err(e) = result {
                tracing::debug!(error = %e, "desktop notification failed");
            }
        });
    if let Err(e) = spawned {
        tracing::debug!(error = %e, "cannot start the notification thread");
    }
}
