//! The RPL_ISUPPORT (005) tokens (<https://modern.ircdocs.horse/#rplisupport-parameter>),
//! built with `charla_proto::isupport::IsupportBuilder` (escaping, 13 tokens and 512 bytes per
//! line).
//!
//! Every token states what this server really does; the values come from `charla_proto`'s
//! limits and from the configuration, so that 005 cannot drift from the code.

use charla_proto::casemap::CASEMAPPING;
use charla_proto::isupport::IsupportBuilder;
use charla_proto::validate::{AWAYLEN, CHANNELLEN, CHANTYPES, KICKLEN, NICKLEN, TOPICLEN, USERLEN};

use crate::command::kick::MAX_KICK_TARGETS;
use crate::command::names::MAX_NAMES_TARGETS;
use crate::command::userhost::MAX_ISON;
use crate::config::Config;

/// Channel modes by type: lists, parameter always, parameter when set, flags
/// (<https://modern.ircdocs.horse/#chanmodes-parameter>).
pub const CHANMODES: &str = "beI,k,l,Cimnst";
/// Membership prefix modes, highest first, and their symbols.
pub const PREFIX_MODES: &str = "ov";
/// The `PREFIX` token value.
pub const PREFIX: &str = "(ov)@+";
/// Mode changes with a parameter per MODE command.
pub const MODES: usize = 4;
/// User modes (for RPL_MYINFO and MODE parsing).
pub const USER_MODES: &str = "Biow";
/// Channel modes (for RPL_MYINFO).
pub const CHANNEL_MODES: &str = "CbeIiklmnostv";

/// The 005 tokens for `config`.
pub fn builder(config: &Config) -> IsupportBuilder {
    let l = &config.limits;
    let t = l.max_targets;
    let mut b = IsupportBuilder::new();
    b.set("AWAYLEN", AWAYLEN)
        .set("BOT", "B")
        .set("CASEMAPPING", CASEMAPPING)
        .set("CHANLIMIT", format!("{CHANTYPES}:{}", l.max_channels_per_user))
        .set("CHANMODES", CHANMODES)
        .set("CHANNELLEN", CHANNELLEN)
        .set("CHANTYPES", CHANTYPES)
        .set("ELIST", crate::command::list::ELIST)
        .set("EXCEPTS", "e")
        .set("EXTBAN", crate::channel::EXTBAN)
        .set("INVEX", "I")
        .set("KEYLEN", crate::command::mode::KEYLEN)
        .set("KICKLEN", KICKLEN)
        // Each list has its own limit (a shared `beI:` would promise less room than there is).
        .set(
            "MAXLIST",
            format!(
                "b:{n},e:{n},I:{n}",
                n = l.max_list_entries
            ),
        )
        .set("MAXTARGETS", t)
        .set("MODES", MODES)
        .set("MONITOR", crate::monitor::MAX_PER_CLIENT)
        .set("NETWORK", &config.network)
        .set("NICKLEN", NICKLEN)
        .set("PREFIX", PREFIX)
        // LIST is produced as the send queue drains: a full list never costs a disconnect.
        .flag("SAFELIST")
        .set("STATUSMSG", "@+")
        .set(
            "TARGMAX",
            format!(
                "PRIVMSG:{t},NOTICE:{t},TAGMSG:{t},JOIN:,PART:,KICK:{MAX_KICK_TARGETS},NAMES:{MAX_NAMES_TARGETS},WHOIS:1,ISON:{MAX_ISON},USERHOST:5"
            ),
        )
        .set("TOPICLEN", TOPICLEN)
        .set("USERLEN", USERLEN)
        .flag("UTF8ONLY")
        .flag("WHOX");
    if config.history.enabled {
        b.set("CHATHISTORY", crate::history::request_limit(config))
            .set("MSGREFTYPES", "msgid,timestamp");
    }
    b
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_well_formed() {
        let b = builder(&Config::default());
        let t: Vec<&str> = b.tokens().collect();
        assert!(t.contains(&"CHANMODES=beI,k,l,Cimnst"));
        assert!(t.contains(&"EXTBAN=~,m"));
        assert!(t.contains(&"ELIST=CMNTU"));
        assert!(t.contains(&"PREFIX=(ov)@+"));
        assert!(t.contains(&"UTF8ONLY"));
        // What the server honours, as it honours it: a limit per list, 32-byte keys, LIST
        // paced (never a disconnect), ISON reading 64 nicks.
        assert!(t.contains(&"MAXLIST=b:100,e:100,I:100"));
        assert!(t.contains(&"KEYLEN=32"));
        assert!(t.contains(&"SAFELIST"));
        assert!(
            t.iter()
                .any(|t| t.starts_with("TARGMAX=") && t.contains(",ISON:64,")),
            "{t:?}"
        );
        assert!(t.iter().all(|t| !t.contains(' ')));
        for line in b.lines("irc.example.org", &"n".repeat(30)) {
            assert!(line.len() <= 512);
        }
    }
}
