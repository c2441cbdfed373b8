//! Link previews under chat lines: an image on the server's own file host (the origin of its
//! `soju.im/FILEHOST` URL) is shown as its thumbnail (`?thumb`), and a click opens it whole in
//! a viewer window; any other file there shows as a chip with its name, size and type (from a
//! `HEAD` request).
//!
//! Privacy as for avatars ([`crate::avatars`]): fetching tells a site your address and when you
//! read the chat, so links to other sites are previewed only when the user allows pictures
//! from other sites (the "🖼 Pictures" switch), and then only over HTTPS and only if they are
//! PNG or JPEG pictures. Everything is fetched on threads of its own, a few at a time, each
//! within a size and time limit; a link that fails is not asked for again in this run.

use std::collections::HashMap;
use std::sync::mpsc::{Receiver, Sender, channel};
use std::time::Duration;

use charla_client::{Line, LineKind};
use egui::{ColorImage, TextureHandle, TextureOptions, Ui};

use crate::links::{self, Span};
use crate::theme;

/// The box a thumbnail is shown within (points).
const THUMB_BOX: egui::Vec2 = egui::vec2(240.0, 160.0);
/// The largest side of a picture decoded for previews from other sites (pixels).
const THUMB_SIDE: u32 = 480;
/// The largest side of a picture in the viewer (pixels): bigger ones are shrunk to save memory.
const FULL_SIDE: u32 = 2048;
/// The most bytes read for a thumbnail or a picture of another site.
const MAX_THUMB_BYTES: u64 = 4 * 1024 * 1024;
/// The most bytes read of a picture for the viewer.
const MAX_FULL_BYTES: u64 = 32 * 1024 * 1024;
/// How long one fetch may take.
const TIMEOUT: Duration = Duration::from_secs(20);
/// Fetches running at once.
const MAX_RUNNING: usize = 4;
/// Previews kept (loaded or failed); past that, new ones are not fetched.
const MAX_KEPT: usize = 500;

/// Whose link it is, and so what may be fetched for it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Origin {
    /// The server's own file host: thumbnails and file chips.
    FileHost,
    /// Another site the user allowed: PNG and JPEG pictures only.
    Elsewhere,
}

/// `scheme://authority` of an `http(s)` URL, lower-cased.
fn origin_of(url: &str) -> Option<String> {
    let (scheme, rest) = url.split_once("://")?;
    if !scheme.eq_ignore_ascii_case("http") && !scheme.eq_ignore_ascii_case("https") {
        return None;
    }
    let authority = rest.split(['/', '?', '#']).next()?;
    (!authority.is_empty() && !authority.contains('@'))
        .then(|| format!("{scheme}://{authority}").to_ascii_lowercase())
}

/// Whether `url` may be previewed, and how: links on the file host at `filehost` (the
/// FILEHOST upload URL) always; others only over HTTPS when `other_sites` is on.
pub fn classify(url: &str, filehost: Option<&str>, other_sites: bool) -> Option<Origin> {
    let origin = origin_of(url)?;
    if filehost
        .and_then(origin_of)
        .is_some_and(|own| own == origin)
    {
        let path = &url[origin.len()..];
        return path.starts_with("/files/").then_some(Origin::FileHost);
    }
    (other_sites && origin.starts_with("https://")).then_some(Origin::Elsewhere)
}

