//! `SCRAM-SHA-256`: RFC 5802 (SCRAM) with SHA-256 as RFC 7677 defines it, both sides, without
//! channel binding.
//!
//! The exchange (RFC 5802 section 3):
//!
//! ```text
//! C: n,,n=user,r=<client nonce>                            client-first-message
//! S: r=<client nonce><server nonce>,s=<salt>,i=<count>     server-first-message
//! C: c=biws,r=<both nonces>,p=<proof>                      client-final-message
//! S: v=<server signature>                                  server-final-message
//! ```
//!
//! The client proves it knows the password without sending it; the server proves it holds the
//! account's keys (so it is the server the account was made on), and stores only
//! [`ScramCredentials`], from which the password cannot be recovered without guessing.
//!
//! Passwords and usernames are used as their UTF-8 bytes, without SASLprep (RFC 4013), which
//! RFC 5802 section 5.1 asks for. SASLprep maps nothing in printable ASCII, so for ASCII
//! credentials this is exactly what a SASLprep client computes. For other text it is the same
//! whenever the text is already in NFKC with no characters SASLprep maps or forbids, as typed
//! text such as `contraseña` (with a precomposed `ñ`) is; a partial SASLprep would be worse
//! than none, because it would disagree with full implementations in new ways.

use std::fmt;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256};

use super::SaslError;

/// The PBKDF2 iteration count Charla derives new credentials with, and the one it shows for
/// accounts that do not exist: RFC 7677 section 4's minimum.
pub const DEFAULT_ITERATIONS: u32 = 4096;

/// The most iterations the client computes. Each costs two HMACs, so a hostile server could
/// otherwise keep the client busy for as long as it likes; this bound is far above any
/// recommended count yet still ends in seconds.
pub const MAX_ITERATIONS: u32 = 10_000_000;

type HmacSha256 = Hmac<Sha256>;

/// A SHA-256 output: a key or a signature.
type Key = [u8; 32];

/// The GS2 header the client sends: no channel binding, no authorization identity.
const CLIENT_GS2_HEADER: &str = "n,,";

/// What a server stores for a SCRAM-SHA-256 account (RFC 5802 section 3): enough to check a
/// proof and to sign, not enough to log in with. `Debug` leaves the keys out.
#[derive(Clone, PartialEq, Eq)]
pub struct ScramCredentials {
    /// The salt, random per account; never empty (clients refuse an empty one).
    pub salt: Vec<u8>,
    /// The PBKDF2 iteration count; at least 1.
    pub iterations: u32,
    /// `H(HMAC(SaltedPassword, "Client Key"))`: checks the client's proof.
    pub stored_key: [u8; 32],
    /// `HMAC(SaltedPassword, "Server Key")`: signs the server's final message.
    pub server_key: [u8; 32],
}

impl ScramCredentials {
    /// Derives the credentials for `password` with `salt` (RFC 5802 section 3):
    /// `SaltedPassword` is PBKDF2-HMAC-SHA-256 over `iterations` rounds. An `iterations` of 0
    /// is taken as 1, the least PBKDF2 can do, and stored as such.
    pub fn derive(password: &str, salt: &[u8], iterations: u32) -> Self {
        let iterations = iterations.max(1);
        let salted = salted_password(password, salt, iterations);
        Self {
            salt: salt.to_vec(),
            iterations,
            stored_key: sha256(&hmac(&salted, b"Client Key")),
            server_key: hmac(&salted, b"Server Key"),
        }
    }

    /// What an unknown account shows: a salt that depends only on the username, so asking twice
    /// gives the same answer as a real account would, and the default iteration count. The
    /// formula is public, so a client that knows it can still tell; hiding that would need a
    /// server secret. The keys are never used: the proof fails regardless.
    fn decoy(username: &str) -> Self {
        let mut hasher = Sha256::new();
        hasher.update(b"charla SCRAM-SHA-256 decoy salt\0");
        hasher.update(username.as_bytes());
        let digest: Key = hasher.finalize().into();
        Self {
            salt: digest[..16].to_vec(),
            iterations: DEFAULT_ITERATIONS,
            stored_key: [0; 32],
            server_key: [0; 32],
        }
    }
}

