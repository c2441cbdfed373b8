//! `POST /upload`: a client's file, authenticated with its account, streamed to disk.
//!
//! The order of checks keeps the cost of a refusal small: credentials (HTTP Basic, only over
//! HTTPS or from this machine), then the declared `Content-Length` against `max_bytes` and the
//! account's room under its quota — both before a byte of the body is read, so a client that
//! sent `Expect: 100-continue` never sends it — then the body itself, counted as it streams
//! into a temporary file (a chunked body that grows too large is cut off with 413 at once).
//! The bytes are hashed (SHA-256) on the way; the type is sniffed from the first bytes, and
//! **the sniffed type wins**: the client's `Content-Type` is ignored, so a page sent as
//! `image/png` is stored as what it is and served as an attachment. A JPEG loses its metadata
//! ([`super::jpeg`]) unless `keep_metadata`. Last, under the commit lock, the quota is checked
//! again (uploads in parallel), the blob is moved to its place (or dropped, when the same bytes
//! are there already) and the record written.

use std::io::Write as _;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::SystemTime;

use axum::extract::{ConnectInfo, Request, State as AxumState};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use charla_store::{AccountRecord, FileRecord, Write};
use futures::StreamExt;
use sha2::{Digest, Sha256};
use tokio::io::AsyncWriteExt;
use tracing::{debug, info, warn};

use super::{Files, jpeg, names, new_id};
use crate::account::check::{self, Failure};
use crate::account::password::Password;
use crate::http::Http;
use crate::logtext::Escaped;

/// Bytes kept from the start of an upload to sniff its type.
const SNIFF_BYTES: usize = 8192;

/// The buffer between the body and the temporary file.
const WRITE_BUFFER: usize = 64 * 1024;

/// How long an upload may send nothing before it is dropped: a client that stops half-way
/// must not hold its connection slot and temporary file for ever.
const BODY_IDLE: std::time::Duration = std::time::Duration::from_secs(60);

/// A plain-text answer.
pub(crate) fn plain(status: StatusCode, text: impl Into<String>) -> Response {
    let mut text = text.into();
    text.push('\n');
    (
        status,
        [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
        text,
    )
        .into_response()
}

fn unauthorized(text: &str) -> Response {
    let mut response = plain(StatusCode::UNAUTHORIZED, text);
    response.headers_mut().insert(
        header::WWW_AUTHENTICATE,
        HeaderValue::from_static("Basic realm=\"charla\", charset=\"UTF-8\""),
    );
    response
}

fn too_large(max: u64) -> Response {
    plain(
        StatusCode::PAYLOAD_TOO_LARGE,
        format!("The file is larger than this server accepts ({max} bytes at most)"),
    )
}

fn over_quota(quota: u64, used: u64) -> Response {
    plain(
        StatusCode::PAYLOAD_TOO_LARGE,
        format!(
            "The file does not fit in your quota: {used} of {quota} bytes are used; delete \
             files to make room"
        ),
    )
}

fn unavailable() -> Response {
    plain(
        StatusCode::SERVICE_UNAVAILABLE,
        "The file host cannot store files right now; try again later",
    )
}

fn not_stored(error: &std::io::Error) -> Response {
    warn!(%error, "an upload could not be written to disk");
    plain(
        StatusCode::INTERNAL_SERVER_ERROR,
        "The file could not be stored on the server",
    )
}

/// The account whose HTTP Basic credentials `headers` carry, checked like a SASL PLAIN log-in;
/// or the answer that refuses the request.
pub(crate) async fn authenticate(
    http: &Http,
    peer: SocketAddr,
    headers: &HeaderMap,
) -> Result<AccountRecord, Response> {
    if !http.secure && !crate::account::is_loopback(peer.ip()) {
        return Err(plain(
            StatusCode::FORBIDDEN,
            "Passwords are accepted only over HTTPS (or from this machine)",
        ));
    }
    let Some(value) = headers.get(header::AUTHORIZATION) else {
        return Err(unauthorized("Log in with your account name and password"));
    };
    let Some((name, password)) = value.to_str().ok().and_then(parse_basic) else {
        return Err(unauthorized(
            "Only Basic authorization with an account name and password is accepted",
        ));
    };
    let state = &http.shared.state;
    match check::password_from(state, peer, &name, password, "HTTP Basic").await {
        Ok(account) => Ok(account),
        Err(Failure::Wrong | Failure::TooManyOnConnection) => {
            Err(unauthorized("Wrong account name or password"))
        }
        Err(Failure::Throttled) => Err(plain(
            StatusCode::TOO_MANY_REQUESTS,
            "Too many failed log-ins: wait a while",
        )),
        Err(Failure::Unavailable) => Err(unavailable()),
    }
}

/// `Basic base64(name:password)` (RFC 7617) → the name and the password.
fn parse_basic(value: &str) -> Option<(String, Password)> {
    use base64::Engine;
    let (scheme, encoded) = value.trim().split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return None;
    }
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(encoded.trim())
        .ok()?;
    let text = String::from_utf8(decoded).ok()?;
    let (name, password) = text.split_once(':')?;
    if name.is_empty() {
        return None;
    }
    Some((name.to_owned(), Password::new(password)))
}

