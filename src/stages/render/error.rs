//! Why a render stops, and the fix each cause gets.

use std::io;
use std::path::PathBuf;

use crate::files::atomic::LockError;
use crate::files::envfile::EnvFileError;
use crate::files::safe_path::SafePathError;

#[derive(Debug, thiserror::Error)]
pub(crate) enum RenderError {
    #[error(
        "{path}: {source}\n  fix: repair the file by hand (MinIO's unit would start without any of its variables)"
    )]
    Unreadable { path: PathBuf, source: EnvFileError },
    #[error(
        "{path} configures another KMS ({found}); kesgate manages KES only and left the file untouched\n  fix: switching KMS loses access to data encrypted with the old one; if you really mean to move to KES, remove those lines yourself"
    )]
    OtherKms { path: PathBuf, found: String },
    #[error(
        "{path}: cannot write {name}: {why}; nothing was written\n  fix: change that value in kesgate.toml, or point MINIO_CONFIG_ENV_FILE at a file of its own (MinIO's syntax only)"
    )]
    Unwritable {
        path: PathBuf,
        name: String,
        why: &'static str,
    },
    #[error("{path} {problem}; nothing was written\n  fix: {fix}")]
    Shape {
        path: PathBuf,
        problem: String,
        fix: &'static str,
    },
    #[error(
        "{path}: {source}; kesgate writes as root and does not follow it; nothing was written\n  fix: give that directory to root (`chown root: DIR`), or keep the file in a directory only root may change"
    )]
    Unsafe {
        path: PathBuf,
        source: SafePathError,
    },
    #[error("cannot read {path}: {source}\n  fix: {}", read_fix(source))]
    Read { path: PathBuf, source: io::Error },
    #[error(
        "cannot render {path}: {source}; nothing was written\n  fix: let it finish, or stop that process"
    )]
    Locked { path: PathBuf, source: LockError },
    #[error("cannot write {path}: {source}; {state}\n  fix: {}", write_fix(source))]
    Write {
        path: PathBuf,
        source: io::Error,
        /// What was written before the failure and what MinIO sees now.
        state: String,
    },
    #[error("{path}: MinIO would not read it: {why}; nothing was written\n  fix: {fix}")]
    MinioCannotRead {
        path: PathBuf,
        why: String,
        fix: String,
    },
    #[error(
        "{files}: no order of the writes keeps MinIO's view the complete old or new configuration ({why}); nothing was written\n  fix: make the change in two steps: first the KES settings with the layout as it is, then the layout"
    )]
    NoSafeOrder { files: String, why: String },
    #[error(
        "{path}: kesgate.service's sandbox may not write it ({source}), and {unit} does not run kesgate's preflight before MinIO starts (its drop-in kesgate.conf is not in effect), so MinIO would start on what the file says now\n  fix: restore the drop-in (reinstall kesgate, then `systemctl daemon-reload`), or keep the file where kesgate.service may write it (owned by root)"
    )]
    NoPreflight {
        path: PathBuf,
        source: io::Error,
        unit: String,
    },
    #[error(
        "internal error: the rendered {path} would break MinIO's KMS rules ({problems}); nothing was written"
    )]
    Invariant { path: PathBuf, problems: String },
}

/// The fix for a failed write, by what the kernel said.
pub(super) fn write_fix(e: &io::Error) -> &'static str {
    match e.raw_os_error() {
        Some(nix::libc::EBUSY) => {
            "the file is a mount point (a bind mount?), which rename(2) cannot replace: mount its directory instead, or let kesgate write the file it is mounted from"
        }
        Some(nix::libc::ENOSPC | nix::libc::EDQUOT) => {
            "free space on that file system, then run `kesgate render` again"
        }
        Some(nix::libc::EROFS) => {
            "make the file system writable (for kesgate.service: ReadWritePaths= in a drop-in), then run `kesgate render` again"
        }
        Some(nix::libc::EPERM | nix::libc::EACCES) => {
            "run kesgate as root (the file's directory must be writable; an immutable file: `chattr -i`), or see what the unit's sandbox allows"
        }
        Some(nix::libc::ENAMETOOLONG) => "use a shorter file name (255 bytes at most)",
        _ => {
            "make the file system writable and give it free space, then run `kesgate render` again"
        }
    }
}

pub(super) fn read_fix(e: &io::Error) -> &'static str {
    match e.raw_os_error() {
        Some(nix::libc::EACCES | nix::libc::EPERM) => {
            "run kesgate as root (kesgate.service reads it with CAP_DAC_READ_SEARCH)"
        }
        Some(nix::libc::ENAMETOOLONG) => "use a shorter file name (255 bytes at most)",
        _ => "check the file system, then run kesgate again",
    }
}
