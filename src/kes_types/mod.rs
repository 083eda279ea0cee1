//! KES's terms, as values checked once (no I/O): API keys and the
//! identities KES derives from them, key names, and policies.

pub(crate) mod apikey;
pub(crate) mod keyname;
pub(crate) mod policy;

/// The variables MinIO reads for KES (internal/kms/config.go), in its order.
pub(crate) const MINIO_KES_VARS: [&str; 8] = [
    "MINIO_KMS_KES_ENDPOINT",
    "MINIO_KMS_KES_KEY_NAME",
    "MINIO_KMS_KES_API_KEY",
    "MINIO_KMS_KES_KEY_FILE",
    "MINIO_KMS_KES_CERT_FILE",
    "MINIO_KMS_KES_KEY_PASSWORD",
    "MINIO_KMS_KES_CAPATH",
    // Ignored since MinIO 2024-03, still kesgate's to remove.
    "MINIO_KMS_KES_ENCLAVE",
];
