//! The stages of the boot chain (crate::chain runs them in order). Each
//! takes typed settings and host facts, and returns an outcome or a
//! complete typed error with the operator's fix.

/// Bucket-default SSE-KMS through MinIO's S3 API.
pub mod buckets;
/// Keys on KES, and MinIO's start-up round trip with the default key.
pub mod keys;
/// MinIO's own view of KES, from inside MinIO's unit (after the render).
pub mod minio_view;
/// MinIO's environment file(s): plan, then commit both files as one change.
pub mod render;
/// Until KES is ready: reachable, trusted, authorised, its key store answering.
pub mod wait;
