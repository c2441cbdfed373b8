//! The file host (issue 14): uploads over HTTP authenticated with the account, downloads with
//! safe headers, ranges, thumbnails, deletion, quotas, limits, a restart, and ISUPPORT.
//! Each test runs a real server on 127.0.0.1 with a temporary data directory and SQLite.

mod common;

use std::net::SocketAddr;
use std::time::Duration;

use base64::Engine;
use charla_server::config::StoreConfig;
use charla_server::{Config, OperConfig, Server, ServerHandle};
use common::web::{Reply, http_config, request};
use common::{TIMEOUT, TestServer};
use tempfile::TempDir;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

const PASSWORD: &str = "contraseña-segura";
const MAX_BYTES: u64 = 64 * 1024;
const QUOTA: u64 = 100 * 1024;

/// The HTTP test config with the file host on, kept in `dir` (SQLite), small limits, and an
/// operator by account (`jefa`).
fn config(dir: &TempDir) -> Config {
    let mut c = http_config();
    c.store = StoreConfig::default();
    c.data_dir = dir.path().to_owned();
    c.files.enabled = true;
    c.files.max_bytes = MAX_BYTES;
    c.files.quota_bytes = QUOTA;
    c.opers.push(OperConfig {
        name: "jefa".to_owned(),
        password_hash: None,
        account: Some("jefa".to_owned()),
    });
    c
}

/// A running server with accounts made over IRC.
struct Host {
    server: TestServer,
    http: SocketAddr,
}

impl Host {
    async fn start(config: Config, accounts: &[&str]) -> Host {
        let server = TestServer::start_with(config).await;
        let http = server.handle.http_addr().expect("HTTP listener");
        for name in accounts {
            let mut c = server.client(name).await;
            c.send(&format!("REGISTER * * :{PASSWORD}")).await;
            let ok = c.expect_command("REGISTER").await;
            assert_eq!(ok.param(0), Some("SUCCESS"), "{ok}");
            c.send("QUIT").await;
        }
        Host { server, http }
    }

    fn handle(&self) -> &ServerHandle {
        &self.server.handle
    }

    /// Sends `head` (without the blank line) and `body`, and reads the whole answer.
    async fn send(&self, head: &str, body: &[u8]) -> Reply {
        let stream = TcpStream::connect(self.http).await.expect("connect");
        let mut raw =
            format!("{head}\r\nHost: {}\r\nConnection: close\r\n\r\n", self.http).into_bytes();
        raw.extend_from_slice(body);
        request(stream, &raw).await
    }

    /// Uploads `body` as `account` (with `PASSWORD`), named `name`, claiming `content_type`.
    async fn upload(&self, account: &str, name: &str, content_type: &str, body: &[u8]) -> Reply {
        let head = format!(
            "POST /upload HTTP/1.1\r\n{}\r\nContent-Type: {content_type}\r\n\
             Content-Disposition: attachment; filename=\"{name}\"\r\nContent-Length: {}",
            basic(account, PASSWORD),
            body.len()
        );
        self.send(&head, body).await
    }

    /// Uploads and returns the path of the file's URL, checking the 201.
    async fn uploaded(&self, account: &str, name: &str, body: &[u8]) -> String {
        let reply = self
            .upload(account, name, "application/octet-stream", body)
            .await;
        assert_eq!(reply.status, 201, "{}", reply.text());
        let location = reply.header("location").expect("Location").to_owned();
        path_of(&location)
    }

    async fn get(&self, path: &str, extra: &str) -> Reply {
        let head = if extra.is_empty() {
            format!("GET {path} HTTP/1.1")
        } else {
            format!("GET {path} HTTP/1.1\r\n{extra}")
        };
        self.send(&head, b"").await
    }

    async fn delete(&self, path: &str, auth: &str) -> Reply {
        let head = if auth.is_empty() {
            format!("DELETE {path} HTTP/1.1")
        } else {
            format!("DELETE {path} HTTP/1.1\r\n{auth}")
        };
        self.send(&head, b"").await
    }
}

fn basic(account: &str, password: &str) -> String {
    let token = base64::engine::general_purpose::STANDARD.encode(format!("{account}:{password}"));
    format!("Authorization: Basic {token}")
}

/// `http://irc.test:1234/files/x/y` → `/files/x/y`.
fn path_of(url: &str) -> String {
    let rest = url.split_once("://").expect("an absolute URL").1;
    rest[rest.find('/').expect("a path")..].to_owned()
}

