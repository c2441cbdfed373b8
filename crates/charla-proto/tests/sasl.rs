//! SASL exchanges as they go over `AUTHENTICATE`: the RFC 7677 test vector from both sides,
//! round trips between our client and server, what each side refuses, and property tests that
//! no input, however mangled, makes any step panic.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use charla_proto::sasl::{
    ChunkReader, SaslError, ScramClient, ScramClientAwaitingSignature, ScramCredentials,
    ScramServer, ScramServerAwaitingProof, encode_chunks, plain_decode, plain_encode,
};
use proptest::prelude::*;

/// RFC 7677 section 3: user "user", password "pencil".
mod rfc7677 {
    pub const CLIENT_NONCE: &str = "rOprNGfwEbeRWgbNEkqO";
    pub const SERVER_NONCE: &str = "%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0";
    pub const SALT: &str = "W22ZaJ0SNY7soEsUEjb6gQ==";
    pub const CLIENT_FIRST: &str = "n,,n=user,r=rOprNGfwEbeRWgbNEkqO";
    pub const SERVER_FIRST: &str =
        "r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096";
    pub const CLIENT_FINAL: &str = "c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,\
                                    p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=";
    pub const SERVER_FINAL: &str = "v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4=";
}

fn text(bytes: &[u8]) -> &str {
    std::str::from_utf8(bytes).expect("SCRAM messages we build are UTF-8")
}

#[test]
fn rfc_7677_client_side() {
    let client = ScramClient::new("user", "pencil", rfc7677::CLIENT_NONCE).expect("valid");
    assert_eq!(text(&client.client_first()), rfc7677::CLIENT_FIRST);
    let (client, client_final) = client
        .server_first(rfc7677::SERVER_FIRST.as_bytes())
        .expect("the server-first-message is valid");
    assert_eq!(text(&client_final), rfc7677::CLIENT_FINAL);
    assert_eq!(
        client.server_final(rfc7677::SERVER_FINAL.as_bytes()),
        Ok(())
    );
}

#[test]
fn rfc_7677_server_side() {
    let server = ScramServer::new(rfc7677::CLIENT_FIRST.as_bytes()).expect("valid");
    assert_eq!(server.username(), "user");
    assert_eq!(server.authzid(), None);
    let salt = STANDARD
        .decode(rfc7677::SALT)
        .expect("the RFC's salt is base64");
    let credentials = ScramCredentials::derive("pencil", &salt, 4096);
    let (server, server_first) = server
        .server_first(Some(credentials), rfc7677::SERVER_NONCE)
        .expect("the nonce is printable");
    assert_eq!(text(&server_first), rfc7677::SERVER_FIRST);
    let server_final = server
        .client_final(rfc7677::CLIENT_FINAL.as_bytes())
        .expect("the proof is right");
    assert_eq!(text(&server_final), rfc7677::SERVER_FINAL);
}

/// Runs a whole exchange: the client knows `password`, the server holds `account` (`None`: no
/// such account). Returns the server's verdict and, when it said yes, the client's.
fn exchange(
    username: &str,
    password: &str,
    account: Option<ScramCredentials>,
) -> Result<(), SaslError> {
    let client = ScramClient::new(username, password, "clientnonce")?;
    let server = ScramServer::new(&client.client_first())?;
    assert_eq!(server.username(), username);
    let (server, server_first) = server.server_first(account, "servernonce")?;
    let (client, client_final) = client.server_first(&server_first)?;
    let server_final = server.client_final(&client_final)?;
    client.server_final(&server_final)
}

#[test]
fn unicode_round_trip() {
    let account = ScramCredentials::derive("contraseña", b"some salt", 16);
    assert_eq!(exchange("ñandú", "contraseña", Some(account)), Ok(()));
}

#[test]
fn names_with_comma_and_equals_round_trip() {
    let account = ScramCredentials::derive("p,w=", b"salt", 1);
    assert_eq!(exchange("a,b=c", "p,w=", Some(account)), Ok(()));
}

#[test]
fn wrong_password_fails() {
    let account = ScramCredentials::derive("contraseña", b"some salt", 16);
    assert_eq!(
        exchange("ñandú", "contrasena", Some(account)),
        Err(SaslError::AuthenticationFailed)
    );
}

