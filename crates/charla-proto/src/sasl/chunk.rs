//! `AUTHENTICATE` framing (IRCv3 `sasl` 3.1, "The AUTHENTICATE command"): a payload is base64
//! encoded and sent in chunks of [`CHUNK_LEN`] bytes. A chunk of exactly [`CHUNK_LEN`] bytes
//! means more follows, so a payload whose encoding is a multiple of it ends with a lone `+`, as
//! does the empty payload. A lone `*` aborts the exchange.

use std::fmt;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;

/// The length of a full chunk: a chunk this long says more follows; a longer one is an error.
pub const CHUNK_LEN: usize = 400;

/// Why [`ChunkReader::push`] ended the exchange. Each error resets the reader.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum ChunkError {
    /// A chunk is longer than [`CHUNK_LEN`], or the payload grew past the reader's limit. The
    /// server answers `905 ERR_SASLTOOLONG`.
    #[error("the SASL message is too long")]
    TooLong,
    /// The payload is not base64, or a chunk is empty. The server answers `904 ERR_SASLFAIL`.
    #[error("the SASL message is not valid base64")]
    BadBase64,
    /// The client sent `*` to abort. The server answers `906 ERR_SASLABORTED`. An error rather
    /// than an outcome because, like the others, it ends the exchange with one numeric, and `?`
    /// then carries every way out to one place.
    #[error("the client aborted the authentication")]
    Aborted,
}

/// Splits a payload into the parameters of successive `AUTHENTICATE` lines.
///
/// Never empty: the empty payload is a single `+`, and a payload whose base64 ends on a full
/// chunk is followed by a `+` that says so.
pub fn encode_chunks(payload: &[u8]) -> Vec<String> {
    let encoded = STANDARD.encode(payload);
    // Base64 is ASCII, so splitting its bytes keeps every chunk valid UTF-8.
    let mut chunks: Vec<String> = encoded
        .as_bytes()
        .chunks(CHUNK_LEN)
        .map(|c| String::from_utf8_lossy(c).into_owned())
        .collect();
    if encoded.len().is_multiple_of(CHUNK_LEN) {
        chunks.push("+".to_owned());
    }
    chunks
}

/// Gathers the chunks of one payload, with a cap on its size so a client cannot make the
/// server buffer without end. `Debug` shows sizes only: the payload may hold a password.
#[derive(Clone)]
pub struct ChunkReader {
    /// The most base64 text a payload of `limit` bytes can take.
    max_encoded: usize,
    /// The largest decoded payload accepted.
    limit: usize,
    /// The base64 received so far, all of it in full chunks.
    encoded: String,
}

impl fmt::Debug for ChunkReader {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ChunkReader")
            .field("limit", &self.limit)
            .field("buffered", &self.encoded.len())
            .finish()
    }
}

impl ChunkReader {
    /// A reader that accepts payloads of at most `limit` bytes once decoded.
    pub fn new(limit: usize) -> Self {
        Self {
            max_encoded: limit.div_ceil(3).saturating_mul(4),
            limit,
            encoded: String::new(),
        }
    }

    /// Takes the parameter of one `AUTHENTICATE` line. Returns the whole decoded payload once
    /// the last chunk arrived, `None` while more is expected, or an error that ends the
    /// exchange. After a payload or an error the reader is empty, ready for the next one.
    pub fn push(&mut self, param: &str) -> Result<Option<Vec<u8>>, ChunkError> {
        let result = self.take(param);
        if !matches!(result, Ok(None)) {
            self.encoded.clear();
        }
        result
    }

    fn take(&mut self, param: &str) -> Result<Option<Vec<u8>>, ChunkError> {
        match param {
            "*" => return Err(ChunkError::Aborted),
            // A lone `+` ends the payload: the empty one, or one that ended on a full chunk.
            "+" => return self.decode().map(Some),
            "" => return Err(ChunkError::BadBase64),
            _ => {}
        }
        if param.len() > CHUNK_LEN {
            return Err(ChunkError::TooLong);
        }
        // Checked before appending, so the buffer never holds more than the limit allows.
        if self.encoded.len() + param.len() > self.max_encoded {
            return Err(ChunkError::TooLong);
        }
        self.encoded.push_str(param);
        if param.len() == CHUNK_LEN {
            Ok(None)
        } else {
            self.decode().map(Some)
        }
    }

