//! Removing metadata from a JPEG without re-encoding it (lossless): the segments that carry
//! where and with what a photo was taken (EXIF with its GPS position, XMP, IPTC, comments,
//! maker notes) are dropped; the image data and the segments needed to show it as it was
//! (JFIF, ICC colour profile, Adobe colour transform, tables, frames, scans) are copied byte
//! for byte. It streams: a segment at a time and the entropy-coded data a byte at a time
//! through buffers, so memory does not grow with the file.
//!
//! The structure is ITU-T T.81 annex B: markers `FF xx`; standalone markers (SOI, EOI, RSTn,
//! TEM) have no length; the others a big-endian length that counts itself. After SOS comes
//! entropy-coded data, in which `FF 00` is a stuffed `FF` and `FF D0`..`FF D7` restart
//! markers; any other marker ends it. Everything after EOI (trailing data, the secondary images
//! of MPF files, each with its own EXIF) is dropped.

use std::io::{self, Read, Write};

const SOI: u8 = 0xD8;
const EOI: u8 = 0xD9;
const SOS: u8 = 0xDA;
const TEM: u8 = 0x01;
const APP0: u8 = 0xE0;
const APP2: u8 = 0xE2;
const APP14: u8 = 0xEE;

/// What stripping did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Stripped {
    /// Segments dropped.
    pub segments: u32,
}

fn invalid(what: &str) -> io::Error {
    io::Error::new(
        io::ErrorKind::InvalidData,
        format!("not a readable JPEG: {what}"),
    )
}

fn byte(reader: &mut impl Read) -> io::Result<u8> {
    let mut b = [0u8; 1];
    reader.read_exact(&mut b).map_err(|e| match e.kind() {
        io::ErrorKind::UnexpectedEof => invalid("it ends before its end marker"),
        _ => e,
    })?;
    Ok(b[0])
}

/// Whether a segment with `marker` and a payload starting with `head` is kept.
fn keep(marker: u8, head: &[u8]) -> bool {
    match marker {
        APP0 => head.starts_with(b"JFIF\0") || head.starts_with(b"JFXX\0"),
        // ICC profiles only: MPF (multi-picture index) points at data that is dropped.
        APP2 => head.starts_with(b"ICC_PROFILE\0"),
        APP14 => head.starts_with(b"Adobe"),
        // APP1 (EXIF, XMP), APP3..APP13, APP15, COM: metadata.
        0xE1 | 0xE3..=0xED | 0xEF | 0xFE => false,
        _ => true,
    }
}

/// Copies the JPEG from `reader` to `writer` without its metadata segments. Fails with
/// `InvalidData` for what is not a JPEG or ends early.
pub(crate) fn strip(mut reader: impl Read, mut writer: impl Write) -> io::Result<Stripped> {
    let mut stripped = Stripped::default();
    if byte(&mut reader)? != 0xFF || byte(&mut reader)? != SOI {
        return Err(invalid("no start marker"));
    }
    writer.write_all(&[0xFF, SOI])?;
    // The marker just read, when the entropy-coded data ended at one.
    let mut pending: Option<u8> = None;
    loop {
        let marker = match pending.take() {
            Some(marker) => marker,
            None => {
                if byte(&mut reader)? != 0xFF {
                    return Err(invalid("a segment does not start with a marker"));
                }
                // Fill bytes: any number of FF before the marker.
                let mut marker = byte(&mut reader)?;
                while marker == 0xFF {
                    marker = byte(&mut reader)?;
                }
                marker
            }
        };
        match marker {
            EOI => {
                writer.write_all(&[0xFF, EOI])?;
                return Ok(stripped);
            }
            0x00 | SOI => return Err(invalid("a marker where none may be")),
            TEM | 0xD0..=0xD7 => writer.write_all(&[0xFF, marker])?,
            _ => {
                let length = u16::from_be_bytes([byte(&mut reader)?, byte(&mut reader)?]);
                let payload = u64::from(length)
                    .checked_sub(2)
                    .ok_or_else(|| invalid("a segment shorter than its length field"))?;
                // Enough of the payload to tell which kind of APPn it is.
                let mut head = [0u8; 12];
                let head_len = usize::try_from(payload.min(12)).unwrap_or(12);
                reader.read_exact(&mut head[..head_len]).map_err(eof)?;
                let rest = payload - head_len as u64;
                if keep(marker, &head[..head_len]) {
                    writer.write_all(&[0xFF, marker])?;
                    writer.write_all(&length.to_be_bytes())?;
                    writer.write_all(&head[..head_len])?;
                    copy_exact(&mut reader, &mut writer, rest)?;
                } else {
                    copy_exact(&mut reader, &mut io::sink(), rest)?;
                    stripped.segments += 1;
                }
                if marker == SOS {
                    pending = Some(copy_entropy_coded(&mut reader, &mut writer)?);
                }
            }
        }
    }
}

fn eof(e: io::Error) -> io::Error {
    match e.kind() {
        io::ErrorKind::UnexpectedEof => invalid("a segment is cut short"),
        _ => e,
    }
}

fn copy_exact(reader: &mut impl Read, writer: &mut impl Write, len: u64) -> io::Result<()> {
    let copied = io::copy(&mut reader.take(len), writer)?;
    if copied == len {
        Ok(())
    } else {
        Err(invalid("a segment is cut short"))
    }
}

