//! Avatars: the pictures people give as an address (`draft/metadata-2` key `avatar`), fetched
//! in the background, shrunk to a small square and kept as textures for the nick list.
//!
//! Privacy first: fetching a picture tells its site your address and when you are online, so a
//! picture is fetched only from the chat server's own host unless the user allows other sites
//! (a switch in the top bar, off by default). Limits: `https` (`http` only from the chat
//! server's host), 10 seconds, 1 MiB, PNG or JPEG; at most a few fetches at once and a few
//! hundred pictures kept. A picture that fails is not asked for again in this run.

use std::collections::HashMap;
use std::sync::mpsc::{Receiver, Sender, channel};
use std::time::Duration;

use egui::{ColorImage, TextureHandle, TextureOptions};

/// The side of the square a picture is shrunk to (pixels; shown smaller, sharp on HiDPI).
const SIDE: u32 = 64;
/// The most bytes read of one picture.
const MAX_BYTES: u64 = 1024 * 1024;
/// How long one fetch may take.
const TIMEOUT: Duration = Duration::from_secs(10);
/// Fetches running at once.
const MAX_RUNNING: usize = 4;
/// Pictures kept (loaded or failed); past that, new ones are not fetched.
const MAX_KEPT: usize = 500;

/// Where a picture is.
enum Entry {
    Loading,
    Ready(TextureHandle),
    Failed,
}

/// The avatars of this app run, by address.
pub struct Avatars {
    entries: HashMap<String, Entry>,
    running: usize,
    done_tx: Sender<(String, Result<ColorImage, String>)>,
    done_rx: Receiver<(String, Result<ColorImage, String>)>,
}

impl Default for Avatars {
    fn default() -> Self {
        let (done_tx, done_rx) = channel();
        Avatars {
            entries: HashMap::new(),
            running: 0,
            done_tx,
            done_rx,
        }
    }
}

impl std::fmt::Debug for Avatars {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Avatars")
            .field("kept", &self.entries.len())
            .field("running", &self.running)
            .finish()
    }
}

/// The host of an `http(s)` address, and whether it is `https`.
fn host_of(url: &str) -> Option<(&str, bool)> {
    let (secure, rest) = if let Some(rest) = url.strip_prefix("https://") {
        (true, rest)
    } else {
        (false, url.strip_prefix("http://")?)
    };
    let authority = rest.split(['/', '?', '#']).next()?;
    if authority.contains('@') {
        // user@host addresses are not pictures anyone should fetch silently.
        return None;
    }
    let host = match authority.strip_prefix('[') {
        Some(v6) => v6.split(']').next()?,
        None => authority.split(':').next()?,
    };
    (!host.is_empty()).then_some((host, secure))
}

/// Whether the app may fetch `url` for a chat on `server_host`: from that host (https or
/// http), or from anywhere over https if the user allows other sites.
pub fn allowed(url: &str, server_host: &str, other_sites: bool) -> bool {
    let Some((host, secure)) = host_of(url) else {
        return false;
    };
    host.eq_ignore_ascii_case(server_host) || (other_sites && secure)
}

/// Fetches and shrinks a picture (on a thread of its own).
fn fetch(url: &str) -> Result<ColorImage, String> {
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .timeout_global(Some(TIMEOUT))
        .build()
        .into();
    let mut response = agent.get(url).call().map_err(|e| e.to_string())?;
    let bytes = response
        .body_mut()
        .with_config()
        .limit(MAX_BYTES)
        .read_to_vec()
        .map_err(|e| e.to_string())?;
    decode(&bytes)
}

/// A PNG or JPEG as a square of [`SIDE`] pixels.
pub fn decode(bytes: &[u8]) -> Result<ColorImage, String> {
    let picture = image::load_from_memory(bytes).map_err(|e| e.to_string())?;
    let square = picture
        .resize_to_fill(SIDE, SIDE, image::imageops::FilterType::Triangle)
        .to_rgba8();
    let size = [square.width() as usize, square.height() as usize];
    Ok(ColorImage::from_rgba_unmultiplied(size, square.as_raw()))
}

impl Avatars {
    /// The picture at `url` for a chat on `server_host`, if it may be fetched and has been;
    /// starts fetching it otherwise (the window is repainted when it arrives).
    pub fn get(
        &mut self,
        ctx: &egui::Context,
        url: &str,
        server_host: &str,
        other_sites: bool,
    ) -> Option<TextureHandle> {
        self.collect(ctx);
        if !allowed(url, server_host, other_sites) {
            return None;
        }
        match self.entries.get(url) {
            Some(Entry::Ready(texture)) => return Some(texture.clone()),
            Some(_) => return None,
            None => {}
        }
        if self.running >= MAX_RUNNING || self.entries.len() >= MAX_KEPT {
            return None;
        }
        self.entries.insert(url.to_owned(), Entry::Loading);
        self.running += 1;
        let (url, done, ctx) = (url.to_owned(), self.done_tx.clone(), ctx.clone());
        std::thread::spawn(move || {
            let result = fetch(&url);
            if let Err(error) = &result {
                tracing::debug!(%error, "an avatar could not be fetched");
            }
            let _ = done.send((url, result));
            ctx.request_repaint();
        });
        None
    }

    /// Takes the pictures that arrived.
    fn collect(&mut self, ctx: &egui::Context) {
        while let Ok((url, result)) = self.done_rx.try_recv() {
            self.running = self.running.saturating_sub(1);
            let entry = match result {
                Ok(picture) => Entry::Ready(ctx.load_texture(
                    format!("avatar {url}"),
                    picture,
                    TextureOptions::LINEAR,
                )),
                Err(_) => Entry::Failed,
            };
            self.entries.insert(url, entry);
        }
    }

    /// Whether the picture at `url` is loaded.
    pub fn is_ready(&self, url: &str) -> bool {
        matches!(self.entries.get(url), Some(Entry::Ready(_)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pictures_come_from_the_chat_server_unless_other_sites_are_allowed() {
        let server = "chat.example.org";
        assert!(allowed("https://chat.example.org/a.png", server, false));
        assert!(allowed("http://CHAT.example.org:8080/a.png", server, false));
        assert!(!allowed("https://elsewhere.example/a.png", server, false));
        assert!(allowed("https://elsewhere.example/a.png", server, true));
        // Never plain http from elsewhere, never user@host, never another scheme.
        assert!(!allowed("http://elsewhere.example/a.png", server, true));
        assert!(!allowed(
            "https://user@elsewhere.example/a.png",
            server,
            true
        ));
        assert!(!allowed("file:///etc/passwd", server, true));
        assert!(!allowed("javascript:alert(1)", server, true));
        assert!(allowed("https://[::1]:443/a.png", "::1", false));
    }

    #[test]
    fn a_picture_is_shrunk_to_a_square_and_garbage_is_refused() {
        let mut png = Vec::new();
        image::RgbaImage::from_pixel(200, 100, image::Rgba([200, 30, 30, 255]))
            .write_to(&mut std::io::Cursor::new(&mut png), image::ImageFormat::Png)
            .expect("encode");
        let picture = decode(&png).expect("decode");
        assert_eq!(picture.size, [SIDE as usize, SIDE as usize]);
        assert!(decode(b"not a picture").is_err());
    }
}
