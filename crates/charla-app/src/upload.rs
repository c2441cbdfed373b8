//! Sending files: the 📎 button by the input line, files dropped onto the window and images
//! pasted from the clipboard are uploaded to the server's file host (soju's FILEHOST extension:
//! ISUPPORT `soju.im/FILEHOST=<url>`, an HTTP `POST` with the account's credentials, answered
//! `201 Created` and a `Location`), and the link is then sent into the conversation.
//!
//! - [`Uploads`]: one session's uploads in flight, the last error, and the "Send a file" box.
//! - [`Upload`]: one upload on a thread of its own; its progress is counted as the body is
//!   read ([`Counted`]) and a cancel makes the next read fail, which aborts the request.
//! - [`run`]: the request itself, streamed from disk (a big file never sits in memory), and
//!   its answer in plain words ([`UploadError`]).
//! - [`bar`], [`button`], [`take_input`]: the UI pieces the chat view calls; [`deliver`]: the
//!   links of finished uploads, sent as each session drains its events.
//!
//! Credentials are the account and password the session logged in with (SASL): the file host
//! knows people by their account, and Basic authentication is only accepted over HTTPS or from
//! this machine, so the password travels no less safely than on the IRC connection.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc::{Receiver, TryRecvError, channel};
use std::time::Duration;

use base64::Engine as _;
use charla_client::{BufferId, Command};
use egui::{ColorImage, Ui};

use crate::session::Session;
use crate::theme;

/// How long connecting to the file host may take (the upload itself may take as long as the
/// file needs).
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// How long without a byte of the answer before giving up.
const ANSWER_TIMEOUT: Duration = Duration::from_secs(60);
/// The name given to an image pasted from the clipboard.
pub const PASTED_NAME: &str = "pasted image.png";

/// Why an upload did not give a link, in words for the user.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum UploadError {
    /// 401: the file host did not take the account's password.
    #[error("the file host did not accept your account's password")]
    WrongPassword,
    /// 413: over the size limit or the account's quota.
    #[error("the file is too big for this server, or your space on it is full")]
    TooBig,
    /// The user pressed Cancel.
    #[error("cancelled")]
    Cancelled,
    /// Another answer than the ones above.
    #[error("the file host refused it (HTTP {0})")]
    Refused(u16),
    /// A 201 without a `Location`.
    #[error("the file host gave no link for it")]
    NoLink,
    /// The file could not be read.
    #[error("could not read the file: {0}")]
    File(String),
    /// The connection failed.
    #[error("could not reach the file host: {0}")]
    Network(String),
}

/// What to upload.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    /// A file on disk, streamed.
    File(PathBuf),
    /// Bytes already in memory (a pasted image), with the name to give them.
    Bytes {
        /// The file name the host records.
        name: String,
        /// The content.
        bytes: Vec<u8>,
    },
}

impl Source {
    /// The name the file host is told (the file's own name for a file).
    pub fn name(&self) -> String {
        match self {
            Source::File(path) => path
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_else(|| "file".to_owned()),
            Source::Bytes { name, .. } => name.clone(),
        }
    }
}

/// The account and password to upload with.
#[derive(Clone, PartialEq, Eq)]
pub struct Credentials {
    /// The account name.
    pub account: String,
    /// Its password.
    pub password: String,
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Credentials")
            .field("account", &self.account)
            .finish_non_exhaustive()
    }
}

impl Credentials {
    /// The session's, if it logged in to an account with a password (not a certificate: the
    /// file host asks for a password).
    pub fn of(session: &Session) -> Option<Credentials> {
        session.state.account.as_ref()?;
        let sasl = session.config.sasl.as_ref()?;
        (!sasl.account.is_empty() && !sasl.password.is_empty()).then(|| Credentials {
            account: sasl.account.clone(),
            password: sasl.password.clone(),
        })
    }

    fn basic(&self) -> String {
        let pair = format!("{}:{}", self.account, self.password);
        format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD.encode(pair)
        )
    }
}

/// A reader that counts what went through it into `sent` and fails once `cancel` is set: the
/// HTTP client then stops sending and drops the connection.
pub struct Counted<R> {
    inner: R,
    sent: Arc<AtomicU64>,
    cancel: Arc<AtomicBool>,
}

