//! The file host: IRC clients share files and images by uploading them over HTTP and sending
//! the link, as soju's FILEHOST extension describes (ISUPPORT `soju.im/FILEHOST=<url>`, a
//! POST authenticated with the user's account, `201 Created` with the file's `Location`).
//!
//! - here: [`FilesConfig`] (`[files]`), [`Files`] (where blobs live, the lock that orders
//!   their creation and removal against the store's records), the URLs, retention.
//! - `upload`: `POST /upload`: HTTP Basic against the account (the SASL throttles), limits
//!   checked on `Content-Length` and while streaming into a temporary file, SHA-256 on the
//!   way, the type sniffed from the bytes, JPEG metadata removed (`jpeg`), then the blob
//!   moved into place by hash and recorded in the store.
//! - `serve`: `GET /files/<id>[/<name>]` (`?thumb` for a thumbnail, from `thumb`) with
//!   safe headers, `ETag`, `Range`; `DELETE` by the owner or an operator.
//! - `names`: file names from `Content-Disposition`, cleaned, and written back.
//!
//! On disk, under `data_dir/files`: `<aa>/<sha256>` (blobs, `aa` the first two hex digits),
//! `thumbs/<aa>/<sha256>.<ext>`, `tmp/` (uploads in progress, emptied at start). A URL names a
//! file by an id the server chose; the id finds the store's record, the record's hash the
//! blob: no text of a request ever becomes a path.

pub(crate) mod jpeg;
pub(crate) mod names;
pub(crate) mod serve;
pub(crate) mod thumb;
pub(crate) mod upload;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use charla_store::{Conflict, FileRecord, StoreError, Write};
use serde::Deserialize;
use tokio::sync::{Mutex, Semaphore};
use tracing::{info, warn};

use crate::http::HttpConfig;
use crate::state::State;

/// The `[files]` section of the configuration.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct FilesConfig {
    /// Whether the file host runs (it needs `[http]` on).
    pub enabled: bool,
    /// The largest file accepted, in bytes.
    pub max_bytes: u64,
    /// The most bytes one account may keep uploaded; 0 for no quota.
    pub quota_bytes: u64,
    /// Files older than this many days are removed; 0 keeps them.
    pub retention_days: u64,
    /// Keep the metadata of JPEG photos (EXIF: GPS position, camera, time) instead of
    /// removing it on upload.
    pub keep_metadata: bool,
    /// Uploads received at once; the others wait, their bytes left in the kernel's socket
    /// buffers, so that many uploads cost a bounded amount of memory and CPU.
    pub uploads_at_once: usize,
    /// The most bytes a second received for all uploads together (0: no limit), so that
    /// receiving, hashing and writing files never takes the CPU the chat needs.
    pub receive_bytes_per_sec: u64,
}

impl Default for FilesConfig {
    fn default() -> Self {
        FilesConfig {
            enabled: true,
            max_bytes: 25 << 20,
            quota_bytes: 1 << 30,
            retention_days: 0,
            keep_metadata: false,
            uploads_at_once: 16,
            receive_bytes_per_sec: 32 << 20,
        }
    }
}

impl FilesConfig {
    /// Checks values that parse but make no sense.
    pub fn check(&self) -> Result<(), String> {
        if self.max_bytes == 0 {
            return Err("files.max_bytes must be at least 1".to_owned());
        }
        if self.uploads_at_once == 0 {
            return Err("files.uploads_at_once must be at least 1".to_owned());
        }
        Ok(())
    }
}

/// How often retention runs (it also runs once at start).
const PRUNE_EVERY: Duration = Duration::from_secs(3600);

/// Files removed per store read while pruning: a large backlog goes in bounded steps.
const PRUNE_BATCH: usize = 500;

/// Thumbnails decoded at once: decoding a photo takes a core and tens of MiB.
const THUMBNAILERS: usize = 2;

/// The file host of one server. See the [module documentation](self).
#[derive(Debug)]
pub struct Files {
    /// `data_dir/files`.
    root: PathBuf,
    pub(crate) config: FilesConfig,
    /// The public origin of URLs, `https://host:port`, without a trailing slash.
    base_url: String,
    /// Held while a blob is linked or unlinked together with its record, so that a removal
    /// never deletes a blob that an upload of the same bytes is recording (tokio's mutex: it
    /// is held across the store's answer).
    commit: Mutex<()>,
    thumbnailers: Semaphore,
    /// One permit per upload being received ([`FilesConfig::uploads_at_once`]).
    pub(crate) receivers: Semaphore,
    /// The byte-rate budget of all uploads ([`FilesConfig::receive_bytes_per_sec`]).
    pub(crate) budget: ByteBudget,
}