/// A file's name from the last segment of its URL, percent-decoded.
pub fn name_of(url: &str) -> String {
    let path = url.split(['?', '#']).next().unwrap_or(url);
    let last = path.rsplit('/').next().unwrap_or(path);
    let bytes = last.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = bytes
            .get(i + 1..i + 3)
            .and_then(|h| std::str::from_utf8(h).ok())
            .and_then(|h| u8::from_str_radix(h, 16).ok());
        match (bytes[i], hex) {
            (b'%', Some(byte)) => {
                out.push(byte);
                i += 3;
            }
            (byte, _) => {
                out.push(byte);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// A size in words: "512 bytes", "12.5 KiB", "3.0 MiB".
pub fn size_words(bytes: u64) -> String {
    const KIB: f64 = 1024.0;
    let b = bytes as f64;
    if b < KIB {
        format!("{bytes} bytes")
    } else if b < KIB * KIB {
        format!("{:.1} KiB", b / KIB)
    } else if b < KIB * KIB * KIB {
        format!("{:.1} MiB", b / (KIB * KIB))
    } else {
        format!("{:.1} GiB", b / (KIB * KIB * KIB))
    }
}

/// What a fetch found.
enum Found {
    Picture(ColorImage),
    File { size: Option<u64>, kind: String },
    Nothing,
}

/// Where a preview is.
enum Entry {
    Loading,
    Picture(TextureHandle),
    File { size: Option<u64>, kind: String },
    Nothing,
}

/// What is fetched: a preview, or the whole picture for the viewer.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
enum Key {
    Preview(String),
    Full(String),
}

type Done = (Key, Result<Found, String>);

/// The previews of one connection.
pub struct Previews {
    /// Whether links to other sites may be previewed (the user's "🖼 Pictures" switch; the app
    /// sets it every frame).
    pub other_sites: bool,
    entries: HashMap<Key, Entry>,
    running: usize,
    /// The picture open in the viewer.
    viewing: Option<String>,
    done_tx: Sender<Done>,
    done_rx: Receiver<Done>,
}

impl Default for Previews {
    fn default() -> Self {
        let (done_tx, done_rx) = channel();
        Previews {
            other_sites: false,
            entries: HashMap::new(),
            running: 0,
            viewing: None,
            done_tx,
            done_rx,
        }
    }
}

impl std::fmt::Debug for Previews {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Previews")
            .field("kept", &self.entries.len())
            .field("running", &self.running)
            .finish_non_exhaustive()
    }
}

fn agent() -> ureq::Agent {
    ureq::Agent::config_builder()
        .timeout_global(Some(TIMEOUT))
        .build()
        .into()
}

/// `url` with `?thumb` (or `&thumb`) added.
fn thumb_url(url: &str) -> String {
    let sep = if url.contains('?') { '&' } else { '?' };
    format!("{url}{sep}thumb")
}

fn get_picture(url: &str, limit: u64, side: u32) -> Result<ColorImage, String> {
    let mut response = agent().get(url).call().map_err(|e| e.to_string())?;
    let bytes = response
        .body_mut()
        .with_config()
        .limit(limit)
        .read_to_vec()
        .map_err(|e| e.to_string())?;
    let picture = image::load_from_memory(&bytes)
        .map_err(|e| e.to_string())?
        .thumbnail(side, side)
        .to_rgba8();
    let size = [picture.width() as usize, picture.height() as usize];
    Ok(ColorImage::from_rgba_unmultiplied(size, picture.as_raw()))
}

/// Looks at `url` (on a thread of its own): its type first, then the picture if it is one.
fn fetch(key: &Key, origin: Origin) -> Result<Found, String> {
    let url = match key {
        Key::Full(url) => return get_picture(url, MAX_FULL_BYTES, FULL_SIDE).map(Found::Picture),
        Key::Preview(url) => url,
    };
    let head = agent().head(url).call().map_err(|e| e.to_string())?;
    let header = |name: &str| {
        head.headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
    };
    let kind = header("content-type")
        .map(|t| {
            t.split(';')
                .next()
                .unwrap_or("")
                .trim()
                .to_ascii_lowercase()
        })
        .unwrap_or_default();
    let size = header("content-length").and_then(|l| l.parse().ok());
    match origin {
        // The host makes a thumbnail of any picture it knows (a 404 otherwise).
        Origin::FileHost if kind.starts_with("image/") => {
            match get_picture(&thumb_url(url), MAX_THUMB_BYTES, THUMB_SIDE) {
                Ok(picture) => Ok(Found::Picture(picture)),
                Err(_) => Ok(Found::File { size, kind }),
            }
        }
        Origin::FileHost => Ok(Found::File { size, kind }),
        Origin::Elsewhere if kind == "image/png" || kind == "image/jpeg" => {
            get_picture(url, MAX_THUMB_BYTES, THUMB_SIDE).map(Found::Picture)
        }
        Origin::Elsewhere => Ok(Found::Nothing),
    }
}

impl Previews {
    /// Takes what arrived.
    fn collect(&mut self, ctx: &egui::Context) {
        while let Ok((key, result)) = self.done_rx.try_recv() {
            self.running = self.running.saturating_sub(1);
            let entry = match result {
                Ok(Found::Picture(picture)) => {
                    let name = match &key {
                        Key::Preview(url) => format!("preview {url}"),
                        Key::Full(url) => format!("picture {url}"),
                    };
                    Entry::Picture(ctx.load_texture(name, picture, TextureOptions::LINEAR))
                }
                Ok(Found::File { size, kind }) => Entry::File { size, kind },
                Ok(Found::Nothing) => Entry::Nothing,
                Err(error) => {
                    tracing::debug!(%error, "a link preview could not be fetched");
                    Entry::Nothing
                }
            };
            self.entries.insert(key, entry);
        }
    }

    /// The entry for `key`, starting its fetch if there is none yet (and room for it).
    fn get(&mut self, ctx: &egui::Context, key: Key, origin: Origin) -> Option<&Entry> {
        if !self.entries.contains_key(&key) {
            if self.running >= MAX_RUNNING || self.entries.len() >= MAX_KEPT {
                // Asked again on a later frame, once a fetch is done.
                return None;
            }
            self.entries.insert(key.clone(), Entry::Loading);
            self.running += 1;
            let (done, ctx, thread_key) = (self.done_tx.clone(), ctx.clone(), key.clone());
            std::thread::spawn(move || {
                let result = fetch(&thread_key, origin);
                // The app may be gone by now: no one to tell.
                let _ = done.send((thread_key, result));
                ctx.request_repaint();
            });
        }
        self.entries.get(&key)
    }

    /// Whether the preview of `url` is a picture, loaded.
    pub fn is_picture(&self, url: &str) -> bool {
        matches!(
            self.entries.get(&Key::Preview(url.to_owned())),
            Some(Entry::Picture(_))
        )
    }

    /// Whether the viewer shows the picture at `url`, loaded whole.
    pub fn is_in_viewer(&self, url: &str) -> bool {
        self.viewing.as_deref() == Some(url)
            && matches!(
                self.entries.get(&Key::Full(url.to_owned())),
                Some(Entry::Picture(_))
            )
    }

    /// Whether anything was asked for `url`.
    pub fn was_asked(&self, url: &str) -> bool {
        self.entries.contains_key(&Key::Preview(url.to_owned()))
    }

    /// The previews of the links in a message `line`, under it; `filehost` is the server's
    /// FILEHOST URL. Other lines (joins, errors…) get none.
    pub fn under_line(&mut self, ui: &mut Ui, line: &Line, filehost: Option<&str>) {
        if !matches!(
            line.kind,
            LineKind::Message | LineKind::Action | LineKind::Notice
        ) {
            return;
        }
        self.links(ui, &line.text, filehost);
    }

    /// The previews of the links in `text`.
    fn links(&mut self, ui: &mut Ui, text: &str, filehost: Option<&str>) {
        self.collect(ui.ctx());
        for span in links::spans(text) {
            let Span::Link(url) = span else { continue };
            let Some(origin) = classify(url, filehost, self.other_sites) else {
                continue;
            };
            let ctx = ui.ctx().clone();
            match self.get(&ctx, Key::Preview(url.to_owned()), origin) {
                Some(Entry::Picture(texture)) => {
                    let name = name_of(url);
                    let response = ui
                        .add(
                            egui::Image::new(texture)
                                .max_size(THUMB_BOX)
                                .sense(egui::Sense::click()),
                        )
                        .on_hover_text(format!("{name}: click to see it whole"))
                        .accessible_name(format!("Picture: {name}"));
                    if response.clicked() {
                        self.viewing = Some(url.to_owned());
                    }
                }
                Some(Entry::File { size, kind }) => {
                    let mut words = vec![name_of(url)];
                    words.extend(size.map(size_words));
                    if !kind.is_empty() {
                        words.push(kind.clone());
                    }
                    let chip = format!("📄 {}", words.join(" · "));
                    let response = ui
                        .add(egui::Button::new(egui::RichText::new(&chip).small()))
                        .on_hover_text("Open in the browser");
                    if response.clicked() {
                        ui.ctx().open_url(egui::OpenUrl::new_tab(url));
                    }
                }
                Some(Entry::Loading) => {
                    ui.weak("…");
                }
                Some(Entry::Nothing) | None => {}
            }
        }
    }

    /// The viewer window of the picture clicked, while open.
    pub fn viewer(&mut self, ctx: &egui::Context) {
        self.collect(ctx);
        let Some(url) = self.viewing.clone() else {
            return;
        };
        let mut open = true;
        let name = name_of(&url);
        let entry = self.get(ctx, Key::Full(url.clone()), Origin::FileHost);
        let texture = match entry {
            Some(Entry::Picture(texture)) => Some(texture.clone()),
            _ => None,
        };
        let failed = matches!(entry, Some(Entry::Nothing));
        egui::Window::new(name)
            .id(egui::Id::unique("picture-viewer"))
            .open(&mut open)
            .collapsible(false)
            .default_size(egui::vec2(640.0, 480.0))
            .show(ctx, |ui| {
                if ui.link("Open in the browser").clicked() {
                    ui.ctx().open_url(egui::OpenUrl::new_tab(&url));
                }
                match (&texture, failed) {
                    (Some(texture), _) => {
                        egui::ScrollArea::both().show(ui, |ui| {
                            ui.add(egui::Image::new(texture).shrink_to_fit());
                        });
                    }
                    (None, true) => {
                        ui.colored_label(theme::DANGER, "The picture could not be loaded.");
                    }
                    (None, false) => {
                        ui.spinner();
                    }
                }
            });
        if !open {
            self.viewing = None;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const HOST: Option<&str> = Some("https://chat.example.org:8443/upload");

    #[test]
    fn the_file_host_is_previewed_and_other_sites_only_when_allowed_over_https() {
        let own = "https://chat.example.org:8443/files/abc/foto%20%C3%B1.png";
        assert_eq!(classify(own, HOST, false), Some(Origin::FileHost));
        assert_eq!(
            classify("HTTPS://Chat.Example.org:8443/files/x", HOST, false),
            Some(Origin::FileHost)
        );
        // Same host, other port or path: not the file host.
        assert_eq!(
            classify("https://chat.example.org/files/x", HOST, false),
            None
        );
        assert_eq!(
            classify("https://chat.example.org:8443/upload", HOST, false),
            None
        );
        let other = "https://fotos.example/playa.jpg";
        assert_eq!(classify(other, HOST, false), None);
        assert_eq!(classify(other, HOST, true), Some(Origin::Elsewhere));
        assert_eq!(classify(other, None, true), Some(Origin::Elsewhere));
        assert_eq!(classify("http://fotos.example/a.png", HOST, true), None);
        assert_eq!(classify("https://u@fotos.example/a.png", HOST, true), None);
        assert_eq!(classify("file:///etc/passwd", HOST, true), None);
    }

    #[test]
    fn names_and_sizes_in_words() {
        assert_eq!(
            name_of("https://h/files/abc/foto%20de%20la%20playa%20%C3%B1.png?x=1"),
            "foto de la playa ñ.png"
        );
        assert_eq!(name_of("https://h/files/abc/100%"), "100%");
        assert_eq!(size_words(512), "512 bytes");
        assert_eq!(size_words(12_800), "12.5 KiB");
        assert_eq!(size_words(3 * 1024 * 1024), "3.0 MiB");
        assert_eq!(thumb_url("https://h/f/a.png"), "https://h/f/a.png?thumb");
        assert_eq!(
            thumb_url("https://h/f/a.png?v=1"),
            "https://h/f/a.png?v=1&thumb"
        );
    }
}