/// `POST /upload`.
pub(crate) async fn upload(
    AxumState(http): AxumState<Http>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    request: Request,
) -> Response {
    let Some(files) = http.files.clone() else {
        return StatusCode::NOT_FOUND.into_response();
    };
    let mut response = match receive(&http, &files, peer, request).await {
        Ok(response) | Err(response) => response,
    };
    cors(response.headers_mut());
    response
}

/// `OPTIONS /upload`: the CORS preflight of browser clients (gamja). Credentials travel in
/// the `Authorization` header, never in cookies, so any origin may ask.
pub(crate) async fn preflight() -> Response {
    let mut response = StatusCode::NO_CONTENT.into_response();
    let headers = response.headers_mut();
    cors(headers);
    headers.insert(
        header::ACCESS_CONTROL_ALLOW_METHODS,
        HeaderValue::from_static("POST, OPTIONS"),
    );
    headers.insert(
        header::ACCESS_CONTROL_ALLOW_HEADERS,
        HeaderValue::from_static("Authorization, Content-Type, Content-Disposition"),
    );
    headers.insert(
        header::ACCESS_CONTROL_MAX_AGE,
        HeaderValue::from_static("86400"),
    );
    response
}

fn cors(headers: &mut HeaderMap) {
    headers.insert(
        header::ACCESS_CONTROL_ALLOW_ORIGIN,
        HeaderValue::from_static("*"),
    );
    headers.insert(
        header::ACCESS_CONTROL_EXPOSE_HEADERS,
        HeaderValue::from_static("Location"),
    );
}