#[test]
fn unknown_account_looks_real_then_fails_like_a_wrong_password() {
    let server = ScramServer::new(b"n,,n=ghost,r=abc").expect("valid");
    let (_, server_first) = server.server_first(None, "def").expect("valid nonce");
    let server_first = text(&server_first);
    assert!(server_first.starts_with("r=abcdef,s="), "{server_first}");
    assert!(server_first.ends_with(",i=4096"), "{server_first}");
    assert_eq!(
        exchange("ghost", "anything", None),
        Err(SaslError::AuthenticationFailed)
    );
}

#[test]
fn authzid_and_y_flag_are_accepted() {
    let server = ScramServer::new(b"y,a=ad=2Cmin,n=user,r=abc,x=ignored").expect("valid");
    assert_eq!(server.username(), "user");
    assert_eq!(server.authzid(), Some("ad,min"));
    let (server, _) = server.server_first(None, "def").expect("valid nonce");
    assert_eq!(server.authzid(), Some("ad,min"));
    // The client must echo its own header, `y,a=ad=2Cmin,`, in `c=`.
    let wrong_binding = format!("c={},r=abcdef,p={}", STANDARD.encode("n,,"), zero_proof());
    assert_eq!(
        server.client_final(wrong_binding.as_bytes()),
        Err(SaslError::ChannelBindingMismatch)
    );
}

#[test]
fn server_nonce_mismatch_fails_on_the_client() {
    let client = ScramClient::new("user", "pencil", "abc").expect("valid");
    for server_first in ["r=xyzdef,s=c2FsdA==,i=1", "r=abc,s=c2FsdA==,i=1"] {
        assert_eq!(
            client
                .clone()
                .server_first(server_first.as_bytes())
                .map(|_| ()),
            Err(SaslError::NonceMismatch),
            "{server_first}"
        );
    }
}

#[test]
fn client_nonce_mismatch_fails_on_the_server() {
    let (server, _) = awaiting_proof();
    let message = format!("c=biws,r=abcdeX,p={}", zero_proof());
    assert_eq!(
        server.client_final(message.as_bytes()),
        Err(SaslError::NonceMismatch)
    );
}

#[test]
fn a_replayed_proof_fails_against_a_new_server_nonce() {
    let account = || Some(ScramCredentials::derive("pencil", b"salt", 1));
    let client = ScramClient::new("user", "pencil", "abc").expect("valid");
    let server = ScramServer::new(&client.client_first()).expect("valid");
    let (_, server_first) = server.server_first(account(), "first").expect("valid");
    let (_, client_final) = client.server_first(&server_first).expect("valid");

    let server = ScramServer::new(b"n,,n=user,r=abc").expect("valid");
    let (server, _) = server.server_first(account(), "second").expect("valid");
    assert_eq!(
        server.client_final(&client_final),
        Err(SaslError::NonceMismatch)
    );
}

#[test]
fn caller_arguments_are_checked() {
    assert_eq!(
        ScramClient::new("", "pw", "abc").map(|_| ()),
        Err(SaslError::InvalidUsername)
    );
    assert_eq!(
        ScramClient::new("a\0b", "pw", "abc").map(|_| ()),
        Err(SaslError::InvalidUsername)
    );
    for nonce in ["", "a,b", "a b", "ñ"] {
        assert_eq!(
            ScramClient::new("user", "pw", nonce).map(|_| ()),
            Err(SaslError::InvalidNonce)
        );
        let server = ScramServer::new(b"n,,n=user,r=abc").expect("valid");
        assert_eq!(
            server.server_first(None, nonce).map(|_| ()),
            Err(SaslError::InvalidNonce)
        );
    }
}

fn zero_proof() -> String {
    STANDARD.encode([0u8; 32])
}

/// A server that got `n,,n=user,r=abc` for an account with password "pencil" and answered with
/// server nonce `def`, and that answer.
fn awaiting_proof() -> (ScramServerAwaitingProof, Vec<u8>) {
    let server = ScramServer::new(b"n,,n=user,r=abc").expect("valid");
    let account = ScramCredentials::derive("pencil", b"salt", 1);
    server
        .server_first(Some(account), "def")
        .expect("valid nonce")
}

/// A client for "user"/"pencil" with nonce `abc` that has sent its proof, and that proof.
fn awaiting_signature() -> (ScramClientAwaitingSignature, Vec<u8>) {
    let client = ScramClient::new("user", "pencil", "abc").expect("valid");
    client
        .server_first(b"r=abcdef,s=c2FsdA==,i=1")
        .expect("valid")
}

