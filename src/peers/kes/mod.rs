//! Talking to KES: the HTTP client with MinIO's identity and trust, and
//! what tells its API generations apart.

pub mod client;
pub mod connection;
pub mod generation;
pub mod tls;
