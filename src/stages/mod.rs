//! The stages of the boot chain (crate::chain runs them in order). Each
//! takes typed settings and host facts, and returns an outcome or a
//! complete typed error with the operator's fix.

/// Bucket-default SSE-KMS through MinIO's S3 API.
pub(crate) mod buckets;
/// Keys on KES, and MinIO's start-up round trip with the default key.
pub(crate) mod keys;
/// MinIO's own view of KES, from inside MinIO's unit (after the render).
pub(crate) mod minio_view;
/// MinIO's environment file(s): plan, then commit both files as one change.
pub(crate) mod render;
/// Until KES is ready: reachable, trusted, authorised, its key store answering.
pub(crate) mod wait;

use crate::config::Settings;
use crate::host::minio_unit::{self, MinioUnit};
use crate::net::tls::TlsSetupError;
use crate::peers::kes::connection::KesConnection;

/// The one way kesgate connects to KES as MinIO would: MinIO's trust, as
/// MinIO's user reads it, under kesgate's identity (which is MinIO's).
pub(crate) async fn kes_connection(
    settings: &Settings,
    unit: &MinioUnit,
) -> Result<KesConnection, TlsSetupError> {
    let (pool, source) = minio_unit::kes_trust(settings, unit.runs_as.as_ref()).await?;
    KesConnection::new(&settings.kes, pool, source)
}
