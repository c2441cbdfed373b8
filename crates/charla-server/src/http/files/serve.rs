//! `GET /files/<id>[/<name>]` and `DELETE` of the same.
//!
//! A file is served so that a browser can never run it: the sniffed type, `nosniff`,
//! `Content-Security-Policy: default-src 'none'; sandbox` (a page opened anyway has no
//! scripts, no origin, no requests), and `Content-Disposition: inline` only for images,
//! audio and video that browsers show as such ([`inline_safe`]); everything else — HTML, SVG,
//! XML, scripts, text — is an attachment. The ETag is the hash (the bytes of an id never
//! change), so `If-None-Match` answers 304; one byte range (`Range: bytes=a-b`) answers 206,
//! one past the end 416. The body streams from disk in chunks. `?thumb` serves the image's
//! thumbnail ([`super::thumb`]).

use std::io::SeekFrom;
use std::net::SocketAddr;

use axum::body::{Body, Bytes};
use axum::extract::{ConnectInfo, Path, State as AxumState};
use axum::http::{HeaderMap, HeaderValue, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use charla_store::FileRecord;
use tokio::io::{AsyncReadExt, AsyncSeekExt};
use tracing::{info, warn};

use super::upload::{authenticate, plain};
use super::{Files, is_id, names, thumb};
use crate::http::Http;
use crate::logtext::Escaped;

/// Bytes read from disk per chunk of a response.
const CHUNK: usize = 64 * 1024;

/// The policy of every file response: nothing loads, nothing runs.
const CSP: &str = "default-src 'none'; sandbox";

/// Media types browsers show without running anything: images (no SVG), audio, video.
const INLINE: &[&str] = &[
    "image/png",
    "image/jpeg",
    "image/gif",
    "image/webp",
    "image/avif",
    "image/bmp",
    "audio/mpeg",
    "audio/ogg",
    "audio/x-flac",
    "audio/x-wav",
    "audio/m4a",
    "audio/aac",
    "video/mp4",
    "video/webm",
    "video/quicktime",
    "video/ogg",
];

/// Whether a file of `content_type` may be shown inline.
pub(crate) fn inline_safe(content_type: &str) -> bool {
    INLINE.contains(&content_type)
}

/// `GET /files/<id>`.
pub(crate) async fn get(
    AxumState(http): AxumState<Http>,
    Path(id): Path<String>,
    uri: Uri,
    headers: HeaderMap,
) -> Response {
    serve(&http, &id, &uri, &headers).await
}

/// `GET /files/<id>/<name>`: the name is for people; the id alone finds the file.
pub(crate) async fn get_named(
    AxumState(http): AxumState<Http>,
    Path((id, _name)): Path<(String, String)>,
    uri: Uri,
    headers: HeaderMap,
) -> Response {
    serve(&http, &id, &uri, &headers).await
}

/// `DELETE /files/<id>`.
pub(crate) async fn delete(
    AxumState(http): AxumState<Http>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Response {
    remove(&http, peer, &id, &headers).await
}

/// `DELETE /files/<id>/<name>`.
pub(crate) async fn delete_named(
    AxumState(http): AxumState<Http>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    Path((id, _name)): Path<(String, String)>,
    headers: HeaderMap,
) -> Response {
    remove(&http, peer, &id, &headers).await
}

fn not_found() -> Response {
    plain(StatusCode::NOT_FOUND, "No such file")
}

/// The record of file `id`, or the answer that says why there is none.
async fn find(http: &Http, id: &str) -> Result<(std::sync::Arc<Files>, FileRecord), Response> {
    let Some(files) = http.files.clone() else {
        return Err(StatusCode::NOT_FOUND.into_response());
    };
    // Checked before the store sees it: only ids this server could have made.
    if !is_id(id) {
        return Err(not_found());
    }
    match http.shared.state.store.file(id).await {
        Ok(Some(record)) => Ok((files, record)),
        Ok(None) => Err(not_found()),
        Err(error) => {
            warn!(%error, "cannot read a file record");
            Err(plain(StatusCode::SERVICE_UNAVAILABLE, "Try again later"))
        }
    }
}

async fn serve(http: &Http, id: &str, uri: &Uri, headers: &HeaderMap) -> Response {
    let (files, record) = match find(http, id).await {
        Ok(found) => found,
        Err(response) => return response,
    };
    let wants_thumb = uri.query().is_some_and(|q| {
        q.split('&')
            .any(|p| p == "thumb" || p.starts_with("thumb="))
    });
    if wants_thumb {
        return match thumb::thumbnail(&files, &record).await {
            Some((path, content_type)) => {
                let etag = format!("\"{}-thumb\"", record.sha256);
                let name = format!("thumbnail of {}", record.name);
                send(&path, content_type, &name, &etag, headers).await
            }
            None => plain(StatusCode::NOT_FOUND, "This file has no thumbnail"),
        };
    }
    let Some(path) = files.blob_path(&record.sha256) else {
        return not_found();
    };
    let etag = format!("\"{}\"", record.sha256);
    send(&path, &record.content_type, &record.name, &etag, headers).await
}

/// Answers with the file at `path`, honouring `If-None-Match` and `Range`.
async fn send(
    path: &std::path::Path,
    content_type: &str,
    name: &str,
    etag: &str,
    headers: &HeaderMap,
) -> Response {
    let mut common = HeaderMap::new();
    let value = |text: &str| HeaderValue::from_str(text).ok();
    if let Some(v) = value(etag) {
        common.insert(header::ETAG, v);
    }
    // The bytes of an id never change; a day's caching still lets a deletion take effect.
    common.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("public, max-age=86400"),
    );
    common.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    common.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CSP),
    );
    common.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    if header_lists(headers, header::IF_NONE_MATCH, etag) {
        return (StatusCode::NOT_MODIFIED, common).into_response();
    }
    let mut file = match tokio::fs::File::open(path).await {
        Ok(file) => file,
        Err(error) => {
            warn!(path = %path.display(), %error, "a recorded file is missing on disk");
            return not_found();
        }
    };
    let size = match file.metadata().await {
        Ok(meta) => meta.len(),
        Err(_) => return not_found(),
    };
    let kind = if inline_safe(content_type) {
        "inline"
    } else {
        "attachment"
    };
    if let Some(v) = value(content_type) {
        common.insert(header::CONTENT_TYPE, v);
    }
    if let Some(v) = value(&names::disposition(kind, name)) {
        common.insert(header::CONTENT_DISPOSITION, v);
    }
    common.insert(header::ACCEPT_RANGES, HeaderValue::from_static("bytes"));
    // A Range for another version (If-Range with another ETag) gets the whole file.
    let range_applies = headers
        .get(header::IF_RANGE)
        .is_none_or(|v| v.as_bytes() == etag.as_bytes());
    let range = headers
        .get(header::RANGE)
        .filter(|_| range_applies)
        .and_then(|v| v.to_str().ok());
    let (status, start, len) = match parse_range(range, size) {
        Ask::Whole => (StatusCode::OK, 0, size),
        Ask::Part(first, last) => {
            if let Some(v) = value(&format!("bytes {first}-{last}/{size}")) {
                common.insert(header::CONTENT_RANGE, v);
            }
            (StatusCode::PARTIAL_CONTENT, first, last - first + 1)
        }
        Ask::Unsatisfiable => {
            if let Some(v) = value(&format!("bytes */{size}")) {
                common.insert(header::CONTENT_RANGE, v);
            }
            return (StatusCode::RANGE_NOT_SATISFIABLE, common).into_response();
        }
    };
    if start > 0 && file.seek(SeekFrom::Start(start)).await.is_err() {
        return not_found();
    }
    common.insert(header::CONTENT_LENGTH, HeaderValue::from(len));
    (status, common, file_body(file, len)).into_response()
}

