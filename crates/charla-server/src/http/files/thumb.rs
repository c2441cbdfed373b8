//! Thumbnails of PNG and JPEG images, made the first time one is asked for and kept beside
//! the blobs (`thumbs/<aa>/<sha256>.<ext>`), so that previews in chat clients cost a few KiB.
//!
//! Decoding runs on a blocking thread, at most [`super::THUMBNAILERS`] at once, under limits
//! on the image's dimensions and on memory (a small file can claim an enormous image); an
//! image over them, or one that does not decode, has no thumbnail.

use std::path::{Path, PathBuf};

use charla_store::FileRecord;
use image::{DynamicImage, ImageFormat, ImageReader, Limits};
use tracing::debug;

use super::Files;

/// The thumbnail fits in a square this many pixels wide.
const SIZE: u32 = 320;

/// The widest and tallest image decoded.
const MAX_DIMENSION: u32 = 12_000;

/// The most memory one decoding may allocate.
const MAX_ALLOC: u64 = 256 << 20;

/// The thumbnail of `record` (made now if needed) and its type; `None` when it is not an
/// image this server decodes, or does not decode.
pub(crate) async fn thumbnail(
    files: &Files,
    record: &FileRecord,
) -> Option<(PathBuf, &'static str)> {
    let (format, ext, content_type) = match record.content_type.as_str() {
        "image/png" => (ImageFormat::Png, "png", "image/png"),
        "image/jpeg" => (ImageFormat::Jpeg, "jpg", "image/jpeg"),
        _ => return None,
    };
    let path = files.thumb_path(&record.sha256, ext)?;
    if tokio::fs::try_exists(&path).await.unwrap_or(false) {
        return Some((path, content_type));
    }
    let _turn = files.thumbnailers.acquire().await.ok()?;
    // Another request may have made it while this one waited its turn.
    if tokio::fs::try_exists(&path).await.unwrap_or(false) {
        return Some((path, content_type));
    }
    let blob = files.blob_path(&record.sha256)?;
    let tmp = files.tmp_path();
    let dest = path.clone();
    let made = tokio::task::spawn_blocking(move || {
        let made = make(&blob, &tmp, &dest, format);
        let _ = std::fs::remove_file(&tmp);
        made
    })
    .await;
    match made {
        Ok(Ok(())) => Some((path, content_type)),
        Ok(Err(error)) => {
            debug!(id = %record.id, %error, "no thumbnail for an image");
            None
        }
        Err(_) => None,
    }
}

fn make(
    blob: &Path,
    tmp: &Path,
    dest: &Path,
    format: ImageFormat,
) -> Result<(), image::ImageError> {
    let mut reader = ImageReader::open(blob)?;
    reader.set_format(format);
    let mut limits = Limits::default();
    limits.max_image_width = Some(MAX_DIMENSION);
    limits.max_image_height = Some(MAX_DIMENSION);
    limits.max_alloc = Some(MAX_ALLOC);
    reader.limits(limits);
    let image = reader.decode()?;
    let small = image.thumbnail(SIZE, SIZE);
    // JPEG has no alpha channel.
    let small = match format {
        ImageFormat::Jpeg => DynamicImage::ImageRgb8(small.to_rgb8()),
        _ => small,
    };
    small.save_with_format(tmp, format)?;
    if let Some(dir) = dest.parent() {
        std::fs::create_dir_all(dir)?;
    }
    std::fs::rename(tmp, dest)?;
    Ok(())
}