impl fmt::Debug for ScramCredentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ScramCredentials")
            .field("salt", &STANDARD.encode(&self.salt))
            .field("iterations", &self.iterations)
            .finish_non_exhaustive()
    }
}

/// The server after the client-first-message: it knows who the client claims to be and waits
/// for the caller to look up that account.
#[derive(Debug, Clone)]
pub struct ScramServer {
    /// The GS2 header exactly as sent, which the client must echo in `c=`.
    gs2_header: String,
    authzid: Option<String>,
    username: String,
    client_nonce: String,
    /// The client-first-message without its GS2 header, the start of `AuthMessage`.
    client_first_bare: String,
}

impl ScramServer {
    /// Reads the client-first-message (RFC 5802 section 7, `client-first-message`).
    ///
    /// The GS2 flag may be `n` (no channel binding) or `y` (the client could bind but thinks the
    /// server cannot, which is true: Charla offers no `-PLUS` mechanism); `p=` is refused with
    /// [`SaslError::ChannelBindingUnsupported`]. An authorization identity (`a=`) is accepted and
    /// returned by [`authzid`](Self::authzid) for the caller to allow or refuse.
    pub fn new(client_first: &[u8]) -> Result<Self, SaslError> {
        let message = utf8(client_first)?;
        let missing_header = SaslError::Malformed("the GS2 header is missing");
        let (flag, rest) = message.split_once(',').ok_or(missing_header.clone())?;
        match flag {
            "n" | "y" => {}
            _ if flag.starts_with("p=") => return Err(SaslError::ChannelBindingUnsupported),
            _ => {
                return Err(SaslError::Malformed(
                    "the GS2 header must start with n, y or p=",
                ));
            }
        }
        let (authzid, bare) = rest.split_once(',').ok_or(missing_header)?;
        let authzid = match authzid {
            "" => None,
            _ => {
                let name = authzid.strip_prefix("a=").ok_or(SaslError::Malformed(
                    "the authorization identity must start with a=",
                ))?;
                Some(decode_saslname(name)?)
            }
        };

        let mut fields = bare.split(',');
        let first = fields.next();
        refuse_mandatory_extension(first)?;
        let username = attribute(first, 'n', "the username (n=) is missing")?;
        let client_nonce = attribute(fields.next(), 'r', "the nonce (r=) is missing")?;
        if !is_printable(client_nonce) {
            return Err(SaslError::Malformed(
                "the nonce is empty or holds more than printable ASCII without ','",
            ));
        }
        check_extensions(fields)?;

        Ok(Self {
            gs2_header: message[..message.len() - bare.len()].to_owned(),
            authzid,
            username: decode_saslname(username)?,
            client_nonce: client_nonce.to_owned(),
            client_first_bare: bare.to_owned(),
        })
    }

    /// The account the client wants to log in to, to look up its credentials.
    pub fn username(&self) -> &str {
        &self.username
    }

    /// Who the client wants to act as, when it named someone other than itself.
    pub fn authzid(&self) -> Option<&str> {
        self.authzid.as_deref()
    }

    /// Answers with the server-first-message. `credentials` are the account's, or `None` when
    /// it does not exist: the answer then looks like a real one (see the decoy salt in the
    /// source) and the proof fails later as a wrong password would. `server_nonce` must be
    /// fresh and random for each exchange, printable ASCII other than `,`; RFC 5802 section 5.1
    /// asks for it to be unpredictable, so give at least 18 random bytes' worth.
    pub fn server_first(
        self,
        credentials: Option<ScramCredentials>,
        server_nonce: &str,
    ) -> Result<(ScramServerAwaitingProof, Vec<u8>), SaslError> {
        if !is_printable(server_nonce) {
            return Err(SaslError::InvalidNonce);
        }
        let known = credentials.is_some();
        let credentials = credentials.unwrap_or_else(|| ScramCredentials::decoy(&self.username));
        let nonce = format!("{}{server_nonce}", self.client_nonce);
        let server_first = format!(
            "r={nonce},s={},i={}",
            STANDARD.encode(&credentials.salt),
            credentials.iterations
        );
        let state = ScramServerAwaitingProof {
            gs2_header: self.gs2_header,
            authzid: self.authzid,
            username: self.username,
            auth_message_start: format!("{},{server_first}", self.client_first_bare),
            nonce,
            credentials,
            known,
        };
        Ok((state, server_first.into_bytes()))
    }
}