/// A shared byte rate: each receiver books its bytes on one timeline and waits for its turn,
/// so that all uploads together take at most the configured bytes a second (with a burst of a
/// tenth of a second).
#[derive(Debug)]
pub(crate) struct ByteBudget {
    per_sec: u64,
    /// When the bytes booked so far are all "spent".
    booked_until: std::sync::Mutex<tokio::time::Instant>,
}

impl ByteBudget {
    fn new(per_sec: u64) -> Self {
        ByteBudget {
            per_sec,
            booked_until: std::sync::Mutex::new(tokio::time::Instant::now()),
        }
    }

    /// Books `bytes` and waits until the budget allows them.
    pub(crate) async fn spend(&self, bytes: usize) {
        if self.per_sec == 0 {
            return;
        }
        let cost = Duration::from_secs_f64(bytes as f64 / self.per_sec as f64);
        let burst = Duration::from_millis(100);
        let start = {
            let now = tokio::time::Instant::now();
            let mut until = self
                .booked_until
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            let start = (*until).max(now.checked_sub(burst).unwrap_or(now));
            *until = start + cost;
            start
        };
        // Waits only for bytes booked beyond the burst.
        let now = tokio::time::Instant::now();
        if start + cost > now + burst {
            tokio::time::sleep_until(start + cost - burst).await;
        }
    }
}

impl Files {
    /// The file host under `data_dir/files`, its directories created and the temporary
    /// files of an earlier run removed; `base_url` is the origin its URLs start with.
    pub fn open(config: FilesConfig, data_dir: &Path, base_url: String) -> std::io::Result<Self> {
        let root = data_dir.join("files");
        let tmp = root.join("tmp");
        // Uploads cut short by a crash: nothing refers to them.
        match std::fs::remove_dir_all(&tmp) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(e),
        }
        std::fs::create_dir_all(&tmp)?;
        std::fs::create_dir_all(root.join("thumbs"))?;
        Ok(Files {
            root,
            base_url,
            commit: Mutex::new(()),
            thumbnailers: Semaphore::new(THUMBNAILERS),
            receivers: Semaphore::new(config.uploads_at_once),
            budget: ByteBudget::new(config.receive_bytes_per_sec),
            config,
        })
    }

    /// The URL clients upload to (the value of `soju.im/FILEHOST`).
    pub fn upload_url(&self) -> String {
        format!("{}/upload", self.base_url)
    }

    /// The URL of a file, with its name last for clients that show it.
    pub(crate) fn file_url(&self, record: &FileRecord) -> String {
        format!(
            "{}/files/{}/{}",
            self.base_url,
            record.id,
            names::percent_encode(&record.name)
        )
    }

    /// Where the blob of `sha256` lives; `None` unless `sha256` is 64 lowercase hex digits.
    fn blob_path(&self, sha256: &str) -> Option<PathBuf> {
        is_sha256(sha256).then(|| self.root.join(&sha256[..2]).join(sha256))
    }

    /// Where the thumbnail of `sha256` lives.
    fn thumb_path(&self, sha256: &str, ext: &str) -> Option<PathBuf> {
        is_sha256(sha256).then(|| {
            self.root
                .join("thumbs")
                .join(&sha256[..2])
                .join(format!("{sha256}.{ext}"))
        })
    }

    /// A fresh temporary file name.
    fn tmp_path(&self) -> PathBuf {
        let name: u128 = rand::random();
        self.root.join("tmp").join(format!("{name:032x}.part"))
    }

    /// Removes a file's record, and its blob and thumbnails when no other record has the same
    /// bytes. `Ok(false)` when there was no such record.
    pub(crate) async fn remove(
        &self,
        state: &State,
        record: &FileRecord,
    ) -> Result<bool, StoreError> {
        let _order = self.commit.lock().await;
        let id = record.id.clone();
        match state.store.write(Write::DeleteFile { id }).await? {
            Ok(()) => {}
            Err(Conflict::NotFound | Conflict::Exists) => return Ok(false),
        }
        if !state.store.file_hash_used(&record.sha256).await? {
            let paths = [
                self.blob_path(&record.sha256),
                self.thumb_path(&record.sha256, "png"),
                self.thumb_path(&record.sha256, "jpg"),
            ];
            for path in paths.into_iter().flatten() {
                remove_if_there(&path).await;
            }
        }
        Ok(true)
    }
}

