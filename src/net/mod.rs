//! The network part every client shares.

/// TLS as MinIO does it: its trust pool and Go's verification rules.
pub(crate) mod tls;