/// The server after the server-first-message, waiting for the client's proof.
#[derive(Debug, Clone)]
pub struct ScramServerAwaitingProof {
    gs2_header: String,
    authzid: Option<String>,
    username: String,
    /// Both nonces, which the client must send back.
    nonce: String,
    /// `client-first-message-bare "," server-first-message`: `AuthMessage` up to the client's
    /// final message.
    auth_message_start: String,
    credentials: ScramCredentials,
    /// Whether the account exists; when not, no proof is accepted.
    known: bool,
}

impl ScramServerAwaitingProof {
    /// The account the client is logging in to.
    pub fn username(&self) -> &str {
        &self.username
    }

    /// Who the client wants to act as, when it named someone other than itself.
    pub fn authzid(&self) -> Option<&str> {
        self.authzid.as_deref()
    }

    /// Checks the client-final-message (RFC 5802 section 7, `client-final-message`) and, when
    /// the proof is right, returns the server-final-message (`v=`) to send before
    /// `RPL_SASLSUCCESS`. The exchange ends here whatever the result.
    pub fn client_final(&self, message: &[u8]) -> Result<Vec<u8>, SaslError> {
        let message = utf8(message)?;
        // The proof comes last and is left out of `AuthMessage` (RFC 5802 section 3).
        let (without_proof, proof) = message
            .rsplit_once(',')
            .ok_or(SaslError::Malformed("the proof (p=) is missing"))?;
        let proof = attribute(Some(proof), 'p', "the proof (p=) is missing")?;
        let mut fields = without_proof.split(',');
        let binding = attribute(fields.next(), 'c', "the channel binding (c=) is missing")?;
        let nonce = attribute(fields.next(), 'r', "the nonce (r=) is missing")?;
        check_extensions(fields)?;

        // Without channel binding, `c=` carries the GS2 header alone (RFC 5802 section 7,
        // `cbind-input`); comparing it catches a header changed on the way.
        let binding = decode_base64(binding, "the channel binding (c=) is not base64")?;
        if binding != self.gs2_header.as_bytes() {
            return Err(SaslError::ChannelBindingMismatch);
        }
        if nonce != self.nonce {
            return Err(SaslError::NonceMismatch);
        }
        let proof: Key = decode_base64(proof, "the proof (p=) is not base64")?
            .try_into()
            .map_err(|_| SaslError::Malformed("the proof (p=) is not 32 bytes long"))?;

        // ClientKey = ClientProof XOR HMAC(StoredKey, AuthMessage); the proof is right when
        // H(ClientKey) is StoredKey (RFC 5802 section 3).
        let auth_message = format!("{},{without_proof}", self.auth_message_start);
        let signature = hmac(&self.credentials.stored_key, auth_message.as_bytes());
        let client_key = xor(&proof, &signature);
        let proof_is_right = constant_time_eq(&sha256(&client_key), &self.credentials.stored_key);
        if !(proof_is_right && self.known) {
            return Err(SaslError::AuthenticationFailed);
        }
        let server_signature = hmac(&self.credentials.server_key, auth_message.as_bytes());
        Ok(format!("v={}", STANDARD.encode(server_signature)).into_bytes())
    }
}

/// The client at the start of an exchange. `Debug` leaves the password out.
#[derive(Clone)]
pub struct ScramClient {
    password: String,
    client_nonce: String,
    client_first_bare: String,
}

impl fmt::Debug for ScramClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ScramClient")
            .field("client_first_bare", &self.client_first_bare)
            .finish_non_exhaustive()
    }
}

impl ScramClient {
    /// Starts an exchange for `username`. `client_nonce` must be fresh and random for each
    /// exchange, printable ASCII other than `,` (RFC 5802 section 5.1); give at least 18 random
    /// bytes' worth.
    pub fn new(username: &str, password: &str, client_nonce: &str) -> Result<Self, SaslError> {
        if username.is_empty() || username.contains('\0') {
            return Err(SaslError::InvalidUsername);
        }
        if !is_printable(client_nonce) {
            return Err(SaslError::InvalidNonce);
        }
        Ok(Self {
            password: password.to_owned(),
            client_nonce: client_nonce.to_owned(),
            client_first_bare: format!("n={},r={client_nonce}", encode_saslname(username)),
        })
    }