/// Removes a file, quietly when it is not there.
async fn remove_if_there(path: &Path) {
    match tokio::fs::remove_file(path).await {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => warn!(path = %path.display(), error = %e, "cannot remove a stored file"),
    }
}

/// Whether `text` is a SHA-256 in lowercase hex.
fn is_sha256(text: &str) -> bool {
    text.len() == 64 && text.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

/// Length of a file id: 16 random bytes in URL-safe base64 without padding.
const ID_LEN: usize = 22;

/// A new file id: 128 random bits, unguessable, URL-safe.
fn new_id() -> String {
    use base64::Engine;
    let bytes: [u8; 16] = rand::random();
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

/// Whether `text` has the shape of an id [`new_id`] makes (checked before any look-up).
fn is_id(text: &str) -> bool {
    text.len() == ID_LEN
        && text
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// The origin of the file host's URLs: `[http] public_url` when set, else
/// `http(s)://<server name>:<bound port>`.
pub fn base_url(http: &HttpConfig, server_name: &str, bound: SocketAddr) -> String {
    match &http.public_url {
        Some(url) => url.trim_end_matches('/').to_owned(),
        None => {
            let scheme = if http.tls { "https" } else { "http" };
            format!("{scheme}://{server_name}:{}", bound.port())
        }
    }
}

/// Removes the files older than `retention_days` once.
pub async fn prune(state: &State, files: &Files) {
    let days = files.config.retention_days;
    if days == 0 {
        return;
    }
    let now = crate::timefmt::unix_millis(SystemTime::now());
    let age_ms = i64::try_from(days)
        .unwrap_or(i64::MAX)
        .saturating_mul(86_400_000);
    let before_ms = now.saturating_sub(age_ms);
    let mut removed = 0usize;
    loop {
        let batch = match state.store.files_before(before_ms, PRUNE_BATCH).await {
            Ok(batch) => batch,
            Err(error) => {
                warn!(%error, "old files could not be listed for removal");
                return;
            }
        };
        let done = batch.len() < PRUNE_BATCH;
        for record in &batch {
            if let Err(error) = files.remove(state, record).await {
                warn!(%error, "an old file could not be removed");
                return;
            }
            removed += 1;
        }
        if done {
            break;
        }
    }
    if removed > 0 {
        info!(removed, days, "old files removed");
    }
}

/// Runs [`prune`] every hour until shutdown (the server runs it once before it starts).
pub async fn keep_pruning(
    state: Arc<State>,
    files: Arc<Files>,
    mut shutdown: tokio::sync::watch::Receiver<bool>,
) {
    loop {
        tokio::select! {
            () = tokio::time::sleep(PRUNE_EVERY) => prune(&state, &files).await,
            _ = shutdown.changed() => return,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn the_byte_budget_spreads_uploads_over_time() {
        let budget = ByteBudget::new(1000);
        let began = tokio::time::Instant::now();
        // A tenth of a second's worth passes at once (the burst)...
        budget.spend(100).await;
        assert_eq!(began.elapsed(), Duration::ZERO);
        // ...then every byte waits its turn, whoever books it.
        budget.spend(500).await;
        budget.spend(500).await;
        let waited = began.elapsed();
        assert!(
            waited >= Duration::from_millis(999) && waited <= Duration::from_millis(1001),
            "{waited:?}"
        );
        let unlimited = ByteBudget::new(0);
        unlimited.spend(1 << 30).await;
        assert_eq!(began.elapsed(), waited);
    }

    #[test]
    fn ids_are_made_and_checked_strictly() {
        let id = new_id();
        assert!(is_id(&id), "{id}");
        assert_ne!(new_id(), id);
        for bad in [
            "",
            "..",
            "../../etc/passwd",
            "%2e%2e%2fetc%2fpasswd",
            "aaaaaaaaaaaaaaaaaaaaa/",
            "aaaaaaaaaaaaaaaaaaaaa.",
            "aaaaaaaaaaaaaaaaaaaaaaa",
        ] {
            assert!(!is_id(bad), "{bad}");
        }
        assert!(is_sha256(&"ab".repeat(32)));
        assert!(!is_sha256(&"AB".repeat(32)));
        assert!(!is_sha256("../../../../etc/passwd"));
    }
}
