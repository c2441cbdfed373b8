//! Sending files from the app (issue 14) against a real server with its file host on: a file
//! dropped onto the window is uploaded with the account the app logged in with and its link
//! reaches the others in the channel; a file over the limit is refused in words; Cancel stops
//! an upload the host is taking slowly; and without an account the 📎 button says to log in.

mod common;

use std::io::{BufRead as _, BufReader, Read as _, Write as _};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::mpsc::channel;
use std::time::Duration;

use anyhow::{Context as _, Result};
use charla_app::CharlaApp;
use charla_app::upload::{self, Credentials, Source, UploadError};
use charla_client::BufferId;
use common::files::{CHANNEL, MAX_BYTES, app_in_channel, file_server, make_account, scratch};
use common::{TestClient, WAIT, click, fill, runtime, shows_part, step_until};
use egui_kittest::Harness;
use egui_kittest::kittest::{NodeT as _, Queryable as _};

/// A file dropped onto the window, as eframe hands it over.
#[derive(Debug)]
struct Dropped(PathBuf);

impl egui::DroppedFile for Dropped {
    fn path(&self) -> &Path {
        &self.0
    }

    fn bytes(&self) -> Result<Vec<u8>, String> {
        std::fs::read(&self.0).map_err(|e| e.to_string())
    }
}

fn drop_file(h: &mut Harness<'static, CharlaApp>, path: &Path) {
    h.input_mut()
        .dropped_files
        .push(Arc::new(Dropped(path.to_owned())));
    h.step();
}

#[test]
fn a_dropped_file_is_uploaded_and_its_link_reaches_the_channel() -> Result<()> {
    let rt = runtime()?;
    let dir = scratch("drop")?;
    let (_server, addr) = file_server(&rt, &dir.join("server"), None)?;
    make_account(&rt, addr, "ana")?;
    let mut bob = rt.block_on(async {
        let mut bob = TestClient::register(addr, "bob").await?;
        bob.send(&format!("JOIN {CHANNEL}")).await?;
        bob.expect(|l| l.contains(" 366 ")).await?;
        anyhow::Ok(bob)
    })?;
    let mut h = app_in_channel(&rt, addr, "ana", Some("ana"))?;

    let photo = dir.join("foto de la playa ñ.png");
    let mut png = Vec::new();
    image::RgbaImage::from_pixel(40, 30, image::Rgba([20, 120, 220, 255]))
        .write_to(&mut std::io::Cursor::new(&mut png), image::ImageFormat::Png)?;
    std::fs::write(&photo, &png)?;
    // Dragged over the window first: it says where the file will go.
    h.input_mut().hovered_files.push(egui::HoveredFile {
        path: Some(photo.clone()),
        mime: String::new(),
    });
    h.step();
    h.step();
    assert!(shows_part(&h, &format!("📎 Drop to send to {CHANNEL}")));
    h.input_mut().hovered_files.clear();
    drop_file(&mut h, &photo);
    step_until(&mut h, "the upload done", |h| {
        h.state()
            .sessions()
            .first()
            .is_some_and(|s| s.uploads.running.is_empty())
    })?;
    let error = h
        .state()
        .sessions()
        .first()
        .and_then(|s| s.uploads.error.clone());
    assert_eq!(error, None, "no problem");

    let said = rt.block_on(bob.expect(|l| l.contains(&format!("PRIVMSG {CHANNEL} :http"))))?;
    let url = said.rsplit_once(" :").context("a text")?.1.to_owned();
    assert!(
        url.ends_with("/foto%20de%20la%20playa%20%C3%B1.png"),
        "the link names the file, whole: {url}"
    );
    let mut response = ureq::get(&url).call()?;
    assert_eq!(
        response.body_mut().read_to_vec()?,
        png,
        "the same bytes back"
    );
    std::fs::remove_dir_all(&dir)?;
    Ok(())
}

#[test]
fn a_file_over_the_limit_is_refused_in_words_through_the_paperclip() -> Result<()> {
    let rt = runtime()?;
    let dir = scratch("big")?;
    let (_server, addr) = file_server(&rt, &dir.join("server"), None)?;
    make_account(&rt, addr, "ana")?;
    let mut h = app_in_channel(&rt, addr, "ana", Some("ana"))?;

    let big = dir.join("vídeo grande.bin");
    std::fs::write(&big, vec![7u8; 4 * MAX_BYTES as usize])?;
    click(&mut h, "Send a file")?;
    fill(&mut h, "File to send", &big.to_string_lossy());
    click(&mut h, "Upload")?;
    step_until(&mut h, "the refusal", |h| {
        shows_part(
            h,
            "“vídeo grande.bin” was not sent: the file is too big for this server",
        )
    })?;
    std::fs::remove_dir_all(&dir)?;
    Ok(())
}