async fn receive(
    http: &Http,
    files: &Files,
    peer: SocketAddr,
    request: Request,
) -> Result<Response, Response> {
    let state = &http.shared.state;
    let (parts, body) = request.into_parts();
    let account = authenticate(http, peer, &parts.headers).await?;
    let max = files.config.max_bytes;
    let declared = match parts.headers.get(header::CONTENT_LENGTH) {
        Some(value) => Some(
            value
                .to_str()
                .ok()
                .and_then(|v| v.trim().parse::<u64>().ok())
                .ok_or_else(|| plain(StatusCode::BAD_REQUEST, "Invalid Content-Length"))?,
        ),
        None => None,
    };
    if declared.is_some_and(|n| n > max) {
        return Err(too_large(max));
    }
    let quota = files.config.quota_bytes;
    let used = if quota > 0 {
        state
            .store
            .files_size(&account.key)
            .await
            .map_err(|_| unavailable())?
    } else {
        0
    };
    let room = if quota > 0 {
        quota.saturating_sub(used)
    } else {
        u64::MAX
    };
    if declared.is_some_and(|n| n > room) {
        return Err(over_quota(quota, used));
    }
    let name = parts
        .headers
        .get(header::CONTENT_DISPOSITION)
        .and_then(|v| v.to_str().ok())
        .and_then(names::from_disposition)
        .map_or_else(|| names::DEFAULT_NAME.to_owned(), |n| names::sanitise(&n));

    // Received a few at a time: the others wait with their bytes in the kernel's buffers.
    let Ok(_receiving) = files.receivers.acquire().await else {
        return Err(plain(
            StatusCode::SERVICE_UNAVAILABLE,
            "The file host is stopping",
        ));
    };
    let mut received = match stream_to_disk(files, body, max.min(room)).await {
        Ok(received) => received,
        Err(Cut::TooLarge) if room < max => return Err(over_quota(quota, used)),
        Err(Cut::TooLarge) => return Err(too_large(max)),
        Err(Cut::Body(error)) => {
            debug!(%peer, %error, "an upload's body failed");
            return Err(plain(StatusCode::BAD_REQUEST, "The upload was cut short"));
        }
        Err(Cut::Idle) => {
            return Err(plain(
                StatusCode::REQUEST_TIMEOUT,
                "The upload stalled: nothing came for a minute",
            ));
        }
        Err(Cut::Disk(error)) => return Err(not_stored(&error)),
    };
    if received.size == 0 {
        return Err(plain(StatusCode::BAD_REQUEST, "The file is empty"));
    }
    let content_type = sniff(&received.head);
    if let Some(claimed) = parts.headers.get(header::CONTENT_TYPE) {
        let claimed = String::from_utf8_lossy(claimed.as_bytes());
        if !content_type.starts_with(claimed.split(';').next().unwrap_or("").trim()) {
            debug!(%peer, claimed = %Escaped(&claimed), sniffed = content_type,
                "an upload's declared type differs from its bytes; the bytes win");
        }
    }
    if content_type == "image/jpeg" && !files.config.keep_metadata {
        received = strip_metadata(files, received).await?;
    }
    let record = FileRecord {
        id: new_id(),
        owner: account.key.clone(),
        name,
        content_type: content_type.to_owned(),
        size: received.size,
        sha256: received.sha256.clone(),
        created_ms: crate::timefmt::unix_millis(SystemTime::now()),
    };
    commit(state, files, received, &record).await?;
    state.metrics.uploads.inc();
    state.metrics.upload_bytes.inc_by(record.size);
    let url = files.file_url(&record);
    info!(%peer, account = %Escaped(&account.name), id = %record.id, size = record.size,
        content_type = %record.content_type, name = %Escaped(&record.name), "file uploaded");
    let location = HeaderValue::from_str(&url).map_err(|_| unavailable())?;
    Ok((
        StatusCode::CREATED,
        [(header::LOCATION, location)],
        format!("{url}\n"),
    )
        .into_response())
}

/// The type of a file from its first bytes: a magic number `infer` knows, else UTF-8 text,
/// else opaque bytes.
pub(crate) fn sniff(head: &[u8]) -> &'static str {
    if let Some(kind) = infer::get(head) {
        return kind.mime_type();
    }
    let text = match std::str::from_utf8(head) {
        Ok(_) => true,
        // Cut in the middle of a character at the end of the sniffed bytes: still text.
        Err(e) => e.error_len().is_none(),
    };
    if text && !head.contains(&0) {
        "text/plain; charset=utf-8"
    } else {
        "application/octet-stream"
    }
}

/// A temporary file, removed when dropped unless [`kept`](TempFile::kept).
struct TempFile {
    path: PathBuf,
    keep: bool,
}

impl TempFile {
    fn kept(mut self) {
        self.keep = true;
    }
}

impl Drop for TempFile {
    fn drop(&mut self) {
        if !self.keep {
            // One unlink: short enough to run where the upload ends, even on an async worker.
            let _ = std::fs::remove_file(&self.path);
        }
    }
}

/// An upload on disk, complete and synced.
struct Received {
    temp: TempFile,
    size: u64,
    sha256: String,
    /// Its first [`SNIFF_BYTES`] bytes.
    head: Vec<u8>,
}