/// `n` bytes that no magic number matches and that are not text.
fn opaque(n: usize, seed: u8) -> Vec<u8> {
    (0..n)
        .map(|i| (i as u8).wrapping_mul(31).wrapping_add(seed) | 0x80)
        .collect()
}

#[tokio::test]
async fn upload_and_download_round_trip_with_the_accounts_credentials() {
    let dir = TempDir::new().expect("temp dir");
    let host = Host::start(config(&dir), &["ana"]).await;
    let body = opaque(5000, 1);
    let reply = host
        .upload(
            "ana",
            "informe final.bin",
            "application/octet-stream",
            &body,
        )
        .await;
    assert_eq!(reply.status, 201, "{}", reply.text());
    let location = reply.header("location").expect("Location");
    assert!(
        location.starts_with(&format!("http://irc.test:{}/files/", host.http.port())),
        "{location}"
    );
    assert!(location.ends_with("/informe%20final.bin"), "{location}");
    assert_eq!(
        reply.header("access-control-expose-headers"),
        Some("Location")
    );

    let got = host.get(&path_of(location), "").await;
    assert_eq!(got.status, 200);
    assert_eq!(got.body, body);
    assert_eq!(got.header("content-type"), Some("application/octet-stream"));
    let disposition = got.header("content-disposition").expect("disposition");
    assert!(disposition.starts_with("attachment;"), "{disposition}");
    assert!(disposition.contains("informe%20final.bin"), "{disposition}");
    assert_eq!(got.header("x-content-type-options"), Some("nosniff"));
    assert_eq!(
        got.header("content-security-policy"),
        Some("default-src 'none'; sandbox")
    );
    let etag = got.header("etag").expect("ETag").to_owned();
    assert!(got.header("cache-control").is_some());

    // The id alone finds it too; the ETag answers 304.
    let id_only = path_of(location)
        .rsplit_once('/')
        .expect("name")
        .0
        .to_owned();
    assert_eq!(host.get(&id_only, "").await.body, body);
    let cached = host.get(&id_only, &format!("If-None-Match: {etag}")).await;
    assert_eq!(cached.status, 304);
    assert!(cached.body.is_empty());

    // The same bytes again: a new id, one blob on disk.
    let again = host.uploaded("ana", "copia.bin", &body).await;
    assert_ne!(again, path_of(location));
    let blobs: Vec<_> = walk(&dir.path().join("files"))
        .into_iter()
        .filter(|p| !p.contains("/files/tmp/") && !p.contains("/files/thumbs/"))
        .collect();
    assert_eq!(blobs.len(), 1, "{blobs:?}");

    // The counters moved.
    let metrics = host.get("/metrics", "").await.text();
    assert!(metrics.contains("charla_uploads_total 2"), "{metrics}");
    assert!(
        metrics.contains("charla_upload_bytes_total 10000"),
        "{metrics}"
    );
}

/// Every file under `dir`, as text.
fn walk(dir: &std::path::Path) -> Vec<String> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir(dir).expect("read dir").flatten() {
        let path = entry.path();
        if path.is_dir() {
            found.extend(walk(&path));
        } else {
            found.push(path.display().to_string());
        }
    }
    found
}

#[tokio::test]
async fn no_or_wrong_credentials_get_401() {
    let dir = TempDir::new().expect("temp dir");
    let host = Host::start(config(&dir), &["ana"]).await;
    let none = host
        .send("POST /upload HTTP/1.1\r\nContent-Length: 3", b"abc")
        .await;
    assert_eq!(none.status, 401);
    assert!(
        none.header("www-authenticate")
            .is_some_and(|v| v.starts_with("Basic"))
    );

    let wrong = format!(
        "POST /upload HTTP/1.1\r\n{}\r\nContent-Length: 3",
        basic("ana", "otra-cosa")
    );
    assert_eq!(host.send(&wrong, b"abc").await.status, 401);
    let nobody = format!(
        "POST /upload HTTP/1.1\r\n{}\r\nContent-Length: 3",
        basic("nadie", PASSWORD)
    );
    assert_eq!(host.send(&nobody, b"abc").await.status, 401);
    let bearer = "POST /upload HTTP/1.1\r\nAuthorization: Bearer abc\r\nContent-Length: 3";
    assert_eq!(host.send(bearer, b"abc").await.status, 401);
    assert!(walk(&dir.path().join("files").join("tmp")).is_empty());
}