    /// The client-first-message, to send first.
    pub fn client_first(&self) -> Vec<u8> {
        format!("{CLIENT_GS2_HEADER}{}", self.client_first_bare).into_bytes()
    }

    /// Reads the server-first-message and returns the client-final-message with the proof.
    ///
    /// Refuses a nonce that does not extend ours, an empty salt, and an iteration count of 0 or
    /// above [`MAX_ITERATIONS`], before doing any of the expensive work.
    pub fn server_first(
        self,
        message: &[u8],
    ) -> Result<(ScramClientAwaitingSignature, Vec<u8>), SaslError> {
        let server_first = utf8(message)?;
        let mut fields = server_first.split(',');
        let first = fields.next();
        refuse_mandatory_extension(first)?;
        let nonce = attribute(first, 'r', "the nonce (r=) is missing")?;
        let salt = attribute(fields.next(), 's', "the salt (s=) is missing")?;
        let iterations = attribute(fields.next(), 'i', "the iteration count (i=) is missing")?;
        check_extensions(fields)?;

        // The server must add its own part to our nonce (RFC 5802 section 5.1); one that does
        // not could be replaying an old exchange.
        if nonce.len() <= self.client_nonce.len() || !nonce.starts_with(&self.client_nonce) {
            return Err(SaslError::NonceMismatch);
        }
        if !is_printable(nonce) {
            return Err(SaslError::Malformed(
                "the nonce holds more than printable ASCII without ','",
            ));
        }
        let salt = decode_base64(salt, "the salt (s=) is not base64")?;
        if salt.is_empty() {
            return Err(SaslError::Malformed("the salt (s=) is empty"));
        }
        let iterations = parse_iterations(iterations)?;

        let salted = salted_password(&self.password, &salt, iterations);
        let client_key = hmac(&salted, b"Client Key");
        let stored_key = sha256(&client_key);
        let without_proof = format!("c={},r={nonce}", STANDARD.encode(CLIENT_GS2_HEADER));
        let auth_message = format!("{},{server_first},{without_proof}", self.client_first_bare);
        let proof = xor(&client_key, &hmac(&stored_key, auth_message.as_bytes()));
        let client_final = format!("{without_proof},p={}", STANDARD.encode(proof));
        let state = ScramClientAwaitingSignature {
            server_key: hmac(&salted, b"Server Key"),
            auth_message,
        };
        Ok((state, client_final.into_bytes()))
    }
}

/// The client after its proof, waiting for the server to prove it knows the account's keys.
#[derive(Clone)]
pub struct ScramClientAwaitingSignature {
    server_key: Key,
    auth_message: String,
}

impl fmt::Debug for ScramClientAwaitingSignature {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ScramClientAwaitingSignature")
            .field("auth_message", &self.auth_message)
            .finish_non_exhaustive()
    }
}

impl ScramClientAwaitingSignature {
    /// Reads the server-final-message: `Ok` when its signature (`v=`) proves the server holds
    /// the account's keys, [`SaslError::ServerRefused`] when it is an error (`e=`). Until this
    /// succeeds the client should not trust that it talks to the right server, even after
    /// `RPL_SASLSUCCESS`.
    pub fn server_final(&self, message: &[u8]) -> Result<(), SaslError> {
        let message = utf8(message)?;
        let mut fields = message.split(',');
        let first = fields.next();
        if let Some(reason) = first.and_then(|f| f.strip_prefix("e=")) {
            // The reason is shown to the user: keep control characters out of it.
            let reason = reason.chars().filter(|c| !c.is_control()).collect();
            return Err(SaslError::ServerRefused(reason));
        }
        let verifier = attribute(first, 'v', "the server signature (v=) is missing")?;
        check_extensions(fields)?;
        let verifier = decode_base64(verifier, "the server signature (v=) is not base64")?;
        let mut mac = hmac_with_key(&self.server_key);
        mac.update(self.auth_message.as_bytes());
        // `verify_slice` compares in constant time and refuses a wrong length.
        mac.verify_slice(&verifier)
            .map_err(|_| SaslError::ServerSignatureMismatch)
    }
}

