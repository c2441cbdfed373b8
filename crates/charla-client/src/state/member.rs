//! Channel members: who is in a channel and their standing there (status prefixes, as NAMES
//! and MODE give them; <https://modern.ircdocs.horse/#channel-membership-prefixes>).

/// Someone in a channel.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Member {
    /// Their nick.
    pub nick: String,
    /// Their status prefixes, highest first (`@` operator, `+` voice...), with `multi-prefix`.
    pub prefixes: String,
    /// Whether they are away (from `away-notify`).
    pub away: bool,
}

impl Member {
    /// The highest prefix, if any, to show before the nick.
    pub fn prefix(&self) -> Option<char> {
        self.prefixes.chars().next()
    }

    /// Their standing in the channel, from their highest prefix.
    pub fn role(&self) -> Role {
        Role::from_prefix(self.prefix())
    }

    /// Whether they are a channel operator (half-operator or above: they may kick).
    pub fn is_op(&self) -> bool {
        self.role().is_op()
    }
}

/// The status prefix symbols in common use, highest first (`~` owner ... `+` voice). Servers
/// announce theirs in ISUPPORT `PREFIX`; these are the ones [`Role`] has words for.
pub const PREFIX_SYMBOLS: &str = "~&@%+";

/// A member's standing in a channel, highest first, from the conventional prefix symbols
/// (<https://modern.ircdocs.horse/#channel-membership-prefixes>).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Role {
    /// `~`: founder / owner.
    Owner,
    /// `&`: protected / admin.
    Admin,
    /// `@`: operator.
    Operator,
    /// `%`: half-operator.
    HalfOperator,
    /// `+`: voiced (may speak in a moderated channel).
    Voiced,
    /// No prefix.
    Member,
}

impl Role {
    /// The role a prefix symbol stands for (an unknown symbol or none: [`Role::Member`]).
    pub fn from_prefix(symbol: Option<char>) -> Role {
        match symbol {
            Some('~') => Role::Owner,
            Some('&') => Role::Admin,
            Some('@') => Role::Operator,
            Some('%') => Role::HalfOperator,
            Some('+') => Role::Voiced,
            _ => Role::Member,
        }
    }

    /// Whether this role runs the channel (half-operator or above: may kick, set the topic).
    pub fn is_op(self) -> bool {
        self <= Role::HalfOperator
    }

    /// The role in words, for a tooltip: "operator", "voiced", "member"...
    pub fn describe(self) -> &'static str {
        match self {
            Role::Owner => "owner",
            Role::Admin => "admin",
            Role::Operator => "operator",
            Role::HalfOperator => "half-operator",
            Role::Voiced => "voiced",
            Role::Member => "member",
        }
    }
}

/// `nick` without status prefix symbols in front (`@ana` → `ana`), as NAMES lists write them.
pub fn bare_nick(nick: &str) -> &str {
    nick.trim_start_matches(|c| PREFIX_SYMBOLS.contains(c))
}