#[tokio::test]
async fn remembered_credentials_are_forgotten_when_the_password_changes() {
    let dir = TempDir::new().expect("temp dir");
    let host = Host::start(config(&dir), &["ana"]).await;
    // Verified once, then taken from memory: the right password works again, a wrong one
    // still does not.
    host.uploaded("ana", "uno.bin", &opaque(100, 1)).await;
    host.uploaded("ana", "dos.bin", &opaque(100, 2)).await;
    let wrong = format!(
        "POST /upload HTTP/1.1\r\n{}\r\nContent-Length: 3",
        basic("ana", "otra-cosa")
    );
    assert_eq!(host.send(&wrong, b"abc").await.status, 401);
    // A new password: the old one is refused at once, the new one works.
    let mut ana = host.server.connect().await;
    ana.log_in_with_sasl("ana", "ana", PASSWORD, "").await;
    ana.send("PRIVMSG NickServ :SET PASSWORD nueva-contraseña-larga")
        .await;
    let said = ana.expect_command("NOTICE").await;
    assert!(
        said.param(1).is_some_and(|t| t.contains("changed")),
        "{said}"
    );
    let old = host
        .upload(
            "ana",
            "tres.bin",
            "application/octet-stream",
            &opaque(100, 3),
        )
        .await;
    assert_eq!(old.status, 401);
    let head = format!(
        "POST /upload HTTP/1.1\r\n{}\r\nContent-Length: 100",
        basic("ana", "nueva-contraseña-larga")
    );
    assert_eq!(host.send(&head, &opaque(100, 4)).await.status, 201);
}