    fn decode(&self) -> Result<Vec<u8>, ChunkError> {
        let payload = STANDARD
            .decode(&self.encoded)
            .map_err(|_| ChunkError::BadBase64)?;
        // `max_encoded` rounds up to a whole base64 quantum, so check the exact limit here.
        if payload.len() > self.limit {
            return Err(ChunkError::TooLong);
        }
        Ok(payload)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read_all(reader: &mut ChunkReader, chunks: &[String]) -> Result<Vec<u8>, ChunkError> {
        let (last, init) = chunks.split_last().expect("at least one chunk");
        for chunk in init {
            assert_eq!(
                reader.push(chunk),
                Ok(None),
                "chunk {chunk:?} ends too early"
            );
        }
        Ok(reader
            .push(last)?
            .expect("the last chunk completes the payload"))
    }

    #[test]
    fn empty_payload_is_a_lone_plus() {
        assert_eq!(encode_chunks(b""), ["+"]);
        assert_eq!(ChunkReader::new(10).push("+"), Ok(Some(Vec::new())));
    }

    #[test]
    fn short_payload_is_one_chunk() {
        assert_eq!(encode_chunks(b"\0jilles\0sesame"), ["AGppbGxlcwBzZXNhbWU="]);
        assert_eq!(
            ChunkReader::new(100).push("AGppbGxlcwBzZXNhbWU="),
            Ok(Some(b"\0jilles\0sesame".to_vec()))
        );
    }

    #[test]
    fn payloads_round_trip_around_chunk_boundaries() {
        // 300 bytes encode to exactly 400 characters, 600 to 800.
        for len in [0usize, 1, 2, 3, 299, 300, 301, 599, 600, 601, 1000] {
            let payload: Vec<u8> = (0..len).map(|i| (i * 7) as u8).collect();
            let chunks = encode_chunks(&payload);
            let encoded_len = len.div_ceil(3) * 4;
            let ends_with_plus = chunks.last().map(String::as_str) == Some("+");
            assert_eq!(
                ends_with_plus,
                encoded_len.is_multiple_of(CHUNK_LEN),
                "length {len}"
            );
            assert!(chunks.iter().all(|c| c.len() <= CHUNK_LEN));
            let mut reader = ChunkReader::new(1000);
            assert_eq!(read_all(&mut reader, &chunks), Ok(payload), "length {len}");
        }
    }

    #[test]
    fn a_full_final_chunk_waits_for_plus() {
        let chunks = encode_chunks(&[b'x'; 300]);
        assert_eq!(chunks.len(), 2);
        assert_eq!(chunks[0].len(), CHUNK_LEN);
        assert_eq!(chunks[1], "+");
        let mut reader = ChunkReader::new(300);
        assert_eq!(reader.push(&chunks[0]), Ok(None));
        assert_eq!(reader.push("+"), Ok(Some(vec![b'x'; 300])));
    }

    #[test]
    fn refuses_what_it_should() {
        let full = "A".repeat(CHUNK_LEN);
        let cases: &[(&str, &[&str], ChunkError)] = &[
            ("abort at once", &["*"], ChunkError::Aborted),
            ("abort midway", &[&full, "*"], ChunkError::Aborted),
            (
                "chunk over 400",
                &[&"A".repeat(CHUNK_LEN + 4)],
                ChunkError::TooLong,
            ),
            ("past the limit", &[&full, &full], ChunkError::TooLong),
            ("not base64", &["!!!!"], ChunkError::BadBase64),
            ("missing padding", &["AGE"], ChunkError::BadBase64),
            ("empty chunk", &[""], ChunkError::BadBase64),
            ("star inside", &["AG*="], ChunkError::BadBase64),
        ];
        for (what, chunks, expected) in cases {
            // 500 bytes: two full chunks (600 decoded) go over it.
            let mut reader = ChunkReader::new(500);
            let (last, init) = chunks.split_last().expect("cases have chunks");
            for chunk in init {
                assert_eq!(reader.push(chunk), Ok(None), "{what}");
            }
            assert_eq!(reader.push(last), Err(*expected), "{what}");
            // The reader starts over after an error.
            assert_eq!(reader.push("YQ=="), Ok(Some(b"a".to_vec())), "{what}");
        }
    }

    #[test]
    fn debug_hides_the_payload() {
        let mut reader = ChunkReader::new(1000);
        let chunk = "A".repeat(CHUNK_LEN);
        assert_eq!(reader.push(&chunk), Ok(None));
        assert!(!format!("{reader:?}").contains("AAAA"));
    }

    #[test]
    fn limit_is_exact_in_decoded_bytes() {
        assert_eq!(ChunkReader::new(1).push("YWI="), Err(ChunkError::TooLong));
        assert_eq!(ChunkReader::new(2).push("YWI="), Ok(Some(b"ab".to_vec())));
    }
}
