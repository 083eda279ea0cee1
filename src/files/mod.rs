//! Files, the way kesgate (as root) must treat them: reads that never
//! block or follow into the wrong place, atomic writes, and MinIO's two
//! env-file dialects.

/// Atomic, durable, private writes; the host's write lock.
pub(crate) mod atomic;
/// MinIO's two env-file dialects: systemd's EnvironmentFile, MinIO's own.
pub(crate) mod envfile;
/// glob(3) patterns, as systemd expands `EnvironmentFile=`.
pub(crate) mod glob;
/// Reading only regular files, without blocking, up to a cap.
pub(crate) mod regular;
/// Paths resolved for writing as systemd-tmpfiles does.
pub(crate) mod safe_path;

/// The fix wherever kesgate runs out of file descriptors (EMFILE/ENFILE).
pub(crate) const FIX_DESCRIPTORS: &str = "raise kesgate's open-file limit (LimitNOFILE= in a drop-in), or find what holds this host's file descriptors";