/// Checks each `(description, input, expected)`; `None` expects some `Malformed`.
fn check_refusals<T: std::fmt::Debug>(
    step: impl Fn(&[u8]) -> Result<T, SaslError>,
    cases: &[(&str, &[u8], Option<SaslError>)],
) {
    for (what, input, expected) in cases {
        let result = step(input);
        match expected {
            Some(error) => assert_eq!(result.as_ref().err(), Some(error), "{what}: {result:?}"),
            None => assert!(
                matches!(result, Err(SaslError::Malformed(_))),
                "{what}: {result:?}"
            ),
        }
    }
}

#[test]
fn server_refuses_bad_client_first_messages() {
    use SaslError::{ChannelBindingUnsupported, MandatoryExtension};
    check_refusals(
        ScramServer::new,
        &[
            ("empty message", b"", None),
            ("header only", b"n,,", None),
            ("no header", b"n=user,r=abc", None),
            ("unknown flag", b"x,,n=user,r=abc", None),
            (
                "channel binding",
                b"p=tls-unique,,n=user,r=abc",
                Some(ChannelBindingUnsupported),
            ),
            ("authzid without a=", b"n,admin,n=user,r=abc", None),
            ("empty authzid", b"n,a=,n=user,r=abc", None),
            (
                "mandatory extension",
                b"n,,m=ext,n=user,r=abc",
                Some(MandatoryExtension),
            ),
            ("no username", b"n,,r=abc", None),
            ("empty username", b"n,,n=,r=abc", None),
            ("bad escape", b"n,,n=us=41er,r=abc", None),
            ("lone equals", b"n,,n=user=,r=abc", None),
            ("NUL in username", b"n,,n=us\0er,r=abc", None),
            ("not UTF-8", b"n,,n=\xff,r=abc", None),
            ("no nonce", b"n,,n=user", None),
            ("empty nonce", b"n,,n=user,r=", None),
            ("nonce with space", b"n,,n=user,r=a c", None),
            ("nonce not ASCII", "n,,n=user,r=ñ".as_bytes(), None),
            ("attributes swapped", b"n,,r=abc,n=user", None),
            ("bad extension", b"n,,n=user,r=abc,!", None),
            ("empty extension value", b"n,,n=user,r=abc,x=", None),
            ("trailing comma", b"n,,n=user,r=abc,", None),
        ],
    );
}

#[test]
fn server_refuses_bad_client_final_messages() {
    use SaslError::{AuthenticationFailed, ChannelBindingMismatch, NonceMismatch};
    let (server, _) = awaiting_proof();
    let zero = zero_proof();
    let with = |binding: &str, nonce: &str, proof: &str| format!("c={binding},r={nonce},p={proof}");
    let cases = [
        ("empty message", String::new(), None),
        ("an error from the client", "e=other-error".to_owned(), None),
        ("no proof", "c=biws,r=abcdef".to_owned(), None),
        ("no nonce", format!("c=biws,p={zero}"), None),
        ("no binding", format!("r=abcdef,p={zero}"), None),
        ("swapped", format!("r=abcdef,c=biws,p={zero}"), None),
        ("proof not last", format!("c=biws,p={zero},r=abcdef"), None),
        ("binding not base64", with("!!!!", "abcdef", &zero), None),
        (
            "other binding",
            with("eSws", "abcdef", &zero),
            Some(ChannelBindingMismatch),
        ),
        (
            "other nonce",
            with("biws", "abcdeg", &zero),
            Some(NonceMismatch),
        ),
        (
            "client nonce only",
            with("biws", "abc", &zero),
            Some(NonceMismatch),
        ),
        ("proof not base64", with("biws", "abcdef", "%%%%"), None),
        ("short proof", with("biws", "abcdef", "AAAA"), None),
        ("empty proof", with("biws", "abcdef", ""), None),
        (
            "wrong proof",
            with("biws", "abcdef", &zero),
            Some(AuthenticationFailed),
        ),
        (
            "bad extension",
            format!("c=biws,r=abcdef,junk,p={zero}"),
            None,
        ),
    ];
    let cases: Vec<(&str, &[u8], Option<SaslError>)> = cases
        .iter()
        .map(|(what, message, expected)| (*what, message.as_bytes(), expected.clone()))
        .collect();
    check_refusals(|m| server.client_final(m), &cases);
    check_refusals(
        |m| server.client_final(m),
        &[("not UTF-8", b"c=biws,r=\xff,p=AA==", None)],
    );
}