fn utf8(message: &[u8]) -> Result<&str, SaslError> {
    std::str::from_utf8(message).map_err(|_| SaslError::Malformed("a SCRAM message must be UTF-8"))
}

/// The value of `field` when it is the attribute `name` (`name=value`), else `missing`.
fn attribute<'a>(
    field: Option<&'a str>,
    name: char,
    missing: &'static str,
) -> Result<&'a str, SaslError> {
    field
        .and_then(|f| f.strip_prefix(name))
        .and_then(|f| f.strip_prefix('='))
        .ok_or(SaslError::Malformed(missing))
}

/// `m=` opens a message only to ask for an extension the peer must understand; none is
/// defined, so we understand none (RFC 5802 section 5.1).
fn refuse_mandatory_extension(field: Option<&str>) -> Result<(), SaslError> {
    match field {
        Some(f) if f.starts_with("m=") => Err(SaslError::MandatoryExtension),
        _ => Ok(()),
    }
}

/// Optional extensions may follow a message's known attributes and are ignored, but they must
/// still be `ALPHA "=" 1*value-char` (RFC 5802 section 7, `attr-val`).
fn check_extensions<'a>(mut fields: impl Iterator<Item = &'a str>) -> Result<(), SaslError> {
    let well_formed = |field: &str| {
        let bytes = field.as_bytes();
        bytes.len() > 2 && bytes[0].is_ascii_alphabetic() && bytes[1] == b'=' && !bytes.contains(&0)
    };
    if fields.all(well_formed) {
        Ok(())
    } else {
        Err(SaslError::Malformed(
            "an attribute is not of the form x=value",
        ))
    }
}

/// RFC 5802 section 7, `printable`: ASCII from `!` to `~` except `,`. Empty is refused too.
fn is_printable(nonce: &str) -> bool {
    !nonce.is_empty()
        && nonce
            .bytes()
            .all(|b| matches!(b, 0x21..=0x2B | 0x2D..=0x7E))
}

/// `=` and `,` in names are sent as `=3D` and `=2C` (RFC 5802 section 5.1, `saslname`).
fn encode_saslname(name: &str) -> String {
    name.replace('=', "=3D").replace(',', "=2C")
}

/// Undoes [`encode_saslname`]. Any other `=`, a NUL, or an empty name is an error.
fn decode_saslname(raw: &str) -> Result<String, SaslError> {
    if raw.is_empty() {
        return Err(SaslError::Malformed("a name is empty"));
    }
    let mut name = String::with_capacity(raw.len());
    let mut rest = raw;
    while let Some(at) = rest.find(['=', '\0']) {
        name.push_str(&rest[..at]);
        let escape = &rest[at..];
        if escape.starts_with("=2C") {
            name.push(',');
        } else if escape.starts_with("=3D") {
            name.push('=');
        } else {
            return Err(SaslError::Malformed(
                "a name holds a NUL, or an = that does not start =2C or =3D",
            ));
        }
        rest = &escape[3..];
    }
    name.push_str(rest);
    Ok(name)
}

fn decode_base64(value: &str, what: &'static str) -> Result<Vec<u8>, SaslError> {
    STANDARD
        .decode(value)
        .map_err(|_| SaslError::Malformed(what))
}

/// `i=` is decimal digits (RFC 5802 section 7, `posit-number`). Any count outside 1 to
/// [`MAX_ITERATIONS`] is refused, and reported as the number asked for (saturating at
/// `u64::MAX`, far above the bound anyway).
fn parse_iterations(text: &str) -> Result<u32, SaslError> {
    if text.is_empty() || !text.bytes().all(|b| b.is_ascii_digit()) {
        return Err(SaslError::Malformed(
            "the iteration count (i=) is not a number",
        ));
    }
    let count = text.bytes().fold(0u64, |n, digit| {
        n.saturating_mul(10).saturating_add(u64::from(digit - b'0'))
    });
    match u32::try_from(count) {
        Ok(count) if (1..=MAX_ITERATIONS).contains(&count) => Ok(count),
        _ => Err(SaslError::Iterations(count)),
    }
}