impl<R: Read> Counted<R> {
    /// Wraps `inner`.
    pub fn new(inner: R, sent: Arc<AtomicU64>, cancel: Arc<AtomicBool>) -> Self {
        Counted {
            inner,
            sent,
            cancel,
        }
    }
}

impl<R: Read> Read for Counted<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        if self.cancel.load(Ordering::Relaxed) {
            return Err(std::io::Error::other("cancelled"));
        }
        let n = self.inner.read(buf)?;
        self.sent.fetch_add(n as u64, Ordering::Relaxed);
        Ok(n)
    }
}

/// `Content-Disposition` for `name`: an ASCII `filename` for old servers and the exact name
/// in `filename*` (RFC 6266 section 4.3, RFC 8187), so "foto de la playa ñ.png" arrives whole.
pub fn disposition(name: &str) -> String {
    let ascii: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_graphic() && c != '"' && c != '\\' || c == ' ' {
                c
            } else {
                '_'
            }
        })
        .collect();
    let mut encoded = String::with_capacity(name.len() * 3);
    for byte in name.bytes() {
        // RFC 8187 attr-char: letters, digits and a few marks go as they are.
        if byte.is_ascii_alphanumeric() || b"!#$&+-.^_`|~".contains(&byte) {
            encoded.push(byte as char);
        } else {
            encoded.push_str(&format!("%{byte:02X}"));
        }
    }
    format!("attachment; filename=\"{ascii}\"; filename*=UTF-8''{encoded}")
}

/// Uploads `source` to `url` with `credentials`, counting into `sent`, stopping when `cancel`
/// is set. Returns the file's link.
pub fn run(
    url: &str,
    credentials: &Credentials,
    source: Source,
    sent: Arc<AtomicU64>,
    cancel: Arc<AtomicBool>,
) -> Result<String, UploadError> {
    let name = source.name();
    let (reader, length): (Box<dyn Read>, u64) = match source {
        Source::File(path) => {
            let file = std::fs::File::open(&path).map_err(|e| UploadError::File(e.to_string()))?;
            let length = file
                .metadata()
                .map_err(|e| UploadError::File(e.to_string()))?
                .len();
            (Box::new(file), length)
        }
        Source::Bytes { bytes, .. } => {
            let length = bytes.len() as u64;
            (Box::new(std::io::Cursor::new(bytes)), length)
        }
    };
    let mut body = Counted::new(reader, sent, cancel.clone());
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_connect(Some(CONNECT_TIMEOUT))
        .timeout_recv_response(Some(ANSWER_TIMEOUT))
        .build()
        .into();
    let answer = agent
        .post(url)
        .header("Authorization", credentials.basic())
        .header("Content-Disposition", disposition(&name))
        .header("Content-Type", "application/octet-stream")
        // The length lets the host refuse a file over its limit before it is sent, and
        // `Expect` makes the client wait for that answer instead of sending the file anyway.
        .header("Content-Length", length.to_string())
        .header("Expect", "100-continue")
        .send(ureq::SendBody::from_reader(&mut body));
    let response = match answer {
        Ok(response) => response,
        Err(_) if cancel.load(Ordering::Relaxed) => return Err(UploadError::Cancelled),
        Err(e) => return Err(UploadError::Network(e.to_string())),
    };
    match response.status().as_u16() {
        201 => response
            .headers()
            .get("location")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
            .ok_or(UploadError::NoLink),
        401 => Err(UploadError::WrongPassword),
        413 => Err(UploadError::TooBig),
        status => Err(UploadError::Refused(status)),
    }
}

/// One upload in flight.
#[derive(Debug)]
pub struct Upload {
    /// The file's name.
    pub name: String,
    /// Its size in bytes.
    pub total: u64,
    /// The conversation its link goes to.
    pub buffer: BufferId,
    sent: Arc<AtomicU64>,
    cancel: Arc<AtomicBool>,
    done: Receiver<Result<String, UploadError>>,
}