#[test]
fn client_refuses_bad_server_first_messages() {
    use SaslError::{Iterations, MandatoryExtension, NonceMismatch};
    let client = ScramClient::new("user", "pencil", "abc").expect("valid");
    check_refusals(
        |m| client.clone().server_first(m).map(|_| ()),
        &[
            ("empty message", b"", None),
            ("an error", b"e=other-error", None),
            (
                "mandatory extension",
                b"m=x,r=abcdef,s=c2FsdA==,i=1",
                Some(MandatoryExtension),
            ),
            ("no iterations", b"r=abcdef,s=c2FsdA==", None),
            ("no salt", b"r=abcdef,i=4096", None),
            ("no nonce", b"s=c2FsdA==,i=4096", None),
            (
                "other nonce",
                b"r=xyzdef,s=c2FsdA==,i=1",
                Some(NonceMismatch),
            ),
            (
                "nonce not extended",
                b"r=abc,s=c2FsdA==,i=1",
                Some(NonceMismatch),
            ),
            ("nonce with space", b"r=abc def,s=c2FsdA==,i=1", None),
            ("salt not base64", b"r=abcdef,s=!!,i=1", None),
            ("empty salt", b"r=abcdef,s=,i=1", None),
            (
                "zero iterations",
                b"r=abcdef,s=c2FsdA==,i=0",
                Some(Iterations(0)),
            ),
            (
                "too many iterations",
                b"r=abcdef,s=c2FsdA==,i=10000001",
                Some(Iterations(10_000_001)),
            ),
            (
                "past u32",
                b"r=abcdef,s=c2FsdA==,i=4294967296",
                Some(Iterations(4_294_967_296)),
            ),
            (
                "huge iterations",
                b"r=abcdef,s=c2FsdA==,i=99999999999999999999999",
                Some(Iterations(u64::MAX)),
            ),
            (
                "iterations not a number",
                b"r=abcdef,s=c2FsdA==,i=many",
                None,
            ),
            ("signed iterations", b"r=abcdef,s=c2FsdA==,i=+1", None),
            ("bad extension", b"r=abcdef,s=c2FsdA==,i=1,junk", None),
            ("not UTF-8", b"r=abc\xff,s=c2FsdA==,i=1", None),
        ],
    );
}

#[test]
fn client_refuses_bad_server_final_messages() {
    use SaslError::{ServerRefused, ServerSignatureMismatch};
    let (client, _) = awaiting_signature();
    let wrong = format!("v={}", STANDARD.encode([1u8; 32]));
    check_refusals(
        |m| client.server_final(m),
        &[
            ("empty message", b"", None),
            (
                "an error",
                b"e=invalid-proof",
                Some(ServerRefused("invalid-proof".to_owned())),
            ),
            (
                "an error with control characters",
                b"e=bad\x1b[0m",
                Some(ServerRefused("bad[0m".to_owned())),
            ),
            ("no signature", b"x=1", None),
            ("signature not base64", b"v=!!!", None),
            ("short signature", b"v=AAAA", Some(ServerSignatureMismatch)),
            ("empty signature", b"v=", Some(ServerSignatureMismatch)),
            (
                "wrong signature",
                wrong.as_bytes(),
                Some(ServerSignatureMismatch),
            ),
            ("not UTF-8", b"v=\xff", None),
        ],
    );
}

#[test]
fn a_server_without_the_password_is_caught() {
    // A server that has the salt but not the keys (say, an impostor) signs with the wrong key.
    let account = ScramCredentials::derive("pencil", b"salt", 1);
    let impostor = ScramCredentials {
        server_key: [9; 32],
        ..account.clone()
    };
    let client = ScramClient::new("user", "pencil", "abc").expect("valid");
    let server = ScramServer::new(&client.client_first()).expect("valid");
    let (server, server_first) = server.server_first(Some(impostor), "def").expect("valid");
    let (client, client_final) = client.server_first(&server_first).expect("valid");
    let server_final = server
        .client_final(&client_final)
        .expect("the stored key is right");
    assert_eq!(
        client.server_final(&server_final),
        Err(SaslError::ServerSignatureMismatch)
    );
}

#[test]
fn plain_over_authenticate_lines() {
    let chunks = encode_chunks(&plain_encode("", "ñandú", "contraseña"));
    let mut reader = ChunkReader::new(1024);
    let mut payload = None;
    for chunk in &chunks {
        payload = reader.push(chunk).expect("valid chunks");
    }
    let payload = payload.expect("the last chunk completes the payload");
    let plain = plain_decode(&payload).expect("valid PLAIN message");
    assert_eq!(
        (plain.authzid, plain.authcid, plain.password),
        ("", "ñandú", "contraseña")
    );
}

