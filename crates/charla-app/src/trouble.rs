//! Connection problems in plain words: why a connection failed, said as a person would, with
//! what to try. The client's own words (and the operating system's, for socket errors) stay
//! available as the details: the status bar shows them on hover, and the server buffer keeps
//! them as they came.
//!
//! The reasons are read by phrase, because they arrive as text: the client's sentences
//! (`charla_client`'s "the server refused the connection", "the TLS handshake failed…"),
//! the operating system's error texts, and the server's own (ERROR, error numerics). A reason
//! this module does not recognise is shown as it is.

use charla_client::LoginError;

/// A connection problem explained.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Explained {
    /// What happened, in one sentence.
    pub summary: String,
    /// What to try.
    pub advice: String,
}

/// Where the app was connecting, for the sentences.
#[derive(Debug, Clone, Copy)]
pub struct Target<'a> {
    /// The server's host name or address.
    pub host: &'a str,
    /// Its port.
    pub port: u16,
    /// Whether the connection was to use TLS.
    pub tls: bool,
}

/// `reason` (the client's, lower or upper case) explained, when it is a problem this module
/// knows.
pub fn explain(reason: &str, to: Target<'_>) -> Option<Explained> {
    let reason = reason.to_lowercase();
    let has = |phrases: &[&str]| phrases.iter().any(|p| reason.contains(p));
    let Target { host, port, tls } = to;
    let (summary, advice) = if has(&["refused the connection", "connection refused"]) {
        (
            format!("Nothing answers at {host}, port {port}."),
            format!(
                "Check the address and the port, and that the server is running. IRC servers \
                 usually listen on port {} for {}.",
                if tls { 6697 } else { 6667 },
                if tls {
                    "TLS"
                } else {
                    "plain connections (6697 with TLS)"
                }
            ),
        )
    } else if has(&[
        "failed to lookup address",
        "name or service not known",
        "nodename nor servname",
        "no such host",
        "temporary failure in name resolution",
        "no address associated",
    ]) {
        (
            format!("The address {host} could not be found."),
            "Check how the server's address is spelled, and that this computer is online."
                .to_owned(),
        )
    } else if has(&[
        "network is unreachable",
        "no route to host",
        "host is unreachable",
    ]) {
        (
            format!("This computer cannot reach {host}."),
            "Check the network connection (Wi-Fi, cable, VPN).".to_owned(),
        )
    } else if has(&[
        "tls handshake failed",
        "is this a tls port",
        "corrupt message",
        "invalid content type",
    ]) {
        if tls {
            (
                format!("The server at port {port} does not speak TLS."),
                "Use the server's TLS port (often 6697), or untick TLS if the server has none \
                 (then what you say travels unencrypted)."
                    .to_owned(),
            )
        } else {
            (
                "The encrypted connection could not be set up.".to_owned(),
                "Check the port; the server may expect a different kind of connection.".to_owned(),
            )
        }
    } else if has(&[
        // rustls's words for a certificate that fails the checks; the client's own sentences
        // about a certificate (not trusted by the user, changed) are plain already.
        "invalid peer certificate",
        "certificate verify",
        "bad certificate",
        "unknownissuer",
    ]) {
        (
            "The server's certificate could not be checked.".to_owned(),
            "Make sure the address is right. A server with a certificate of its own \
             (self-signed): compare the fingerprint with the one its operator gives."
                .to_owned(),
        )
    } else if has(&[
        "password is wrong",
        "password incorrect",
        "bad password",
        "password mismatch",
    ]) {
        (
            "The server did not accept its password.".to_owned(),
            "Check the server password in the connect form (it is the server's, not your \
             account's)."
                .to_owned(),
        )
    } else if has(&[
        "did not answer in time",
        "timed out",
        "no answer from the server",
        "registration took too long",
    ]) {
        (
            format!("{host} did not answer in time."),
            "The server may be down, or a firewall may be in the way. Charla keeps trying."
                .to_owned(),
        )
    } else if has(&["connection was reset", "connection reset", "broken pipe"]) {
        (
            "The connection was cut.".to_owned(),
            "Charla reconnects by itself. If this keeps happening, the network is unsteady or \
             the server is turning this address away."
                .to_owned(),
        )
    } else {
        return None;
    };
    Some(Explained { summary, advice })
}

/// What to try when logging into the account failed, if there is something to say.
pub fn login_advice(error: &LoginError) -> Option<&'static str> {
    Some(match error {
        LoginError::WrongCredentials => {
            "Check the account name and password in the connect form; \"Create an account…\" \
             registers one if you have none on this server."
        }
        LoginError::Insecure => "Tick \"Use TLS\" for this server, then connect again.",
        LoginError::NotOffered => {
            "This server has no accounts: leave the account empty to chat without one."
        }
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const PLAIN: Target<'static> = Target {
        host: "irc.ejemplo.org",
        port: 6667,
        tls: false,
    };
    const TLS: Target<'static> = Target {
        host: "irc.ejemplo.org",
        port: 6667,
        tls: true,
    };

    #[test]
    fn known_problems_become_sentences() {
        let cases = [
            (
                "the server refused the connection",
                PLAIN,
                "Nothing answers at irc.ejemplo.org, port 6667.",
            ),
            (
                "Connection refused (os error 111)",
                TLS,
                "Nothing answers at irc.ejemplo.org, port 6667.",
            ),
            (
                "failed to lookup address information: Name or service not known",
                PLAIN,
                "The address irc.ejemplo.org could not be found.",
            ),
            (
                "Network is unreachable (os error 101)",
                PLAIN,
                "This computer cannot reach irc.ejemplo.org.",
            ),
            (
                "the TLS handshake failed (received corrupt message); is this a TLS port?",
                TLS,
                "The server at port 6667 does not speak TLS.",
            ),
            (
                "invalid peer certificate: Expired",
                TLS,
                "The server's certificate could not be checked.",
            ),
            (
                "The server password is wrong",
                PLAIN,
                "The server did not accept its password.",
            ),
            (
                "the server did not answer in time",
                PLAIN,
                "irc.ejemplo.org did not answer in time.",
            ),
            (
                "no answer from the server for 120 s",
                PLAIN,
                "irc.ejemplo.org did not answer in time.",
            ),
            ("the connection was reset", PLAIN, "The connection was cut."),
        ];
        for (reason, to, summary) in cases {
            let explained = explain(reason, to);
            assert_eq!(
                explained.as_ref().map(|e| e.summary.as_str()),
                Some(summary),
                "{reason}"
            );
            assert!(explained.is_some_and(|e| !e.advice.is_empty()));
        }
    }

    #[test]
    fn a_refused_tls_connection_suggests_the_tls_port() {
        let advice = explain("connection refused", TLS).map(|e| e.advice);
        assert!(advice.is_some_and(|a| a.contains("6697")));
    }

    #[test]
    fn other_reasons_stay_as_they_are() {
        assert_eq!(
            explain("the server's certificate has changed", TLS),
            None,
            "the client's words for a changed certificate are plain already"
        );
        assert_eq!(explain("you disconnected (adiós)", PLAIN), None);
        assert_eq!(explain("Killed (oper (basta ya))", PLAIN), None);
    }
}
