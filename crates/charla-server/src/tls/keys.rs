//! TLS 1.3's AES-GCM record protection with keys that take no room between records.
//!
//! rustls's ring provider keeps, for each direction of each connection, ring's ready AES-GCM
//! key: the AES key schedule and GHASH's table of powers of H, 555 bytes on the heap (a 640
//! byte allocation) for the connection's whole life. For an idle client that is most of what
//! its TLS costs beyond rustls's own state (docs/PROFILE.md, "Twentieth session"). Here each
//! direction keeps the key's 16 or 32 bytes and its IV, and builds ring's key on the stack for
//! each record it seals or opens: an AES key expansion and a GHASH table, tens of nanoseconds
//! with the CPU's AES and carry-less multiply instructions, beside the write or read that
//! carries the record.
//!
//! The record format is RFC 8446's (section 5.2): the plaintext, then its content type, sealed
//! under the nonce `iv XOR seq` with the record's header as additional data; rustls frames the
//! records, counts the sequence numbers, strips the padding and changes keys (KeyUpdate)
//! through [`Tls13AeadAlgorithm`], as with its own providers. TLS 1.2's suites and
//! ChaCha20-Poly1305 (whose ring key is its 32 bytes already) stay rustls's.

use ring::aead;
use rustls::crypto::cipher::{
    AeadKey, InboundOpaqueMessage, InboundPlainMessage, Iv, MessageDecrypter, MessageEncrypter,
    NONCE_LEN, Nonce, OutboundOpaqueMessage, OutboundPlainMessage, PrefixedPayload,
    Tls13AeadAlgorithm, UnsupportedOperationError, make_tls13_aad,
};
use rustls::crypto::ring::cipher_suite;
use rustls::{
    CipherSuiteCommon, ConnectionTrafficSecrets, ContentType, Error, ProtocolVersion,
    SupportedCipherSuite, Tls13CipherSuite,
};
use zeroize::Zeroize;

/// TLS_AES_128_GCM_SHA256 with compact keys: rustls's suite but for the record protection.
pub static TLS13_AES_128_GCM_SHA256: SupportedCipherSuite =
    SupportedCipherSuite::Tls13(&AES_128_GCM_SHA256);
/// TLS_AES_256_GCM_SHA384 with compact keys.
pub static TLS13_AES_256_GCM_SHA384: SupportedCipherSuite =
    SupportedCipherSuite::Tls13(&AES_256_GCM_SHA384);

static AES_128_GCM_SHA256: Tls13CipherSuite =
    compact(cipher_suite::TLS13_AES_128_GCM_SHA256, &AES_128_GCM);
static AES_256_GCM_SHA384: Tls13CipherSuite =
    compact(cipher_suite::TLS13_AES_256_GCM_SHA384, &AES_256_GCM);

static AES_128_GCM: CompactAesGcm = CompactAesGcm(&aead::AES_128_GCM);
static AES_256_GCM: CompactAesGcm = CompactAesGcm(&aead::AES_256_GCM);

/// `stock`, rustls's own TLS 1.3 suite, with `aead` protecting its records. QUIC is left out:
/// the server speaks TLS over TCP only.
const fn compact(
    stock: SupportedCipherSuite,
    aead: &'static dyn Tls13AeadAlgorithm,
) -> Tls13CipherSuite {
    let Some(stock) = stock.tls13() else {
        panic!("a TLS 1.3 suite");
    };
    Tls13CipherSuite {
        common: CipherSuiteCommon {
            suite: stock.common.suite,
            hash_provider: stock.common.hash_provider,
            confidentiality_limit: stock.common.confidentiality_limit,
        },
        hkdf_provider: stock.hkdf_provider,
        aead_alg: aead,
        quic: None,
    }
}

/// The suite with compact keys that stands for rustls's `suite`, if there is one.
pub fn compact_keys(suite: SupportedCipherSuite) -> SupportedCipherSuite {
    match suite.suite() {
        rustls::CipherSuite::TLS13_AES_128_GCM_SHA256 => TLS13_AES_128_GCM_SHA256,
        rustls::CipherSuite::TLS13_AES_256_GCM_SHA384 => TLS13_AES_256_GCM_SHA384,
        _ => suite,
    }
}