impl Upload {
    /// How much has been sent, from 0 to 1.
    pub fn progress(&self) -> f32 {
        let sent = self.sent.load(Ordering::Relaxed);
        if self.total == 0 {
            0.0
        } else {
            (sent as f64 / self.total as f64).min(1.0) as f32
        }
    }

    /// Asks the upload to stop (it ends at its next read).
    pub fn cancel(&self) {
        self.cancel.store(true, Ordering::Relaxed);
    }
}

/// One session's uploads.
#[derive(Debug, Default)]
pub struct Uploads {
    /// The uploads in flight, oldest first.
    pub running: Vec<Upload>,
    /// The last upload's problem, shown above the input until dismissed.
    pub error: Option<String>,
    /// The "Send a file" box: the path typed, while it is open.
    pub picker: Option<String>,
}

impl Uploads {
    /// Starts uploading `source` to `url`; its link goes to `buffer` when done. `ctx` is
    /// repainted as it goes, so the bar moves.
    pub fn start(
        &mut self,
        ctx: &egui::Context,
        url: String,
        credentials: Credentials,
        source: Source,
        buffer: BufferId,
    ) {
        let total = match &source {
            Source::File(path) => std::fs::metadata(path).map(|m| m.len()).unwrap_or(0),
            Source::Bytes { bytes, .. } => bytes.len() as u64,
        };
        let (sent, cancel) = (
            Arc::new(AtomicU64::new(0)),
            Arc::new(AtomicBool::new(false)),
        );
        let (tx, done) = channel();
        let name = source.name();
        let (thread_sent, thread_cancel, ctx) = (sent.clone(), cancel.clone(), ctx.clone());
        std::thread::spawn(move || {
            let result = run(&url, &credentials, source, thread_sent, thread_cancel);
            if let Err(error) = &result {
                tracing::info!(%error, "an upload did not finish");
            }
            // The app may be gone by now: no one to tell.
            let _ = tx.send(result);
            ctx.request_repaint();
        });
        self.error = None;
        self.running.push(Upload {
            name,
            total,
            buffer,
            sent,
            cancel,
            done,
        });
    }

    /// Takes the uploads that ended: the links to send, with their conversations; an error
    /// is kept to show (a cancel is no error).
    pub fn finished(&mut self) -> Vec<(BufferId, String)> {
        let mut links = Vec::new();
        let mut error = None;
        self.running.retain(|upload| match upload.done.try_recv() {
            Ok(Ok(url)) => {
                links.push((upload.buffer.clone(), url));
                false
            }
            Ok(Err(UploadError::Cancelled)) => false,
            Ok(Err(e)) => {
                error = Some(format!("“{}” was not sent: {e}.", upload.name));
                false
            }
            Err(TryRecvError::Empty) => true,
            Err(TryRecvError::Disconnected) => false,
        });
        if error.is_some() {
            self.error = error;
        }
        links
    }
}

/// Whether the password may go to `url`: over HTTPS, or plain HTTP to this machine (which is
/// also all the file host accepts); anything else would send it in the clear.
pub fn safe_for_password(url: &str) -> bool {
    let Some(rest) = url.strip_prefix("http://") else {
        return url.starts_with("https://");
    };
    let authority = rest.split(['/', '?', '#']).next().unwrap_or("");
    let host = match authority.strip_prefix('[') {
        Some(v6) => v6.split(']').next().unwrap_or(""),
        None => authority.split(':').next().unwrap_or(""),
    };
    host.eq_ignore_ascii_case("localhost")
        || host
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

/// Why files cannot be sent from this conversation now, in words for a tooltip; `None` when
/// they can.
pub fn unavailable(session: &Session, id: &BufferId) -> Option<&'static str> {
    let filehost = session.state.isupport.filehost.as_deref();
    if filehost.is_none() {
        Some("This server does not host files.")
    } else if !filehost.is_some_and(safe_for_password) {
        Some("This server's file host is not on HTTPS: your password would travel unprotected.")
    } else if Credentials::of(session).is_none() {
        Some("Log in to an account with a password to send files.")
    } else if id.target().is_none() {
        Some("Open a channel or a private conversation to send files there.")
    } else {
        None
    }
}

