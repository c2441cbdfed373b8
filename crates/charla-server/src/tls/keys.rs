//! One direction's record protection, TLS 1.3's (RFC 8446, 5.2) and TLS 1.2's (RFC 5246,
//! 6.2.3.3, with RFC 5288's nonces for AES-GCM and RFC 7905's for ChaCha20-Poly1305), with its
//! key kept as bytes.
//!
//! ring's ready AES-GCM key (the AES key schedule and GHASH's table of powers of H) is 555
//! bytes, and rustls keeps one per direction for a connection's life. Here a direction keeps
//! the key's 16 or 32 bytes and its IV, and ring's key is built on the stack for each record
//! it seals or opens: an AES key expansion and a GHASH table, tens of nanoseconds with the
//! CPU's AES and carry-less multiply instructions, beside the write or read that carries the
//! record.

use ring::aead;
use rustls::ConnectionTrafficSecrets;
use rustls::crypto::cipher::{Iv, NONCE_LEN, Nonce, make_tls12_aad};
use rustls::{ContentType, ProtocolVersion};
use zeroize::Zeroize;

/// Record header: content type, legacy version, length.
pub(super) const HEADER_LEN: usize = 5;
/// The outer content type of every TLS 1.3 record after the handshake.
pub(super) const APPLICATION_DATA: u8 = 23;

/// How a record failed to open.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum OpenError {
    /// It does not authenticate under this key and sequence number: bad_record_mac.
    BadMac,
    /// Its plaintext is all padding, without a content type: unexpected_message.
    NoContentType,
}

/// The key and IV of one direction of a connection. Wiped when dropped, as rustls wipes its
/// own copies.
pub(super) struct Keys {
    algorithm: &'static aead::Algorithm,
    key: [u8; 32],
    iv: [u8; NONCE_LEN],
}

impl Keys {
    /// The keys of a suite that ring provides; `None` for another.
    pub(super) fn new(secrets: ConnectionTrafficSecrets) -> Option<Keys> {
        let (algorithm, key, iv) = match &secrets {
            ConnectionTrafficSecrets::Aes128Gcm { key, iv } => (&aead::AES_128_GCM, key, iv),
            ConnectionTrafficSecrets::Aes256Gcm { key, iv } => (&aead::AES_256_GCM, key, iv),
            ConnectionTrafficSecrets::Chacha20Poly1305 { key, iv } => {
                (&aead::CHACHA20_POLY1305, key, iv)
            }
            _ => return None,
        };
        let key = key.as_ref();
        if key.len() != algorithm.key_len() {
            return None;
        }
        let mut keys = Keys {
            algorithm,
            key: [0; 32],
            iv: [0; NONCE_LEN],
        };
        keys.key[..key.len()].copy_from_slice(key);
        keys.iv.copy_from_slice(iv.as_ref());
        Some(keys)
    }

    /// The tag's length, which every sealed record carries.
    pub(super) fn tag_len(&self) -> usize {
        self.algorithm.tag_len()
    }

    /// ring's key, built for one record.
    fn key(&self) -> aead::LessSafeKey {
        let key = aead::UnboundKey::new(self.algorithm, &self.key[..self.algorithm.key_len()])
            .expect("a key of the algorithm's length");
        aead::LessSafeKey::new(key)
    }

    fn nonce(&self, seq: u64) -> aead::Nonce {
        aead::Nonce::assume_unique_for_key(Nonce::new(&Iv::from(self.iv), seq).0)
    }

    /// Appends to `out` the record numbered `seq` that carries `body` as content type `typ`.
    /// `body` is at most a record's worth (2^14 bytes).
    pub(super) fn seal(&self, seq: u64, typ: u8, body: &[u8], out: &mut Vec<u8>) {
        let start = out.len();
        let sealed_len = body.len() + 1 + self.tag_len();
        let len = u16::try_from(sealed_len).expect("a record's worth");
        let [hi, lo] = len.to_be_bytes();
        let header = [APPLICATION_DATA, 3, 3, hi, lo];
        out.reserve(HEADER_LEN + sealed_len);
        out.extend_from_slice(&header);
        out.extend_from_slice(body);
        out.push(typ);
        let tag = self
            .key()
            .seal_in_place_separate_tag(
                self.nonce(seq),
                aead::Aad::from(header),
                &mut out[start + HEADER_LEN..],
            )
            .expect("a record within AES-GCM's and ChaCha20's limits");
        out.extend_from_slice(tag.as_ref());
    }

