//! Facts about this host that the stages are handed: how minio.service
//! runs MinIO, and systemd's side (D-Bus, sd_notify, the journal episode).

/// minio.service as kesgate must copy it: user, environment, working
/// directory, the preflight drop-in, the trust MinIO builds.
pub(crate) mod minio_unit;
/// sd_notify, D-Bus, and one journal entry per state change.
pub(crate) mod systemd;