/// Starts uploading `source` into conversation `id`, or says why it cannot.
pub fn send(ctx: &egui::Context, session: &mut Session, id: &BufferId, source: Source) {
    if let Some(why) = unavailable(session, id) {
        session.uploads.error = Some(format!("“{}” was not sent: {why}", source.name()));
        return;
    }
    let (Some(url), Some(credentials)) = (
        session.state.isupport.filehost.clone(),
        Credentials::of(session),
    ) else {
        return;
    };
    session
        .uploads
        .start(ctx, url, credentials, source, id.clone());
}

/// A pasted image as PNG bytes.
pub fn png_of(image: &ColorImage) -> Result<Vec<u8>, String> {
    let [width, height] = image.size;
    let rgba: Vec<u8> = image.pixels.iter().flat_map(|c| c.to_array()).collect();
    let buffer = image::RgbaImage::from_raw(width as u32, height as u32, rgba)
        .ok_or("the pasted image has no pixels")?;
    let mut png = Vec::new();
    buffer
        .write_to(&mut std::io::Cursor::new(&mut png), image::ImageFormat::Png)
        .map_err(|e| e.to_string())?;
    Ok(png)
}

/// What this frame brought to upload: files dropped onto the window and images pasted.
pub fn sources_in(input: &egui::InputState) -> Vec<Source> {
    let dropped = input
        .raw
        .dropped_files
        .iter()
        .map(|file| Source::File(file.path().to_owned()));
    let pasted = input.events.iter().filter_map(|event| match event {
        egui::Event::PasteImage(image) => match png_of(image) {
            Ok(bytes) => Some(Source::Bytes {
                name: PASTED_NAME.to_owned(),
                bytes,
            }),
            Err(error) => {
                tracing::info!(%error, "a pasted image could not be encoded");
                None
            }
        },
        _ => None,
    });
    dropped.chain(pasted).collect()
}

/// Sends the links of the uploads that finished (each frame, for every session: one not on
/// screen still delivers its links).
pub fn deliver(session: &mut Session) {
    for (buffer, url) in session.uploads.finished() {
        session.send(Command::Input { buffer, text: url });
    }
}

/// Uploads what was dropped or pasted this frame into conversation `id`, on screen.
pub fn take_input(ui: &Ui, session: &mut Session, id: &BufferId) {
    for source in ui.input(sources_in) {
        send(ui.ctx(), session, id, source);
    }
    if !session.uploads.running.is_empty() {
        // The progress is read from the threads' counters: look again soon.
        ui.ctx().request_repaint_after(Duration::from_millis(100));
    }
}

/// The uploads in flight (a bar and Cancel each), the last error, and the "Send a file" box,
/// above the input line; while files are dragged over the window, where they will go.
pub fn bar(ui: &mut Ui, session: &mut Session, id: &BufferId) {
    if ui.input(|i| !i.raw.hovered_files.is_empty()) {
        let words = match (unavailable(session, id), id.target()) {
            (None, Some(target)) => format!("📎 Drop to send to {target}"),
            (Some(why), _) => format!("📎 {why}"),
            (None, None) => String::new(),
        };
        ui.strong(words);
    }
    for upload in &session.uploads.running {
        ui.horizontal(|ui| {
            ui.label(format!("📎 {}", upload.name));
            if ui.button("Cancel").clicked() {
                upload.cancel();
            }
            ui.add(
                egui::ProgressBar::new(upload.progress())
                    .show_percentage()
                    .desired_width(ui.available_width()),
            );
        });
    }
    if let Some(error) = &session.uploads.error {
        let mut dismiss = false;
        ui.horizontal(|ui| {
            ui.colored_label(theme::DANGER, error);
            dismiss = ui.small_button("✖").on_hover_text("Dismiss").clicked();
        });
        if dismiss {
            session.uploads.error = None;
        }
    }
    let mut chosen = None;
    if let Some(path) = &mut session.uploads.picker {
        ui.horizontal(|ui| {
            ui.label("File to send:");
            let field = ui.add(
                egui::TextEdit::singleline(path)
                    .hint_text("/home/you/photo.png")
                    .desired_width(ui.available_width() - 140.0),
            );
            let field = field.accessible_name("File to send");
            let enter = field.lost_focus() && ui.input(|i| i.key_pressed(egui::Key::Enter));
            if (ui.button("Upload").clicked() || enter) && !path.trim().is_empty() {
                chosen = Some(PathBuf::from(path.trim()));
            }
            if ui.button("Close").clicked() {
                chosen = Some(PathBuf::new());
            }
        });
    }
    if let Some(path) = chosen {
        session.uploads.picker = None;
        if path != Path::new("") {
            send(ui.ctx(), session, id, Source::File(path));
        }
    }
}