/// Each SCRAM message, well formed, for the states `awaiting_proof` and `awaiting_signature`
/// build (client nonce `abc`), with small iteration counts so one that gets through costs little.
fn scram_message() -> impl Strategy<Value = Vec<u8>> {
    let key = || prop::array::uniform32(any::<u8>()).prop_map(|k| STANDARD.encode(k));
    prop_oneof![
        "(n|y|p=tls-unique),(a=[a-z]{1,3})?,(m=x,)?n=[a-zñ]{1,3}(=2C|=3D)?,r=abc[!-+\\--~]{0,4}(,x=[a-z]{1,2})?",
        "(m=x,)?r=abc[!-+\\--~]{1,4},s=(c2FsdA==|AAAA),i=[1-9][0-9]?(,x=[a-z]{1,2})?",
        key().prop_map(|proof| format!("c=biws,r=abcdef,p={proof}")),
        key().prop_map(|signature| format!("v={signature}")),
        "e=[a-z-]{1,12}",
    ]
    .prop_map(String::into_bytes)
}

/// SCRAM messages, well formed or damaged (cut short, one byte changed or one added), and
/// arbitrary bytes.
fn scram_like() -> impl Strategy<Value = Vec<u8>> {
    let damaged = (
        scram_message(),
        0..4u8,
        any::<prop::sample::Index>(),
        any::<u8>(),
    )
        .prop_map(|(mut message, damage, at, byte)| {
            let at = at.index(message.len() + 1);
            match damage {
                0 => {}
                1 => message.truncate(at),
                2 if at < message.len() => message[at] = byte,
                _ => message.insert(at, byte),
            }
            message
        });
    prop_oneof![3 => damaged, 1 => any::<Vec<u8>>()]
}

proptest! {
    #[test]
    fn server_steps_never_panic(first in scram_like(), last in scram_like()) {
        if let Ok(server) = ScramServer::new(&first) {
            let (server, _) = server.server_first(None, "def").expect("valid nonce");
            let _ = server.client_final(&last);
        }
        let (server, _) = awaiting_proof();
        let _ = server.client_final(&last);
    }

    #[test]
    fn client_steps_never_panic(first in scram_like(), last in scram_like()) {
        let client = ScramClient::new("user", "pencil", "abc").expect("valid");
        if let Ok((client, _)) = client.server_first(&first) {
            let _ = client.server_final(&last);
        }
        let (client, _) = awaiting_signature();
        let _ = client.server_final(&last);
    }

    #[test]
    fn plain_decode_never_panics(message in any::<Vec<u8>>()) {
        let _ = plain_decode(&message);
    }

    #[test]
    fn chunk_reader_never_panics(
        limit in 0usize..2000,
        chunks in prop::collection::vec(
            prop_oneof![".{0,450}", "[A-Za-z0-9+/=]{0,402}", Just("+".to_owned()), Just("*".to_owned())],
            0..6,
        ),
    ) {
        let mut reader = ChunkReader::new(limit);
        for chunk in &chunks {
            if let Ok(Some(payload)) = reader.push(chunk) {
                prop_assert!(payload.len() <= limit);
            }
        }
    }

    #[test]
    fn chunks_round_trip(payload in prop::collection::vec(any::<u8>(), 0..1500)) {
        let mut reader = ChunkReader::new(payload.len());
        let chunks = encode_chunks(&payload);
        let (last, init) = chunks.split_last().expect("never empty");
        for chunk in init {
            prop_assert_eq!(reader.push(chunk), Ok(None));
        }
        prop_assert_eq!(reader.push(last), Ok(Some(payload)));
    }

    #[test]
    fn any_credentials_round_trip(
        username in "[^\\x00]{1,12}",
        password in ".{0,12}",
        client_nonce in "[!-+\\--~]{1,8}",
        server_nonce in "[!-+\\--~]{1,8}",
        salt in prop::collection::vec(any::<u8>(), 1..16),
    ) {
        let account = ScramCredentials::derive(&password, &salt, 1);
        let client = ScramClient::new(&username, &password, &client_nonce).expect("valid");
        let server = ScramServer::new(&client.client_first()).expect("valid");
        prop_assert_eq!(server.username(), username.as_str());
        let (server, server_first) = server.server_first(Some(account), &server_nonce).expect("valid");
        let (client, client_final) = client.server_first(&server_first).expect("valid");
        let server_final = server.client_final(&client_final).expect("right password");
        prop_assert_eq!(client.server_final(&server_final), Ok(()));
    }
}
