//! The RPL_ISUPPORT (005) tokens (<https://modern.ircdocs.horse/#rplisupport-parameter>).
//!
//! Every token states what this server really does; the values come from `charla_proto`'s
//! limits and from the configuration, so that 005 cannot drift from the code.

use charla_proto::casemap::CASEMAPPING;
use charla_proto::validate::{AWAYLEN, CHANNELLEN, CHANTYPES, KICKLEN, NICKLEN, TOPICLEN, USERLEN};

use crate::config::Config;

/// Channel modes by type: lists, parameter always, parameter when set, flags
/// (<https://modern.ircdocs.horse/#chanmodes-parameter>).
pub const CHANMODES: &str = "beI,k,l,imnst";
/// Membership prefixes, highest first.
pub const PREFIX: &str = "(ov)@+";
/// Mode changes with a parameter per MODE command.
pub const MODES: usize = 4;
/// User modes (for RPL_MYINFO).
pub const USER_MODES: &str = "iow";
/// Channel modes (for RPL_MYINFO).
pub const CHANNEL_MODES: &str = "beIiklmnostv";

/// The tokens, in the order they are sent.
pub fn tokens(config: &Config) -> Vec<String> {
    let l = &config.limits;
    let targets = l.max_targets;
    vec![
        format!("AWAYLEN={AWAYLEN}"),
        format!("CASEMAPPING={CASEMAPPING}"),
        format!("CHANLIMIT={CHANTYPES}:{}", l.max_channels_per_user),
        format!("CHANMODES={CHANMODES}"),
        format!("CHANNELLEN={CHANNELLEN}"),
        format!("CHANTYPES={CHANTYPES}"),
        "EXCEPTS=e".to_owned(),
        "INVEX=I".to_owned(),
        format!("KICKLEN={KICKLEN}"),
        format!("MAXLIST=beI:{}", l.max_list_entries),
        format!("MAXTARGETS={targets}"),
        format!("MODES={MODES}"),
        format!("NETWORK={}", config.network),
        format!("NICKLEN={NICKLEN}"),
        format!("PREFIX={PREFIX}"),
        "STATUSMSG=@+".to_owned(),
        format!(
            "TARGMAX=PRIVMSG:{targets},NOTICE:{targets},TAGMSG:{targets},JOIN:,PART:,KICK:1,NAMES:1,WHOIS:1,ISON:,USERHOST:5"
        ),
        format!("TOPICLEN={TOPICLEN}"),
        format!("USERLEN={USERLEN}"),
        "UTF8ONLY".to_owned(),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_well_formed() {
        let t = tokens(&Config::default());
        assert!(t.contains(&"CHANMODES=beI,k,l,imnst".to_owned()));
        assert!(t.contains(&"PREFIX=(ov)@+".to_owned()));
        assert!(t.iter().all(|t| !t.contains(' ')));
    }
}
