//! Talking to KES: the HTTP client with MinIO's identity and trust, and
//! what tells its API generations apart.

pub(crate) mod client;
pub(crate) mod connection;
pub(crate) mod generation;
pub(crate) mod tls;