/// Sends `head` and whatever `body` writes, and returns the status line the server answers
/// with while the body is still unfinished.
async fn status_before_the_end(http: SocketAddr, head: String, chunks: Vec<Vec<u8>>) -> String {
    let mut stream = TcpStream::connect(http).await.expect("connect");
    stream.write_all(head.as_bytes()).await.expect("send head");
    let (mut reader, mut writer) = stream.into_split();
    let sending = tokio::spawn(async move {
        for chunk in chunks {
            if writer.write_all(&chunk).await.is_err() {
                return;
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        // Never the end of the body: the answer must come without it.
        tokio::time::sleep(Duration::from_secs(30)).await;
        drop(writer);
    });
    let mut raw = Vec::new();
    let mut buf = [0u8; 1024];
    let read = tokio::time::timeout(TIMEOUT, async {
        while !raw.windows(2).any(|w| w == b"\r\n") {
            match reader.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => raw.extend_from_slice(&buf[..n]),
            }
        }
    })
    .await;
    sending.abort();
    assert!(read.is_ok(), "no answer before the end of the body");
    let text = String::from_utf8_lossy(&raw).into_owned();
    text.lines().next().unwrap_or_default().to_owned()
}

#[tokio::test]
async fn over_the_size_limit_is_413_without_reading_the_whole_body() {
    let dir = TempDir::new().expect("temp dir");
    let host = Host::start(config(&dir), &["ana"]).await;
    let auth = basic("ana", PASSWORD);

    // Declared too large: answered before a byte of the body is sent.
    let head = format!(
        "POST /upload HTTP/1.1\r\nHost: x\r\n{auth}\r\nContent-Length: {}\r\n\r\n",
        MAX_BYTES + 1
    );
    let status = status_before_the_end(host.http, head, Vec::new()).await;
    assert!(status.contains(" 413 "), "{status}");

    // Chunked, growing past the limit: cut off as soon as it does.
    let head =
        format!("POST /upload HTTP/1.1\r\nHost: x\r\n{auth}\r\nTransfer-Encoding: chunked\r\n\r\n");
    let chunk = |n: usize| {
        let mut c = format!("{n:x}\r\n").into_bytes();
        c.extend(opaque(n, 2));
        c.extend_from_slice(b"\r\n");
        c
    };
    let chunks: Vec<Vec<u8>> = (0..6).map(|_| chunk(16 * 1024)).collect();
    let status = status_before_the_end(host.http, head, chunks).await;
    assert!(status.contains(" 413 "), "{status}");

    // Nothing was kept, and a file at the limit goes in.
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert!(walk(&dir.path().join("files").join("tmp")).is_empty());
    host.uploaded("ana", "justo.bin", &opaque(MAX_BYTES as usize, 3))
        .await;
}

#[tokio::test]
async fn over_quota_is_refused() {
    let dir = TempDir::new().expect("temp dir");
    let host = Host::start(config(&dir), &["ana", "bea"]).await;
    host.uploaded("ana", "a.bin", &opaque(60 * 1024, 4)).await;
    let refused = host
        .upload(
            "ana",
            "b.bin",
            "application/octet-stream",
            &opaque(60 * 1024, 5),
        )
        .await;
    assert_eq!(refused.status, 413);
    assert!(refused.text().contains("quota"), "{}", refused.text());
    // Another account has its own quota; a small file still fits in ana's.
    host.uploaded("bea", "b.bin", &opaque(60 * 1024, 5)).await;
    host.uploaded("ana", "c.bin", &opaque(30 * 1024, 6)).await;
}

#[tokio::test]
async fn path_traversal_finds_nothing() {
    let dir = TempDir::new().expect("temp dir");
    let host = Host::start(config(&dir), &["ana"]).await;
    std::fs::write(dir.path().join("secret.txt"), "root:x:0:0").expect("write");
    let files = dir.path().join("files");
    std::fs::create_dir_all(&files).expect("dir");
    for path in [
        "/files/../../etc/passwd",
        "/files/..%2F..%2Fetc%2Fpasswd",
        "/files/%2e%2e/%2e%2e/secret.txt",
        "/files/..%2Fsecret.txt/x",
        "/files/%2E%2E%5Csecret.txt",
        "/files/....//....//etc/passwd",
        "/files/charla.db",
        "/files/tmp/x",
    ] {
        let reply = host.get(path, "").await;
        assert!(
            matches!(reply.status, 400 | 404),
            "{path}: {}",
            reply.status
        );
        assert!(!reply.text().contains("root:"), "{path}");
        assert!(!reply.text().contains("SQLite"), "{path}");
    }
}

#[tokio::test]
async fn a_forged_content_type_is_served_as_what_the_bytes_are_and_as_an_attachment() {
    let dir = TempDir::new().expect("temp dir");
    let host = Host::start(config(&dir), &["ana"]).await;
    let page = b"<!DOCTYPE html><html><body><script>alert(document.cookie)</script></body></html>";
    let reply = host.upload("ana", "cat.png", "image/png", page).await;
    assert_eq!(reply.status, 201);
    let got = host
        .get(&path_of(reply.header("location").expect("Location")), "")
        .await;
    assert_eq!(got.status, 200);
    let content_type = got.header("content-type").expect("type");
    assert_ne!(content_type, "image/png");
    assert!(
        got.header("content-disposition")
            .is_some_and(|d| d.starts_with("attachment")),
        "{:?}",
        got.header("content-disposition")
    );
    assert_eq!(got.header("x-content-type-options"), Some("nosniff"));
    assert!(
        got.header("content-security-policy")
            .is_some_and(|p| p.contains("sandbox"))
    );
    // An SVG (scripts inside an image) is never inline either.
    let svg = br#"<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>"#;
    let path = host.uploaded("ana", "logo.svg", svg).await;
    let got = host.get(&path, "").await;
    assert!(
        got.header("content-disposition")
            .is_some_and(|d| d.starts_with("attachment"))
    );
}

#[tokio::test]
async fn range_requests_return_the_right_bytes() {
    let dir = TempDir::new().expect("temp dir");
    let host = Host::start(config(&dir), &["ana"]).await;
    let body = opaque(1000, 7);
    let path = host.uploaded("ana", "r.bin", &body).await;

    let part = host.get(&path, "Range: bytes=10-19").await;
    assert_eq!(part.status, 206);
    assert_eq!(part.body, &body[10..20]);
    assert_eq!(part.header("content-range"), Some("bytes 10-19/1000"));
    assert_eq!(part.header("content-length"), Some("10"));

    let tail = host.get(&path, "Range: bytes=-5").await;
    assert_eq!(tail.status, 206);
    assert_eq!(tail.body, &body[995..]);
    let open = host.get(&path, "Range: bytes=990-").await;
    assert_eq!(open.body, &body[990..]);

    let past = host.get(&path, "Range: bytes=1000-").await;
    assert_eq!(past.status, 416);
    assert_eq!(past.header("content-range"), Some("bytes */1000"));
    // Several ranges: the whole file.
    let many = host.get(&path, "Range: bytes=0-1,5-6").await;
    assert_eq!(many.status, 200);
    assert_eq!(many.body, body);
}

#[tokio::test]
async fn a_restart_keeps_the_file() {
    let dir = TempDir::new().expect("temp dir");
    let host = Host::start(config(&dir), &["ana"]).await;
    let body = opaque(2000, 8);
    let path = host.uploaded("ana", "kept.bin", &body).await;
    host.handle().shutdown().await;
    drop(host);

    let again = Server::start(config(&dir)).await.expect("restarts");
    let http = again.http_addr().expect("HTTP");
    let stream = TcpStream::connect(http).await.expect("connect");
    let raw = format!("GET {path} HTTP/1.1\r\nHost: {http}\r\nConnection: close\r\n\r\n");
    let got = request(stream, raw.as_bytes()).await;
    assert_eq!(got.status, 200);
    assert_eq!(got.body, body);
    again.shutdown().await;
}

#[tokio::test]
async fn only_the_owner_or_an_operator_deletes() {
    let dir = TempDir::new().expect("temp dir");
    let host = Host::start(config(&dir), &["ana", "bea", "jefa"]).await;
    let first = host.uploaded("ana", "uno.bin", &opaque(100, 9)).await;
    let second = host.uploaded("ana", "dos.bin", &opaque(100, 10)).await;

    assert_eq!(host.delete(&first, "").await.status, 401);
    assert_eq!(
        host.delete(&first, &basic("bea", PASSWORD)).await.status,
        403
    );
    assert_eq!(host.get(&first, "").await.status, 200);
    assert_eq!(
        host.delete(&first, &basic("ana", PASSWORD)).await.status,
        204
    );
    assert_eq!(host.get(&first, "").await.status, 404);
    assert_eq!(
        host.delete(&first, &basic("ana", PASSWORD)).await.status,
        404
    );

    assert_eq!(
        host.delete(&second, &basic("jefa", PASSWORD)).await.status,
        204
    );
    assert_eq!(host.get(&second, "").await.status, 404);
    // No blob is left behind.
    let left: Vec<_> = walk(&dir.path().join("files"))
        .into_iter()
        .filter(|p| !p.contains("/files/tmp/"))
        .collect();
    assert!(left.is_empty(), "{left:?}");
}

/// A JPEG of `width` × `height` with an EXIF segment holding a GPS position after SOI, and
/// the same JPEG without it.
fn photo_with_gps(width: u32, height: u32) -> (Vec<u8>, Vec<u8>) {
    let img = image::RgbImage::from_fn(width, height, |x, y| {
        image::Rgb([(x % 256) as u8, (y % 256) as u8, 128])
    });
    let mut encoded = Vec::new();
    image::codecs::jpeg::JpegEncoder::new(&mut encoded)
        .encode_image(&img)
        .expect("encode");
    let exif = b"Exif\0\0MM\0*GPSLatitude=40.4168N;GPSLongitude=3.7038W";
    let mut out = encoded[..2].to_vec();
    out.extend_from_slice(&[0xFF, 0xE1]);
    out.extend_from_slice(&u16::try_from(exif.len() + 2).expect("short").to_be_bytes());
    out.extend_from_slice(exif);
    out.extend_from_slice(&encoded[2..]);
    (out, encoded)
}

#[tokio::test]
async fn jpeg_gps_metadata_is_stripped_and_a_thumbnail_is_served() {
    let dir = TempDir::new().expect("temp dir");
    let host = Host::start(config(&dir), &["ana"]).await;
    let (photo, without) = photo_with_gps(640, 480);
    assert!(photo.windows(11).any(|w| w == b"GPSLatitude"));
    let reply = host.upload("ana", "playa.jpg", "image/jpeg", &photo).await;
    assert_eq!(reply.status, 201, "{}", reply.text());
    let path = path_of(reply.header("location").expect("Location"));

    let got = host.get(&path, "").await;
    assert_eq!(got.header("content-type"), Some("image/jpeg"));
    assert!(
        got.header("content-disposition")
            .is_some_and(|d| d.starts_with("inline"))
    );
    assert!(!got.body.windows(11).any(|w| w == b"GPSLatitude"));
    assert!(!got.body.windows(4).any(|w| w == b"Exif"));
    let decoded = image::load_from_memory(&got.body).expect("still a JPEG");
    assert_eq!((decoded.width(), decoded.height()), (640, 480));
    assert!(
        got.body == without,
        "only the EXIF segment went, byte for byte"
    );

    let thumb = host.get(&format!("{path}?thumb"), "").await;
    assert_eq!(thumb.status, 200);
    assert_eq!(thumb.header("content-type"), Some("image/jpeg"));
    let small = image::load_from_memory(&thumb.body).expect("a thumbnail");
    assert_eq!((small.width(), small.height()), (320, 240));
    // Not an image: no thumbnail.
    let other = host.uploaded("ana", "x.bin", &opaque(10, 1)).await;
    assert_eq!(host.get(&format!("{other}?thumb"), "").await.status, 404);
}

#[tokio::test]
async fn keep_metadata_keeps_it() {
    let dir = TempDir::new().expect("temp dir");
    let mut c = config(&dir);
    c.files.keep_metadata = true;
    let host = Host::start(c, &["ana"]).await;
    let (photo, _) = photo_with_gps(16, 16);
    let path = host.uploaded("ana", "p.jpg", &photo).await;
    assert_eq!(host.get(&path, "").await.body, photo);
}

#[tokio::test]
async fn isupport_advertises_the_upload_url() {
    let dir = TempDir::new().expect("temp dir");
    let host = Host::start(config(&dir), &[]).await;
    let mut c = host.server.connect().await;
    c.send("NICK lector").await;
    c.send("USER lector 0 * :lector").await;
    let want = format!(
        "soju.im/FILEHOST=http://irc.test:{}/upload",
        host.http.port()
    );
    c.expect(&"FILEHOST in 005", |m| {
        m.command == "005" && m.params.contains(&want)
    })
    .await;

    // With the file host off, no token.
    let off_dir = TempDir::new().expect("temp dir");
    let mut off = config(&off_dir);
    off.files.enabled = false;
    let server = TestServer::start_with(off).await;
    let mut c = server.connect().await;
    c.send("NICK lector").await;
    c.send("USER lector 0 * :lector").await;
    let isupport = c.expect(&"005", |m| m.command == "005").await;
    assert!(!isupport.to_string().contains("FILEHOST"), "{isupport}");
    let reply = {
        let http = server.handle.http_addr().expect("HTTP");
        let stream = TcpStream::connect(http).await.expect("connect");
        request(
            stream,
            b"POST /upload HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Length: 0\r\n\r\n",
        )
        .await
    };
    assert_eq!(reply.status, 404);
}

#[tokio::test]
async fn retention_removes_old_files_at_start() {
    use charla_store::{FileRecord, MemoryStore, Store, Write};
    use sha2::Digest;

    let dir = TempDir::new().expect("temp dir");
    let mut c = config(&dir);
    c.files.retention_days = 30;
    let old = opaque(100, 11);
    let fresh = opaque(100, 12);
    let store = MemoryStore::new();
    let now_ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock")
        .as_millis() as i64;
    let mut ids = Vec::new();
    for (n, (bytes, created_ms)) in [(&old, now_ms - 31 * 86_400_000), (&fresh, now_ms)]
        .into_iter()
        .enumerate()
    {
        let sha256: String = sha2::Sha256::digest(bytes)
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        let blob = dir.path().join("files").join(&sha256[..2]).join(&sha256);
        std::fs::create_dir_all(blob.parent().expect("dir")).expect("mkdir");
        std::fs::write(&blob, bytes).expect("blob");
        let id = format!("{n}aaaaaaaaaaaaaaaaaaaaa");
        let record = FileRecord {
            id: id.clone(),
            owner: "ana".to_owned(),
            name: "x.bin".to_owned(),
            content_type: "application/octet-stream".to_owned(),
            size: 100,
            sha256,
            created_ms,
        };
        assert_eq!(
            store.apply(&[Write::AddFile(record)]).expect("apply"),
            [Ok(())]
        );
        ids.push((id, blob));
    }
    let handle = Server::start_with_store(c, std::sync::Arc::new(store))
        .await
        .expect("starts");
    let http = handle.http_addr().expect("HTTP");
    let fetch = |id: String| async move {
        let stream = TcpStream::connect(http).await.expect("connect");
        let raw = format!("GET /files/{id} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
        request(stream, raw.as_bytes()).await
    };
    assert_eq!(fetch(ids[0].0.clone()).await.status, 404);
    assert!(!ids[0].1.exists(), "the old blob is gone");
    let kept = fetch(ids[1].0.clone()).await;
    assert_eq!(kept.status, 200);
    assert_eq!(kept.body, fresh);
    handle.shutdown().await;
}