#[test]
fn a_wrong_password_is_said_in_words() -> Result<()> {
    let rt = runtime()?;
    let dir = scratch("password")?;
    let (server, addr) = file_server(&rt, &dir.join("server"), None)?;
    make_account(&rt, addr, "ana")?;
    let http = server.http_addr().context("HTTP listener")?;
    let wrong = Credentials {
        account: "ana".to_owned(),
        password: "no es esta".to_owned(),
    };
    let answer = upload::run(
        &format!("http://{http}/upload"),
        &wrong,
        Source::Bytes {
            name: "nota.txt".to_owned(),
            bytes: b"hola".to_vec(),
        },
        Default::default(),
        Default::default(),
    );
    assert_eq!(answer, Err(UploadError::WrongPassword));
    assert_eq!(
        UploadError::WrongPassword.to_string(),
        "the file host did not accept your account's password"
    );
    std::fs::remove_dir_all(&dir)?;
    Ok(())
}

#[test]
fn cancel_stops_an_upload_in_flight() -> Result<()> {
    // A file host that takes a few bytes now and then: the upload is still going when Cancel
    // is pressed, and the host sees the connection end before the file does.
    let slow = TcpListener::bind("127.0.0.1:0")?;
    let slow_url = format!("http://{}", slow.local_addr()?);
    let (seen_tx, seen) = channel();
    std::thread::spawn(move || {
        let Ok((stream, _)) = slow.accept() else {
            return;
        };
        let mut reader = BufReader::new(stream.try_clone().expect("clone"));
        let mut line = String::new();
        while reader.read_line(&mut line).is_ok_and(|n| n > 0) && line != "\r\n" {
            line.clear();
        }
        let _ = (&stream).write_all(b"HTTP/1.1 100 Continue\r\n\r\n");
        let mut got = 0usize;
        let mut chunk = vec![0u8; 64 * 1024];
        loop {
            match reader.read(&mut chunk) {
                Ok(0) | Err(_) => break,
                Ok(n) => got += n,
            }
            // Throttled: 64 KiB every 10 ms, so the file takes seconds (more than the
            // socket buffers hold) and a blocked write still wakes often enough to see Cancel.
            std::thread::sleep(Duration::from_millis(10));
        }
        let _ = seen_tx.send(got);
    });

    let rt = runtime()?;
    let dir = scratch("cancel")?;
    let (_server, addr) = file_server(&rt, &dir.join("server"), Some(slow_url))?;
    make_account(&rt, addr, "ana")?;
    let mut h = app_in_channel(&rt, addr, "ana", Some("ana"))?;

    let file = dir.join("lento.bin");
    let size = 32 * 1024 * 1024;
    std::fs::write(&file, vec![1u8; size])?;
    drop_file(&mut h, &file);
    step_until(&mut h, "the upload under way", |h| {
        h.state()
            .sessions()
            .first()
            .and_then(|s| s.uploads.running.first())
            .is_some_and(|u| u.progress() > 0.0)
    })?;
    assert!(shows_part(&h, "📎 lento.bin"), "the bar names the file");
    click(&mut h, "Cancel")?;
    step_until(&mut h, "the upload gone", |h| {
        h.state()
            .sessions()
            .first()
            .is_some_and(|s| s.uploads.running.is_empty() && s.uploads.error.is_none())
    })?;
    let got = seen.recv_timeout(WAIT)?;
    assert!(got < size, "the host got {got} of {size} bytes");
    std::fs::remove_dir_all(&dir)?;
    Ok(())
}

#[test]
fn without_an_account_the_paperclip_says_to_log_in() -> Result<()> {
    let rt = runtime()?;
    let dir = scratch("anon")?;
    let (_server, addr) = file_server(&rt, &dir.join("server"), None)?;
    let mut h = app_in_channel(&rt, addr, "anon", None)?;
    let session = h.state().sessions().first().context("a session")?;
    assert_eq!(
        charla_app::upload::unavailable(session, &BufferId::Channel(CHANNEL.into())),
        Some("Log in to an account with a password to send files.")
    );
    assert!(
        h.get_by_label("Send a file").accesskit_node().is_disabled(),
        "the button is off"
    );
    // A file dropped anyway says why it went nowhere.
    drop_file(&mut h, &dir.join("nota.txt"));
    assert!(shows_part(&h, "“nota.txt” was not sent: Log in"));
    std::fs::remove_dir_all(&dir)?;
    Ok(())
}
