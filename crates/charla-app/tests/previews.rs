//! Link previews (issue 14) against a real server with its file host on: a picture uploaded
//! there and linked in the channel is drawn under the line and opens whole in a viewer; a
//! file that is not a picture shows its name, size and type; and a picture on another site is
//! not fetched while "🖼 Pictures" stays on "this server".

mod common;

use std::net::TcpListener;

use anyhow::{Context as _, Result};
use base64::Engine as _;
use charla_app::CharlaApp;
use common::files::{CHANNEL, PASSWORD, app_in_channel, file_server, make_account, scratch};
use common::{TestClient, click, runtime, shows, shows_part, step_until};
use egui_kittest::Harness;

/// Uploads `body` named `name` to `upload_url` as `account`; returns the link.
fn upload(upload_url: &str, account: &str, name: &str, body: &[u8]) -> Result<String> {
    let token = base64::engine::general_purpose::STANDARD.encode(format!("{account}:{PASSWORD}"));
    let response = ureq::post(upload_url)
        .header("Authorization", format!("Basic {token}"))
        .header("Content-Disposition", charla_app::upload::disposition(name))
        .send(body)?;
    assert_eq!(response.status().as_u16(), 201);
    Ok(response
        .headers()
        .get("location")
        .context("a Location")?
        .to_str()?
        .to_owned())
}

fn previews<'a>(h: &'a Harness<'static, CharlaApp>) -> &'a charla_app::previews::Previews {
    &h.state().sessions()[0].previews
}

#[test]
fn a_picture_on_the_file_host_is_drawn_under_its_line_and_opens_whole() -> Result<()> {
    let rt = runtime()?;
    let dir = scratch("preview")?;
    let (_server, addr) = file_server(&rt, &dir.join("server"), None)?;
    make_account(&rt, addr, "ana")?;
    let mut h = app_in_channel(&rt, addr, "ana", Some("ana"))?;
    let upload_url = h.state().sessions()[0]
        .state
        .isupport
        .filehost
        .clone()
        .context("FILEHOST")?;

    let mut png = Vec::new();
    image::RgbaImage::from_pixel(300, 200, image::Rgba([250, 200, 20, 255]))
        .write_to(&mut std::io::Cursor::new(&mut png), image::ImageFormat::Png)?;
    let picture = upload(&upload_url, "ana", "foto de la playa ñ.png", &png)?;
    let notes = upload(&upload_url, "ana", "notas ñ.txt", "hola, mundo".as_bytes())?;

    rt.block_on(async {
        let mut bob = TestClient::register(addr, "bob").await?;
        bob.send(&format!(
            "JOIN {CHANNEL}\r\nPRIVMSG {CHANNEL} :mira {picture}"
        ))
        .await?;
        bob.send(&format!("PRIVMSG {CHANNEL} :y las notas: {notes}"))
            .await?;
        anyhow::Ok(bob)
    })?;
    step_until(&mut h, "the picture drawn", |h| {
        previews(h).is_picture(&picture) && shows(h, "Picture: foto de la playa ñ.png")
    })?;
    step_until(&mut h, "the file's chip", |h| {
        shows_part(h, "📄 notas ñ.txt · 11 bytes · text/plain")
    })?;

    click(&mut h, "Picture: foto de la playa ñ.png")?;
    step_until(&mut h, "the whole picture in the viewer", |h| {
        previews(h).is_in_viewer(&picture) && shows(h, "Open in the browser")
    })?;
    std::fs::remove_dir_all(&dir)?;
    Ok(())
}

#[test]
fn a_picture_on_another_site_is_not_fetched_unless_allowed() -> Result<()> {
    // "Another site": a listener that only counts who comes.
    let elsewhere = TcpListener::bind("127.0.0.1:0")?;
    elsewhere.set_nonblocking(true)?;
    let link = format!(
        "https://localhost:{}/gato.png",
        elsewhere.local_addr()?.port()
    );

    let rt = runtime()?;
    let dir = scratch("elsewhere")?;
    let (_server, addr) = file_server(&rt, &dir.join("server"), None)?;
    make_account(&rt, addr, "ana")?;
    let mut h = app_in_channel(&rt, addr, "ana", Some("ana"))?;
    rt.block_on(async {
        let mut bob = TestClient::register(addr, "bob").await?;
        bob.send(&format!(
            "JOIN {CHANNEL}\r\nPRIVMSG {CHANNEL} :un gato {link}"
        ))
        .await?;
        anyhow::Ok(bob)
    })?;
    step_until(&mut h, "bob's line", |h| shows_part(h, "un gato"))?;
    for _ in 0..10 {
        h.step();
    }
    assert!(!previews(&h).was_asked(&link), "nothing asked");
    assert!(elsewhere.accept().is_err(), "no one came to the other site");

    // Allowed, the same link is fetched: the listener above would have seen it.
    click(&mut h, "Pictures from other sites")?;
    step_until(&mut h, "a visit to the other site", |_| {
        elsewhere.accept().is_ok()
    })?;
    std::fs::remove_dir_all(&dir)?;
    Ok(())
}
