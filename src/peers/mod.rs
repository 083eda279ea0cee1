//! Clients of kesgate's peers: KES, MinIO's S3 API, the Vault behind KES.

/// KES: the HTTP client, API generations.
pub(crate) mod kes;
/// MinIO's S3 API, signed with SigV4.
pub(crate) mod s3;
/// The Vault/OpenBao behind KES, read for diagnosis only.
pub(crate) mod vault;