/// The 📎 button: opens the "Send a file" box; disabled, with the reason on hover, where
/// files cannot be sent (`why`, from [`unavailable`]).
pub fn button(ui: &mut Ui, why: Option<&str>, uploads: &mut Uploads) {
    let response = ui
        .add_enabled(why.is_none(), egui::Button::new("📎"))
        .accessible_name("Send a file");
    let response = match why {
        Some(why) => response.on_disabled_hover_text(why),
        None => {
            response.on_hover_text("Send a file (or drop files onto the window, or paste an image)")
        }
    };
    if response.clicked() {
        let picker = &mut uploads.picker;
        *picker = if picker.is_some() {
            None
        } else {
            Some(String::new())
        };
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_unicode_name_goes_whole_in_filename_star_and_as_ascii_in_filename() {
        assert_eq!(
            disposition("foto de la playa ñ.png"),
            "attachment; filename=\"foto de la playa _.png\"; \
             filename*=UTF-8''foto%20de%20la%20playa%20%C3%B1.png"
        );
        assert_eq!(
            disposition("a\"b\\c.txt"),
            "attachment; filename=\"a_b_c.txt\"; filename*=UTF-8''a%22b%5Cc.txt"
        );
    }

    #[test]
    fn the_password_goes_over_https_or_to_this_machine_only() {
        assert!(safe_for_password("https://chat.example.org:8443/upload"));
        assert!(safe_for_password("http://127.0.0.1:8080/upload"));
        assert!(safe_for_password("http://[::1]:8080/upload"));
        assert!(safe_for_password("http://localhost/upload"));
        assert!(!safe_for_password("http://chat.example.org/upload"));
        assert!(!safe_for_password("http://127.0.0.1.example.org/upload"));
        assert!(!safe_for_password("ftp://127.0.0.1/upload"));
    }

    #[test]
    fn the_counting_reader_counts_and_stops_on_cancel() {
        let (sent, cancel) = (
            Arc::new(AtomicU64::new(0)),
            Arc::new(AtomicBool::new(false)),
        );
        let mut reader = Counted::new(&b"hola mundo"[..], sent.clone(), cancel.clone());
        let mut buf = [0u8; 4];
        assert_eq!(reader.read(&mut buf).ok(), Some(4));
        assert_eq!(sent.load(Ordering::Relaxed), 4);
        cancel.store(true, Ordering::Relaxed);
        assert!(reader.read(&mut buf).is_err());
        assert_eq!(sent.load(Ordering::Relaxed), 4);
    }

    #[test]
    fn a_pasted_image_becomes_a_png_and_a_drop_a_file() {
        let image = ColorImage::new([3, 2], vec![egui::Color32::RED; 6]);
        let png = png_of(&image).expect("png");
        let back = image::load_from_memory(&png).expect("decodes").to_rgba8();
        assert_eq!((back.width(), back.height()), (3, 2));
        assert_eq!(back.get_pixel(0, 0).0, [255, 0, 0, 255]);

        let mut input = egui::RawInput::default();
        input
            .events
            .push(egui::Event::PasteImage(Arc::new(image.clone())));
        let ctx = egui::Context::default();
        // The frame's font atlas is not drawn anywhere: drop it on purpose.
        ctx.run_ui(input, |_| {}).textures_delta.clear();
        let sources = ctx.input(sources_in);
        assert_eq!(sources.len(), 1);
        assert!(matches!(&sources[0], Source::Bytes { name, .. } if name == PASTED_NAME));
        assert_eq!(
            Source::File(PathBuf::from("/tmp/foto de la playa ñ.png")).name(),
            "foto de la playa ñ.png"
        );
    }
}
