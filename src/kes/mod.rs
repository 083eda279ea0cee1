//! KES's terms, as values checked once (no I/O): API keys and the
//! identities KES derives from them, key names, and policies.

pub mod apikey;
pub mod keyname;
pub mod policy;
