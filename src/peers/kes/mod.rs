//! Talking to KES: API keys and identities, TLS, the HTTP client, policies.

pub mod apikey;
pub mod client;
pub mod generation;
pub mod keyname;
pub mod policy;
pub mod tls;
