//! Size limits of the protocol.

/// Longest line without its tags, CR LF included (modern.ircdocs.horse, "Messages").
pub const MAX_LINE: usize = 512;
/// Longest tag section a client may send, `@` and trailing space included (IRCv3 message-tags).
pub const MAX_CLIENT_TAGS: usize = 4096;
/// Longest tag section a server may send, `@` and trailing space included (IRCv3 message-tags).
pub const MAX_TAGS: usize = 8191;
/// Longest line a server reads: tags plus the body.
pub const MAX_INBOUND: usize = MAX_TAGS + MAX_LINE;
/// Most parameters a message can have.
pub const MAX_PARAMS: usize = 15;