    /// TLS 1.2's explicit nonce before each record's ciphertext: AES-GCM's 8 bytes, none for
    /// ChaCha20-Poly1305.
    pub(super) fn explicit_nonce_len(&self) -> usize {
        if self.algorithm == &aead::CHACHA20_POLY1305 {
            0
        } else {
            8
        }
    }

    /// Appends to `out` the TLS 1.2 record numbered `seq` of content type `typ` that carries
    /// `body` (at most a record's worth).
    pub(super) fn seal12(&self, seq: u64, typ: u8, body: &[u8], out: &mut Vec<u8>) {
        let start = out.len();
        let explicit = self.explicit_nonce_len();
        let sealed_len = explicit + body.len() + self.tag_len();
        let [hi, lo] = u16::try_from(sealed_len)
            .expect("a record's worth")
            .to_be_bytes();
        let nonce = Nonce::new(&Iv::from(self.iv), seq).0;
        let aad = make_tls12_aad(
            seq,
            ContentType::from(typ),
            ProtocolVersion::TLSv1_2,
            body.len(),
        );
        out.reserve(HEADER_LEN + sealed_len);
        out.extend_from_slice(&[typ, 3, 3, hi, lo]);
        // The explicit part of an AES-GCM nonce is the sequence number's part of it.
        out.extend_from_slice(&nonce[NONCE_LEN - explicit..]);
        out.extend_from_slice(body);
        let tag = self
            .key()
            .seal_in_place_separate_tag(
                aead::Nonce::assume_unique_for_key(nonce),
                aead::Aad::from(aad),
                &mut out[start + HEADER_LEN + explicit..],
            )
            .expect("a record within AES-GCM's and ChaCha20's limits");
        out.extend_from_slice(tag.as_ref());
    }

    /// Opens the TLS 1.2 `record` (header and sealed payload) in place, numbered `seq`: its
    /// content.
    pub(super) fn open12<'a>(&self, seq: u64, record: &'a mut [u8]) -> Result<&'a [u8], OpenError> {
        let explicit = self.explicit_nonce_len();
        if record.len() < HEADER_LEN + explicit + self.tag_len() {
            return Err(OpenError::BadMac);
        }
        let (header, payload) = record.split_at_mut(HEADER_LEN);
        let mut nonce = Nonce::new(&Iv::from(self.iv), seq).0;
        // AES-GCM: the IV's first four bytes, then the record's explicit nonce.
        nonce[NONCE_LEN - explicit..].copy_from_slice(&payload[..explicit]);
        let aad = make_tls12_aad(
            seq,
            ContentType::from(header[0]),
            ProtocolVersion::from(u16::from_be_bytes([header[1], header[2]])),
            payload.len() - explicit - self.tag_len(),
        );
        self.key()
            .open_within(
                aead::Nonce::assume_unique_for_key(nonce),
                aead::Aad::from(aad),
                payload,
                explicit..,
            )
            .map(|plain| &*plain)
            .map_err(|_| OpenError::BadMac)
    }

    /// Opens `record` (header and sealed payload) in place, numbered `seq`: its content type
    /// and content, the padding stripped.
    pub(super) fn open<'a>(
        &self,
        seq: u64,
        record: &'a mut [u8],
    ) -> Result<(u8, &'a [u8]), OpenError> {
        if record.len() < HEADER_LEN + self.tag_len() {
            return Err(OpenError::BadMac);
        }
        let (header, payload) = record.split_at_mut(HEADER_LEN);
        let header: [u8; HEADER_LEN] = (&*header).try_into().expect("five bytes");
        let plain = self
            .key()
            .open_in_place(self.nonce(seq), aead::Aad::from(header), payload)
            .map_err(|_| OpenError::BadMac)?;
        let end = plain
            .iter()
            .rposition(|b| *b != 0)
            .ok_or(OpenError::NoContentType)?;
        Ok((plain[end], &plain[..end]))
    }
}

impl Drop for Keys {
    fn drop(&mut self) {
        self.key.zeroize();
        self.iv.zeroize();
    }
}