/// AES-GCM (ring's `algorithm`, of 128 or 256 bit keys) for TLS 1.3's records.
struct CompactAesGcm(&'static aead::Algorithm);

impl CompactAesGcm {
    fn keys(&self, key: &AeadKey, iv: &Iv) -> Keys {
        let key = key.as_ref();
        // rustls derives `key_len()` bytes for the key; anything else is a bug there.
        assert_eq!(key.len(), self.0.key_len(), "AES-GCM key length");
        let mut bytes = [0; 32];
        bytes[..key.len()].copy_from_slice(key);
        let mut nonce = [0; NONCE_LEN];
        nonce.copy_from_slice(iv.as_ref());
        Keys {
            algorithm: self.0,
            key: bytes,
            iv: nonce,
        }
    }
}

impl Tls13AeadAlgorithm for CompactAesGcm {
    fn encrypter(&self, key: AeadKey, iv: Iv) -> Box<dyn MessageEncrypter> {
        Box::new(Sealer(self.keys(&key, &iv)))
    }

    fn decrypter(&self, key: AeadKey, iv: Iv) -> Box<dyn MessageDecrypter> {
        Box::new(Opener(self.keys(&key, &iv)))
    }

    fn key_len(&self) -> usize {
        self.0.key_len()
    }

    fn extract_keys(
        &self,
        key: AeadKey,
        iv: Iv,
    ) -> Result<ConnectionTrafficSecrets, UnsupportedOperationError> {
        Ok(if self.0 == &aead::AES_128_GCM {
            ConnectionTrafficSecrets::Aes128Gcm { key, iv }
        } else {
            ConnectionTrafficSecrets::Aes256Gcm { key, iv }
        })
    }

    fn fips(&self) -> bool {
        // As rustls's ring provider: ring is not FIPS-validated.
        false
    }
}

/// One direction's key and IV, as bytes. Wiped when dropped, as rustls wipes its own copies.
struct Keys {
    algorithm: &'static aead::Algorithm,
    key: [u8; 32],
    iv: [u8; NONCE_LEN],
}

impl Keys {
    /// ring's key, built for one record.
    fn key(&self) -> aead::LessSafeKey {
        let key = aead::UnboundKey::new(self.algorithm, &self.key[..self.algorithm.key_len()])
            .expect("a key of the algorithm's length");
        aead::LessSafeKey::new(key)
    }

    fn nonce(&self, seq: u64) -> aead::Nonce {
        aead::Nonce::assume_unique_for_key(Nonce::new(&Iv::from(self.iv), seq).0)
    }

    fn tag_len(&self) -> usize {
        self.algorithm.tag_len()
    }
}

impl Drop for Keys {
    fn drop(&mut self) {
        self.key.zeroize();
        self.iv.zeroize();
    }
}

struct Sealer(Keys);

impl MessageEncrypter for Sealer {
    fn encrypt(
        &mut self,
        msg: OutboundPlainMessage<'_>,
        seq: u64,
    ) -> Result<OutboundOpaqueMessage, Error> {
        let sealed_len = self.encrypted_payload_len(msg.payload.len());
        let mut payload = PrefixedPayload::with_capacity(sealed_len);
        payload.extend_from_chunks(&msg.payload);
        payload.extend_from_slice(&[u8::from(msg.typ)]);
        self.0
            .key()
            .seal_in_place_append_tag(
                self.0.nonce(seq),
                aead::Aad::from(make_tls13_aad(sealed_len)),
                &mut payload,
            )
            .map_err(|_| Error::EncryptError)?;
        // Every TLS 1.3 record says application data and TLS 1.2 outside (RFC 8446, 5.1).
        Ok(OutboundOpaqueMessage::new(
            ContentType::ApplicationData,
            ProtocolVersion::TLSv1_2,
            payload,
        ))
    }

    fn encrypted_payload_len(&self, payload_len: usize) -> usize {
        payload_len + 1 + self.0.tag_len()
    }
}

struct Opener(Keys);

impl MessageDecrypter for Opener {
    fn decrypt<'a>(
        &mut self,
        mut msg: InboundOpaqueMessage<'a>,
        seq: u64,
    ) -> Result<InboundPlainMessage<'a>, Error> {
        let payload = &mut msg.payload;
        if payload.len() < self.0.tag_len() {
            return Err(Error::DecryptError);
        }
        let aad = aead::Aad::from(make_tls13_aad(payload.len()));
        let plain_len = self
            .0
            .key()
            .open_in_place(self.0.nonce(seq), aad, payload)
            .map_err(|_| Error::DecryptError)?
            .len();
        payload.truncate(plain_len);
        msg.into_tls13_unpadded_message()
    }
}