fn salted_password(password: &str, salt: &[u8], iterations: u32) -> Key {
    let mut salted = [0; 32];
    pbkdf2::pbkdf2_hmac::<Sha256>(password.as_bytes(), salt, iterations, &mut salted);
    salted
}

fn hmac_with_key(key: &[u8]) -> HmacSha256 {
    // HMAC hashes or pads a key of any length (RFC 2104 section 2), so this cannot fail.
    HmacSha256::new_from_slice(key).expect("HMAC accepts keys of any length")
}

fn hmac(key: &[u8], data: &[u8]) -> Key {
    let mut mac = hmac_with_key(key);
    mac.update(data);
    mac.finalize().into_bytes().into()
}

fn sha256(data: &[u8]) -> Key {
    Sha256::digest(data).into()
}

fn xor(a: &Key, b: &Key) -> Key {
    std::array::from_fn(|i| a[i] ^ b[i])
}

/// Compares without stopping at the first difference, so the time taken does not tell an
/// attacker how much of a guessed key was right.
fn constant_time_eq(a: &Key, b: &Key) -> bool {
    let difference = a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y));
    // `black_box` keeps the optimiser from turning the fold back into an early exit.
    std::hint::black_box(difference) == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn saslnames_escape_comma_and_equals() {
        for (name, encoded) in [
            ("user", "user"),
            ("a,b", "a=2Cb"),
            ("a=b", "a=3Db"),
            ("=,=", "=3D=2C=3D"),
            ("=2C", "=3D2C"),
            ("ñandú", "ñandú"),
        ] {
            assert_eq!(encode_saslname(name), encoded);
            assert_eq!(decode_saslname(encoded), Ok(name.to_owned()));
        }
        for bad in ["", "=", "a=", "a=2", "a=2c", "a=3d", "a=41", "a\0b", "==3D"] {
            assert!(decode_saslname(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn iteration_counts() {
        assert_eq!(parse_iterations("1"), Ok(1));
        assert_eq!(parse_iterations("4096"), Ok(4096));
        assert_eq!(parse_iterations("10000000"), Ok(MAX_ITERATIONS));
        assert_eq!(parse_iterations("0"), Err(SaslError::Iterations(0)));
        assert_eq!(
            parse_iterations("10000001"),
            Err(SaslError::Iterations(10_000_001))
        );
        assert_eq!(
            parse_iterations("99999999999999999999999"),
            Err(SaslError::Iterations(u64::MAX))
        );
        for bad in ["", "+5", "-1", "4k", " 1", "1 "] {
            assert!(
                matches!(parse_iterations(bad), Err(SaslError::Malformed(_))),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn printable_nonces() {
        assert!(is_printable(
            "rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0"
        ));
        for bad in ["", "a,b", "a b", "ñ", "a\u{7f}"] {
            assert!(!is_printable(bad), "{bad:?}");
        }
    }

    #[test]
    fn constant_time_eq_compares() {
        let a = [7; 32];
        let mut b = a;
        assert!(constant_time_eq(&a, &b));
        b[31] ^= 1;
        assert!(!constant_time_eq(&a, &b));
    }

    #[test]
    fn derive_treats_zero_iterations_as_one() {
        assert_eq!(
            ScramCredentials::derive("pencil", b"salt", 0),
            ScramCredentials::derive("pencil", b"salt", 1)
        );
    }

    #[test]
    fn decoy_salt_is_stable_per_user() {
        assert_eq!(
            ScramCredentials::decoy("ghost").salt,
            ScramCredentials::decoy("ghost").salt
        );
        assert_ne!(
            ScramCredentials::decoy("ghost").salt,
            ScramCredentials::decoy("spook").salt
        );
    }

    #[test]
    fn debug_hides_secrets() {
        let credentials = ScramCredentials::derive("pencil", b"salt", 1);
        let shown = format!("{credentials:?}");
        assert!(
            !shown.contains("stored_key") && !shown.contains("server_key"),
            "{shown}"
        );
        let client = ScramClient::new("user", "pencil", "nonce").expect("valid arguments");
        assert!(!format!("{client:?}").contains("pencil"));
    }
}