/// Whether header `name` lists `etag` (or `*`).
fn header_lists(headers: &HeaderMap, name: header::HeaderName, etag: &str) -> bool {
    headers
        .get_all(name)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(|tag| tag.trim().trim_start_matches("W/"))
        .any(|tag| tag == etag || tag == "*")
}

/// What a `Range` header asks of a file of `size` bytes (RFC 9110 section 14).
#[derive(Debug, PartialEq, Eq)]
enum Ask {
    /// The whole file: no range, a unit other than bytes, several ranges, or a malformed one
    /// (which RFC 9110 says to ignore).
    Whole,
    /// Bytes `first..=last`.
    Part(u64, u64),
    /// A range that starts past the end.
    Unsatisfiable,
}

fn parse_range(value: Option<&str>, size: u64) -> Ask {
    let Some(spec) = value.and_then(|v| v.trim().strip_prefix("bytes=")) else {
        return Ask::Whole;
    };
    if spec.contains(',') {
        return Ask::Whole;
    }
    let Some((first, last)) = spec.trim().split_once('-') else {
        return Ask::Whole;
    };
    let number = |s: &str| -> Option<u64> {
        let s = s.trim();
        (!s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()))
            .then(|| s.parse().ok())
            .flatten()
    };
    match (first.trim().is_empty(), number(first), number(last)) {
        // `-n`: the last n bytes.
        (true, _, Some(n)) => {
            if n == 0 || size == 0 {
                Ask::Unsatisfiable
            } else {
                Ask::Part(size.saturating_sub(n), size - 1)
            }
        }
        (false, Some(first), last) if last.is_some() || last.is_none() && last_is_empty(spec) => {
            if let Some(last) = last
                && last < first
            {
                return Ask::Whole;
            }
            if first >= size {
                return Ask::Unsatisfiable;
            }
            let last = last.map_or(size - 1, |l| l.min(size - 1));
            Ask::Part(first, last)
        }
        _ => Ask::Whole,
    }
}