/// Why an upload stopped.
enum Cut {
    /// Past the limit.
    TooLarge,
    /// The client's body failed (a reset, a malformed chunk).
    Body(axum::Error),
    /// The client sent nothing for [`BODY_IDLE`].
    Idle,
    /// Writing failed.
    Disk(std::io::Error),
}

/// An upload is synced to disk every this many bytes as it comes, not only at its end: the
/// page cache then never holds much of it unwritten, and the history's commits (which sync
/// too) do not wait behind a flush of many uploads' bytes. Measured: the chat's p99 during
/// 100 uploads went from 3-6 ms to 2-4 ms (docs/BENCHMARKS.md).
const SYNC_EVERY: u64 = 1 << 20;

async fn stream_to_disk(
    files: &Files,
    body: axum::body::Body,
    limit: u64,
) -> Result<Received, Cut> {
    let temp = TempFile {
        path: files.tmp_path(),
        keep: false,
    };
    let file = tokio::fs::File::create(&temp.path)
        .await
        .map_err(Cut::Disk)?;
    let mut out = tokio::io::BufWriter::with_capacity(WRITE_BUFFER, file);
    let mut hasher = Sha256::new();
    let mut head = Vec::with_capacity(SNIFF_BYTES);
    let mut size = 0u64;
    let mut chunks = body.into_data_stream();
    while let Some(chunk) = tokio::time::timeout(BODY_IDLE, chunks.next())
        .await
        .map_err(|_| Cut::Idle)?
    {
        let chunk = chunk.map_err(Cut::Body)?;
        size = size.saturating_add(chunk.len() as u64);
        if size > limit {
            return Err(Cut::TooLarge);
        }
        if head.len() < SNIFF_BYTES {
            let take = (SNIFF_BYTES - head.len()).min(chunk.len());
            head.extend_from_slice(&chunk[..take]);
        }
        hasher.update(&chunk);
        out.write_all(&chunk).await.map_err(Cut::Disk)?;
        if size / SYNC_EVERY != (size - chunk.len() as u64) / SYNC_EVERY {
            out.flush().await.map_err(Cut::Disk)?;
            out.get_ref().sync_data().await.map_err(Cut::Disk)?;
        }
        // The next piece waits while all uploads together are over their byte rate.
        files.budget.spend(chunk.len()).await;
    }
    out.flush().await.map_err(Cut::Disk)?;
    // On disk before the store records it: a record never outlives a crash without its blob.
    out.get_ref().sync_all().await.map_err(Cut::Disk)?;
    Ok(Received {
        temp,
        size,
        sha256: hex(&hasher.finalize()),
        head,
    })
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// A writer that hashes and counts what goes through it.
struct Hashing<W> {
    inner: W,
    hasher: Sha256,
    size: u64,
}

impl<W: std::io::Write> std::io::Write for Hashing<W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.hasher.update(&buf[..n]);
        self.size += n as u64;
        Ok(n)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.inner.flush()
    }
}

/// The JPEG `received` without its metadata, in a new temporary file (on a blocking thread:
/// it reads and writes the whole file).
async fn strip_metadata(files: &Files, received: Received) -> Result<Received, Response> {
    let stripped = TempFile {
        path: files.tmp_path(),
        keep: false,
    };
    let from = received.temp.path.clone();
    let to = stripped.path.clone();
    let job = tokio::task::spawn_blocking(move || -> std::io::Result<(u64, String, u32)> {
        let input = std::io::BufReader::with_capacity(WRITE_BUFFER, std::fs::File::open(&from)?);
        let output = std::fs::File::create(&to)?;
        let mut hashing = Hashing {
            inner: std::io::BufWriter::with_capacity(WRITE_BUFFER, output),
            hasher: Sha256::new(),
            size: 0,
        };
        let outcome = jpeg::strip(input, &mut hashing)?;
        hashing.flush()?;
        let Hashing {
            inner,
            hasher,
            size,
        } = hashing;
        inner.into_inner().map_err(|e| e.into_error())?.sync_all()?;
        Ok((size, hex(&hasher.finalize()), outcome.segments))
    });
    let (size, sha256, segments) = match job.await {
        Ok(Ok(done)) => done,
        Ok(Err(error)) if error.kind() == std::io::ErrorKind::InvalidData => {
            debug!(%error, "a JPEG upload could not be read to remove its metadata");
            return Err(plain(
                StatusCode::UNPROCESSABLE_ENTITY,
                "The file looks like a JPEG photo but could not be read (its metadata, such as \
                 a GPS position, would be kept): it was refused",
            ));
        }
        Ok(Err(error)) => return Err(not_stored(&error)),
        Err(_) => return Err(not_stored(&std::io::Error::other("the task failed"))),
    };
    debug!(segments, "metadata removed from a JPEG upload");
    drop(received.temp);
    Ok(Received {
        temp: stripped,
        size,
        sha256,
        head: received.head,
    })
}