#[cfg(test)]
mod tests {
    use rustls::crypto::cipher::{InboundOpaqueMessage, OutboundChunks, OutboundPlainMessage};
    use rustls::{ContentType, ProtocolVersion, SupportedCipherSuite};

    use super::*;

    /// An AES-256 key and an IV. (AES-128's 16-byte `AeadKey` cannot be made outside rustls:
    /// the handshakes in `stream`'s tests, which choose AES-128-GCM, check that suite.)
    fn key_and_iv(salt: u8) -> (AeadKey, Iv) {
        let mut key = [0u8; 32];
        for (i, b) in key.iter_mut().enumerate() {
            *b = salt.wrapping_mul(31).wrapping_add(i as u8);
        }
        (AeadKey::from(key), Iv::from([salt; NONCE_LEN]))
    }

    fn seal(
        suite: SupportedCipherSuite,
        key: (AeadKey, Iv),
        typ: ContentType,
        plain: &[u8],
        seq: u64,
    ) -> Vec<u8> {
        let aead = suite.tls13().unwrap().aead_alg;
        let mut sealer = aead.encrypter(key.0, key.1);
        let msg = OutboundPlainMessage {
            typ,
            version: ProtocolVersion::TLSv1_2,
            payload: OutboundChunks::Single(plain),
        };
        sealer.encrypt(msg, seq).unwrap().encode()
    }

    fn open(
        suite: SupportedCipherSuite,
        key: (AeadKey, Iv),
        record: &mut [u8],
        seq: u64,
    ) -> Result<(ContentType, Vec<u8>), Error> {
        let aead = suite.tls13().unwrap().aead_alg;
        let mut opener = aead.decrypter(key.0, key.1);
        let msg = InboundOpaqueMessage::new(
            ContentType::ApplicationData,
            ProtocolVersion::TLSv1_2,
            &mut record[5..],
        );
        let plain = opener.decrypt(msg, seq)?;
        Ok((plain.typ, plain.payload.to_vec()))
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

    #[test]
    fn records_sealed_here_are_rustls_records_and_open_both_ways() {
        let (ours, stock) = (
            TLS13_AES_256_GCM_SHA384,
            cipher_suite::TLS13_AES_256_GCM_SHA384,
        );
        for (seq, typ, plain) in RECORDS {
            let record = seal(ours, key_and_iv(5), typ, plain, seq);
            assert_eq!(record, seal(stock, key_and_iv(5), typ, plain, seq));
            for opener in [ours, stock] {
                let opened = open(opener, key_and_iv(5), &mut record.clone(), seq);
                assert_eq!(opened.expect("a record that opens"), (typ, plain.to_vec()));
            }
            let mut stocks = seal(stock, key_and_iv(5), typ, plain, seq);
            let opened = open(ours, key_and_iv(5), &mut stocks, seq);
            assert_eq!(opened.expect("a record that opens"), (typ, plain.to_vec()));
        }
    }

    #[test]
    fn a_record_altered_or_out_of_place_does_not_open() {
        let suite = TLS13_AES_256_GCM_SHA384;
        for (seq, typ, plain) in RECORDS {
            let record = seal(suite, key_and_iv(9), typ, plain, seq);
            for at in [5, record.len() / 2, record.len() - 1] {
                let mut altered = record.clone();
                altered[at] ^= 0x10;
                let opened = open(suite, key_and_iv(9), &mut altered, seq);
                assert_eq!(opened, Err(Error::DecryptError), "byte {at} altered");
            }
            let opened = open(suite, key_and_iv(9), &mut record.clone(), seq ^ 1);
            assert_eq!(opened, Err(Error::DecryptError), "another sequence number");
            let opened = open(suite, key_and_iv(10), &mut record.clone(), seq);
            assert_eq!(opened, Err(Error::DecryptError), "another key");
            let opened = open(suite, key_and_iv(9), &mut record[..20].to_vec(), seq);
            assert_eq!(opened, Err(Error::DecryptError), "cut short");
        }
    }

    #[test]
    fn a_direction_keeps_only_its_key_and_iv() {
        // ring's ready AES-GCM key, which rustls's provider keeps instead, is 555 bytes.
        assert!(std::mem::size_of::<Sealer>() <= 64);
        assert!(std::mem::size_of::<Opener>() <= 64);
    }
}