#[cfg(test)]
mod tests {
    use rustls::crypto::cipher::{
        AeadKey, InboundOpaqueMessage, MessageDecrypter, MessageEncrypter, OutboundChunks,
        OutboundPlainMessage,
    };
    use rustls::crypto::ring::cipher_suite;
    use rustls::{ContentType, ProtocolVersion, SupportedCipherSuite};

    use super::*;

    /// 32 key bytes and an IV. (AES-128's 16-byte `AeadKey` cannot be made outside rustls:
    /// the handshakes in `stream`'s tests, which choose AES-128-GCM, check that suite.)
    fn key_and_iv(salt: u8) -> ([u8; 32], [u8; NONCE_LEN]) {
        let mut key = [0u8; 32];
        for (i, b) in key.iter_mut().enumerate() {
            *b = salt.wrapping_mul(31).wrapping_add(i as u8);
        }
        (key, [salt; NONCE_LEN])
    }

    fn ours(chacha: bool, salt: u8) -> Keys {
        let (key, iv) = key_and_iv(salt);
        let (key, iv) = (AeadKey::from(key), Iv::from(iv));
        Keys::new(if chacha {
            ConnectionTrafficSecrets::Chacha20Poly1305 { key, iv }
        } else {
            ConnectionTrafficSecrets::Aes256Gcm { key, iv }
        })
        .expect("a TLS 1.3 suite")
    }

    fn stock(chacha: bool) -> SupportedCipherSuite {
        if chacha {
            cipher_suite::TLS13_CHACHA20_POLY1305_SHA256
        } else {
            cipher_suite::TLS13_AES_256_GCM_SHA384
        }
    }

    fn stock_sealer(chacha: bool, salt: u8) -> Box<dyn MessageEncrypter> {
        let (key, iv) = key_and_iv(salt);
        let aead = stock(chacha).tls13().unwrap().aead_alg;
        aead.encrypter(AeadKey::from(key), Iv::from(iv))
    }

    fn stock_opener(chacha: bool, salt: u8) -> Box<dyn MessageDecrypter> {
        let (key, iv) = key_and_iv(salt);
        let aead = stock(chacha).tls13().unwrap().aead_alg;
        aead.decrypter(AeadKey::from(key), Iv::from(iv))
    }

    const RECORDS: [(u64, ContentType, &[u8]); 4] = [
        (
            0,
            ContentType::ApplicationData,
            "PRIVMSG #sala :¡hola, señor!\r\n".as_bytes(),
        ),
        (1, ContentType::Handshake, b"\x18\x00\x00\x01\x00"),
        (u64::MAX - 1, ContentType::Alert, b"\x01\x00"),
        (7, ContentType::ApplicationData, &[0xa5; 16_384]),
    ];

