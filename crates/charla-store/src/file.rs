//! The file host's records: one [`FileRecord`] per upload. The bytes themselves live on disk,
//! named by their hash, outside the store; the store says who uploaded what, under which name
//! and type, and when. Several records may share one hash (the same bytes uploaded twice): the
//! caller removes a blob only when [`Store::file_hash_used`](crate::Store::file_hash_used) says
//! no record names it any more.

/// One uploaded file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileRecord {
    /// The id in the file's URL, chosen by the server (never by the client).
    pub id: String,
    /// The key of the uploader's account.
    pub owner: String,
    /// The file name the client gave, for display (already sanitised by the caller).
    pub name: String,
    /// The media type sniffed from the bytes.
    pub content_type: String,
    /// The size in bytes.
    pub size: u64,
    /// Lowercase hex SHA-256 of the bytes: the name of the blob on disk.
    pub sha256: String,
    /// When it was uploaded (Unix milliseconds).
    pub created_ms: i64,
}
