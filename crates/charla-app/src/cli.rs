//! The command line: `charla [irc://host:port/channel] [--nick NICK] [--host PORT [--tls]]`,
//! so a link or a launcher can open a connection or a hosted server directly.

use charla_client::ServerConfig;

/// What to do at start.
#[derive(Debug, Clone, PartialEq, Eq, clap::Parser)]
#[command(
    name = "charla",
    version,
    about = "Charla: chat over IRC, or host a chat server"
)]
pub struct Args {
    /// Connect at start: `irc://host[:port][/channel]`, `ircs://…` for TLS, or `host[:port]`.
    pub server: Option<String>,
    /// The nick to use (for the connection and for the hosted server).
    #[arg(long)]
    pub nick: Option<String>,
    /// Start "Host a server" on this port at start (0: any free port).
    #[arg(long, value_name = "PORT")]
    pub host: Option<u16>,
    /// With `--host`: the hosted server speaks TLS (with its own self-signed certificate).
    #[arg(long, requires = "host")]
    pub tls: bool,
}

/// Turns `irc://host:port/channel` (or `ircs://`, or `host:port`) into a client config for
/// `nick`. Returns a message in words when the address cannot be read.
pub fn server_config(target: &str, nick: &str) -> Result<ServerConfig, String> {
    let (tls, rest) = if let Some(rest) = target.strip_prefix("ircs://") {
        (true, rest)
    } else if let Some(rest) = target.strip_prefix("irc://") {
        (false, rest)
    } else {
        (false, target)
    };
    let (authority, channel) = match rest.split_once('/') {
        Some((authority, channel)) => (authority, channel),
        None => (rest, ""),
    };
    let default_port = if tls { 6697 } else { 6667 };
    let (host, port) = match authority.rsplit_once(':') {
        // A bracketed IPv6 address keeps its colons.
        Some((host, port)) if !port.contains(']') => {
            let port = port
                .parse::<u16>()
                .map_err(|_| format!("“{port}” is not a port number"))?;
            (host, port)
        }
        _ => (authority, default_port),
    };
    let host = host.trim_start_matches('[').trim_end_matches(']');
    if host.is_empty() {
        return Err(format!("“{target}” names no server"));
    }
    let mut config = ServerConfig::new(host, port, nick);
    config.tls = tls;
    // "%23charla" is how a link escapes "#charla"; a bare name means a "#" channel.
    let channel = channel.replace("%23", "#");
    let channel = channel.trim();
    if !channel.is_empty() {
        config.autojoin = vec![if channel.starts_with(['#', '&']) {
            channel.to_owned()
        } else {
            format!("#{channel}")
        }];
    }
    Ok(config)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tls_goes_with_host() {
        use clap::Parser as _;
        let args = Args::try_parse_from(["charla", "--host", "6697", "--tls"]);
        assert!(args.is_ok_and(|a| a.host == Some(6697) && a.tls));
        assert!(
            Args::try_parse_from(["charla", "--tls"]).is_err(),
            "--tls alone means nothing"
        );
    }

    #[test]
    fn reads_irc_links_and_plain_addresses() -> Result<(), String> {
        let c = server_config("ircs://chat.example.org/%23charla", "Ñandú")?;
        assert_eq!(
            (c.host.as_str(), c.port, c.tls),
            ("chat.example.org", 6697, true)
        );
        assert_eq!(c.autojoin, vec!["#charla"]);
        let c = server_config("irc://127.0.0.1:7000/ayuda", "ana")?;
        assert_eq!((c.host.as_str(), c.port, c.tls), ("127.0.0.1", 7000, false));
        assert_eq!(c.autojoin, vec!["#ayuda"]);
        let c = server_config("[::1]:6668", "ana")?;
        assert_eq!((c.host.as_str(), c.port), ("::1", 6668));
        let c = server_config("localhost", "ana")?;
        assert_eq!((c.port, c.autojoin.len()), (6667, 0));
        assert!(server_config("irc://host:seis", "ana").is_err());
        assert!(server_config("irc://", "ana").is_err());
        Ok(())
    }
}