/// Copies a scan's entropy-coded data (stuffed bytes and restart markers included) and returns
/// the marker that ends it, which is not written.
fn copy_entropy_coded(reader: &mut impl Read, writer: &mut impl Write) -> io::Result<u8> {
    loop {
        let b = byte(reader)?;
        if b != 0xFF {
            writer.write_all(&[b])?;
            continue;
        }
        let mut next = byte(reader)?;
        while next == 0xFF {
            next = byte(reader)?;
        }
        match next {
            0x00 | 0xD0..=0xD7 => writer.write_all(&[0xFF, next])?,
            marker => return Ok(marker),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn segment(marker: u8, payload: &[u8]) -> Vec<u8> {
        let mut out = vec![0xFF, marker];
        out.extend_from_slice(
            &u16::try_from(payload.len() + 2)
                .expect("short")
                .to_be_bytes(),
        );
        out.extend_from_slice(payload);
        out
    }

    fn run(input: &[u8]) -> io::Result<(Vec<u8>, Stripped)> {
        let mut out = Vec::new();
        let stripped = strip(input, &mut out)?;
        Ok((out, stripped))
    }

    /// A JPEG's shape, with made-up tables: what matters is which segments come out.
    fn sample(with_metadata: bool) -> Vec<u8> {
        let mut jpeg = vec![0xFF, SOI];
        jpeg.extend(segment(APP0, b"JFIF\0\x01\x01\0\0\x01\0\x01\0\0"));
        if with_metadata {
            jpeg.extend(segment(0xE1, b"Exif\0\0MM\0*GPSLatitude 40.4168"));
            jpeg.extend(segment(0xE1, b"http://ns.adobe.com/xap/1.0/\0<x:xmpmeta/>"));
            jpeg.extend(segment(0xED, b"Photoshop 3.0\0IPTC"));
            jpeg.extend(segment(0xFE, b"a comment"));
            jpeg.extend(segment(APP2, b"MPF\0II*\0"));
        }
        jpeg.extend(segment(APP2, b"ICC_PROFILE\0\x01\x01profile"));
        jpeg.extend(segment(0xDB, &[0u8; 65]));
        jpeg.extend(segment(0xC0, &[8, 0, 1, 0, 1, 1, 1, 0x11, 0]));
        jpeg.extend(segment(SOS, &[1, 1, 0, 0, 63, 0]));
        // Entropy-coded data with a stuffed FF and a restart marker.
        jpeg.extend([0x12, 0xFF, 0x00, 0x34, 0xFF, 0xD0, 0x56]);
        // A second scan (progressive), after a comment that must go too.
        if with_metadata {
            jpeg.extend(segment(0xFE, b"between scans"));
        }
        jpeg.extend(segment(SOS, &[1, 1, 0, 1, 63, 0]));
        jpeg.extend([0x78, 0x9A]);
        jpeg.extend([0xFF, EOI]);
        jpeg
    }

    #[test]
    fn metadata_segments_go_and_the_image_stays_byte_for_byte() {
        let (out, stripped) = run(&sample(true)).expect("strips");
        assert_eq!(out, sample(false));
        assert_eq!(stripped.segments, 6);
        let (again, none) = run(&out).expect("strips");
        assert_eq!(again, out);
        assert_eq!(none.segments, 0);
    }

    #[test]
    fn data_after_the_end_marker_is_dropped() {
        let mut input = sample(false);
        input.extend(b"\xFF\xD8 a second image with its own EXIF");
        let (out, _) = run(&input).expect("strips");
        assert_eq!(out, sample(false));
    }

    #[test]
    fn what_is_not_a_jpeg_or_is_cut_short_is_refused() {
        let whole = sample(true);
        let cases: Vec<&[u8]> = vec![
            b"",
            b"\x89PNG\r\n\x1a\n",
            b"\xFF\xD8\x00",
            // A length shorter than its own field.
            b"\xFF\xD8\xFF\xE1\x00\x01",
            &whole[..whole.len() - 2],
            &whole[..40],
        ];
        for input in cases {
            let err = run(input).expect_err("refused");
            assert_eq!(err.kind(), io::ErrorKind::InvalidData, "{input:?}");
        }
    }

    #[test]
    fn a_real_encoded_jpeg_still_decodes_after_stripping() {
        let img =
            image::RgbImage::from_fn(16, 8, |x, y| image::Rgb([x as u8 * 16, y as u8 * 32, 7]));
        let mut encoded = Vec::new();
        image::codecs::jpeg::JpegEncoder::new(&mut encoded)
            .encode_image(&img)
            .expect("encode");
        // Put an EXIF segment right after SOI, as cameras do.
        let mut input = encoded[..2].to_vec();
        input.extend(segment(0xE1, b"Exif\0\0GPS 40.4168 -3.7038"));
        input.extend_from_slice(&encoded[2..]);
        let (out, stripped) = run(&input).expect("strips");
        assert_eq!(stripped.segments, 1);
        assert!(!out.windows(4).any(|w| w == b"Exif"));
        let decoded = image::load_from_memory(&out).expect("decodes");
        assert_eq!((decoded.width(), decoded.height()), (16, 8));
    }
}
