//! Clients of kesgate's peers, and how their words are shown.

/// KES: API keys and identities, the HTTP client, key names, policies.
pub mod kes;
/// MinIO's S3 API, signed with SigV4.
pub mod s3;
/// Text from peers, cut and escaped before it is shown.
pub mod text;
/// The Vault/OpenBao behind KES, read for diagnosis only.
pub mod vault;