fn last_is_empty(spec: &str) -> bool {
    spec.split_once('-')
        .is_some_and(|(_, l)| l.trim().is_empty())
}

/// The next `len` bytes of `file`, as a body that reads [`CHUNK`] at a time.
fn file_body(file: tokio::fs::File, len: u64) -> Body {
    let chunks = futures::stream::try_unfold((file, len), |(mut file, left)| async move {
        if left == 0 {
            return Ok::<_, std::io::Error>(None);
        }
        let want = usize::try_from(left).map_or(CHUNK, |l| l.min(CHUNK));
        let mut buf = vec![0u8; want];
        let n = file.read(&mut buf).await?;
        if n == 0 {
            return Err(std::io::Error::new(
                std::io::ErrorKind::UnexpectedEof,
                "a stored file is shorter than it was",
            ));
        }
        buf.truncate(n);
        Ok(Some((Bytes::from(buf), (file, left - n as u64))))
    });
    Body::from_stream(chunks)
}

async fn remove(http: &Http, peer: SocketAddr, id: &str, headers: &HeaderMap) -> Response {
    if http.files.is_none() {
        return StatusCode::NOT_FOUND.into_response();
    }
    // Who asks first: an unknown id and someone else's file look the same to a stranger.
    let account = match authenticate(http, peer, headers).await {
        Ok(account) => account,
        Err(response) => return response,
    };
    let (files, record) = match find(http, id).await {
        Ok(found) => found,
        Err(response) => return response,
    };
    let state = &http.shared.state;
    let is_oper = state.config.opers.iter().any(|oper| {
        oper.account
            .as_deref()
            .is_some_and(|a| crate::account::key(a) == account.key)
    });
    if record.owner != account.key && !is_oper {
        return plain(
            StatusCode::FORBIDDEN,
            "Only the file's owner or an operator may delete it",
        );
    }
    match files.remove(state, &record).await {
        Ok(true) => {
            info!(%peer, account = %Escaped(&account.name), id = %record.id, oper = is_oper,
                "file deleted");
            StatusCode::NO_CONTENT.into_response()
        }
        Ok(false) => not_found(),
        Err(error) => {
            warn!(%error, "a file could not be deleted");
            plain(StatusCode::SERVICE_UNAVAILABLE, "Try again later")
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_are_read_as_rfc_9110_says() {
        let cases = [
            (None, Ask::Whole),
            (Some("bytes=0-0"), Ask::Part(0, 0)),
            (Some("bytes=2-5"), Ask::Part(2, 5)),
            (Some("bytes=2-"), Ask::Part(2, 9)),
            (Some("bytes=8-100"), Ask::Part(8, 9)),
            (Some("bytes=-3"), Ask::Part(7, 9)),
            (Some("bytes=-30"), Ask::Part(0, 9)),
            (Some("bytes=10-"), Ask::Unsatisfiable),
            (Some("bytes=10-12"), Ask::Unsatisfiable),
            (Some("bytes=-0"), Ask::Unsatisfiable),
            (Some("bytes=5-2"), Ask::Whole),
            (Some("bytes=0-1,3-4"), Ask::Whole),
            (Some("items=0-1"), Ask::Whole),
            (Some("bytes=x-1"), Ask::Whole),
            (Some("bytes=+1-2"), Ask::Whole),
            (Some("bytes=-"), Ask::Whole),
            (Some("bytes=99999999999999999999999-"), Ask::Whole),
        ];
        for (value, want) in cases {
            assert_eq!(parse_range(value, 10), want, "{value:?}");
        }
    }

    #[test]
    fn nothing_that_runs_in_a_browser_is_inline() {
        for t in [
            "text/html",
            "image/svg+xml",
            "text/xml",
            "application/xml",
            "application/javascript",
            "text/plain; charset=utf-8",
            "application/pdf",
            "application/octet-stream",
        ] {
            assert!(!inline_safe(t), "{t}");
        }
        assert!(inline_safe("image/png"));
    }
}