/// Moves the blob into place (unless the same bytes are there already) and records the file,
/// with the quota checked once more under the commit lock.
async fn commit(
    state: &crate::state::State,
    files: &Files,
    received: Received,
    record: &FileRecord,
) -> Result<(), Response> {
    let _order = files.commit.lock().await;
    let quota = files.config.quota_bytes;
    if quota > 0 {
        let used = state
            .store
            .files_size(&record.owner)
            .await
            .map_err(|_| unavailable())?;
        if used.saturating_add(record.size) > quota {
            return Err(over_quota(quota, used));
        }
    }
    let blob = files.blob_path(&record.sha256).ok_or_else(unavailable)?;
    let created = match tokio::fs::try_exists(&blob).await {
        // Deduplicated: the temporary copy goes when `received` drops.
        Ok(true) => false,
        Ok(false) => {
            if let Some(dir) = blob.parent() {
                tokio::fs::create_dir_all(dir)
                    .await
                    .map_err(|e| not_stored(&e))?;
            }
            tokio::fs::rename(&received.temp.path, &blob)
                .await
                .map_err(|e| not_stored(&e))?;
            received.temp.kept();
            true
        }
        Err(e) => return Err(not_stored(&e)),
    };
    match state.store.write(Write::AddFile(record.clone())).await {
        Ok(Ok(())) => Ok(()),
        outcome => {
            warn!(?outcome, "an upload could not be recorded");
            if created {
                super::remove_if_there(&blob).await;
            }
            Err(unavailable())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn basic_credentials_are_parsed() {
        use base64::Engine;
        let encode = |s: &str| base64::engine::general_purpose::STANDARD.encode(s);
        let (name, password) =
            parse_basic(&format!("Basic {}", encode("ana:pa:ss word"))).expect("parsed");
        assert_eq!(name, "ana");
        assert_eq!(password.expose(), "pa:ss word");
        assert!(parse_basic(&format!("basic  {}", encode("ñandú:x"))).is_some());
        for bad in [
            format!("Bearer {}", encode("ana:x")),
            format!("Basic {}", encode("no-colon")),
            format!("Basic {}", encode(":empty-name")),
            "Basic !!!".to_owned(),
            "Basic".to_owned(),
        ] {
            assert!(parse_basic(&bad).is_none(), "{bad}");
        }
    }

    #[test]
    fn types_come_from_the_bytes() {
        assert_eq!(sniff(b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR"), "image/png");
        assert_eq!(sniff(b"\xFF\xD8\xFF\xE0\0\x10JFIF"), "image/jpeg");
        assert_eq!(sniff(b"GIF89a"), "image/gif");
        assert_eq!(
            sniff("hola, ¿qué tal?".as_bytes()),
            "text/plain; charset=utf-8"
        );
        // A character cut at the end of the sniffed bytes.
        assert_eq!(sniff(&"ñ".as_bytes()[..1]), "text/plain; charset=utf-8");
        assert_eq!(sniff(b"\x00\x01\x02\xFF"), "application/octet-stream");
        let html = sniff(b"<!DOCTYPE html><html><script>alert(1)</script>");
        assert!(!super::super::serve::inline_safe(html), "{html}");
    }
}