    /// `plain` as rustls's sealers take it (the legacy version every record carries).
    fn outbound(typ: ContentType, plain: &[u8]) -> OutboundPlainMessage<'_> {
        OutboundPlainMessage {
            typ,
            version: ProtocolVersion::TLSv1_2,
            payload: OutboundChunks::Single(plain),
        }
    }

    #[test]
    fn records_sealed_here_are_rustls_records_and_open_both_ways() {
        for chacha in [false, true] {
            for (seq, typ, plain) in RECORDS {
                let mut record = Vec::new();
                ours(chacha, 5).seal(seq, u8::from(typ), plain, &mut record);
                let msg = outbound(typ, plain);
                let stocks = stock_sealer(chacha, 5).encrypt(msg, seq).unwrap().encode();
                assert_eq!(record, stocks, "the same bytes as rustls's");

                let mut copy = record.clone();
                let opened = ours(chacha, 5).open(seq, &mut copy);
                assert_eq!(opened, Ok((u8::from(typ), plain)));
                let mut copy = record.clone();
                let msg = InboundOpaqueMessage::new(
                    ContentType::ApplicationData,
                    ProtocolVersion::TLSv1_2,
                    &mut copy[HEADER_LEN..],
                );
                let opened = stock_opener(chacha, 5).decrypt(msg, seq).unwrap();
                assert_eq!((opened.typ, opened.payload), (typ, plain));
            }
        }
    }

    #[test]
    fn tls12_records_sealed_here_are_rustls_records_and_open_both_ways() {
        for chacha in [false, true] {
            let suite = if chacha {
                cipher_suite::TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256
            } else {
                cipher_suite::TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384
            };
            let SupportedCipherSuite::Tls12(suite) = suite else {
                unreachable!("a TLS 1.2 suite");
            };
            let (key, iv) = key_and_iv(7);
            // rustls's TLS 1.2 AES-GCM takes the IV as a 4-byte salt and 8 bytes more.
            let (fixed, extra) = if chacha {
                (&iv[..], &[][..])
            } else {
                iv.split_at(4)
            };
            let mut stock_sealer = suite.aead_alg.encrypter(AeadKey::from(key), fixed, extra);
            let mut stock_opener = suite.aead_alg.decrypter(AeadKey::from(key), fixed);
            for (seq, typ, plain) in RECORDS {
                let mut record = Vec::new();
                ours(chacha, 7).seal12(seq, u8::from(typ), plain, &mut record);
                let msg = outbound(typ, plain);
                let stocks = stock_sealer.encrypt(msg, seq).unwrap().encode();
                assert_eq!(record, stocks, "the same bytes as rustls's");

                let opened = ours(chacha, 7)
                    .open12(seq, &mut record.clone())
                    .unwrap()
                    .to_vec();
                assert_eq!(opened, plain);
                let mut copy = record.clone();
                let msg = InboundOpaqueMessage::new(
                    typ,
                    ProtocolVersion::TLSv1_2,
                    &mut copy[HEADER_LEN..],
                );
                let opened = stock_opener.decrypt(msg, seq).unwrap();
                assert_eq!(opened.payload, plain);

                let mut altered = record.clone();
                altered[HEADER_LEN + 2] ^= 1;
                let opened = ours(chacha, 7).open12(seq, &mut altered);
                assert_eq!(opened, Err(OpenError::BadMac));
                let mut retyped = record.clone();
                retyped[0] ^= 1;
                assert_eq!(
                    ours(chacha, 7).open12(seq, &mut retyped),
                    Err(OpenError::BadMac)
                );
            }
        }
    }

    #[test]
    fn padding_is_stripped_and_a_record_of_padding_only_has_no_content_type() {
        let keys = ours(false, 3);
        // `seal` puts its type byte after the body: a type of 0 after a body that ends in
        // the real type is one byte of padding.
        let mut padded = Vec::new();
        keys.seal(5, 0, b"hola\x17\x00\x00", &mut padded);
        assert_eq!(keys.open(5, &mut padded), Ok((0x17, &b"hola"[..])));
        let mut empty = Vec::new();
        keys.seal(6, 0, b"\x00\x00", &mut empty);
        assert_eq!(keys.open(6, &mut empty), Err(OpenError::NoContentType));
    }

    #[test]
    fn a_record_altered_or_out_of_place_does_not_open() {
        for (seq, typ, plain) in RECORDS {
            let mut record = Vec::new();
            ours(false, 9).seal(seq, u8::from(typ), plain, &mut record);
            for at in [0, 4, HEADER_LEN, record.len() / 2, record.len() - 1] {
                let mut altered = record.clone();
                altered[at] ^= 0x10;
                let opened = ours(false, 9).open(seq, &mut altered);
                assert_eq!(opened, Err(OpenError::BadMac), "byte {at} altered");
            }
            let opens = |keys: Keys, seq: u64, record: &[u8]| {
                keys.open(seq, &mut record.to_vec()).map(|(typ, _)| typ)
            };
            let bad = Err(OpenError::BadMac);
            assert_eq!(
                opens(ours(false, 9), seq ^ 1, &record),
                bad,
                "another number"
            );
            assert_eq!(opens(ours(false, 10), seq, &record), bad, "another key");
            assert_eq!(opens(ours(true, 9), seq, &record), bad, "another algorithm");
            assert_eq!(opens(ours(false, 9), seq, &record[..20]), bad, "cut short");
            assert_eq!(opens(ours(false, 9), seq, &record), Ok(u8::from(typ)));
        }
    }

    #[test]
    fn a_direction_keeps_only_its_key_and_iv() {
        // ring's ready AES-GCM key, which rustls's provider keeps instead, is 555 bytes.
        assert!(std::mem::size_of::<Keys>() <= 56);
    }
}
