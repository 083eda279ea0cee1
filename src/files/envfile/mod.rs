//! MinIO's environment comes from two files read by two parsers: systemd's
//! `EnvironmentFile=` (the `systemd` dialect) and the file named by
//! `MINIO_CONFIG_ENV_FILE`, which MinIO reads itself and which overrides
//! systemd's values (the `minio` dialect: no escapes, no continuations).
//! Both keep the byte span of every assignment, so that kesgate rewrites its
//! own lines and leaves every other byte alone.

pub(crate) mod minio;
pub(crate) mod systemd;

use std::collections::BTreeMap;
use std::ops::Range;

pub(crate) use systemd::{EnvFileError, valid_name};

/// One assignment a parser would apply.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Assignment {
    pub key: String,
    pub value: String,
    /// From the start of the physical line holding the key to just past the
    /// newline that ends the assignment (or the end of the file).
    pub span: Range<usize>,
}

/// The parsed file, and whether text appended at the end would stand on
/// its own (`Some(why)` when it would be swallowed).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Parsed {
    pub assignments: Vec<Assignment>,
    pub open_end: Option<String>,
}

/// The file as text (systemd's dialect). A NUL byte or invalid UTF-8 makes
/// systemd ignore the whole file (and MinIO's values would not be what
/// kesgate reads): refused, naming the line.
fn text_of(bytes: &[u8]) -> Result<&str, EnvFileError> {
    if let Some(pos) = bytes.iter().position(|b| *b == 0) {
        return Err(EnvFileError::Nul {
            line: line_of(bytes, pos),
        });
    }
    std::str::from_utf8(bytes).map_err(|e| EnvFileError::NotUtf8 {
        line: line_of(bytes, e.valid_up_to()),
    })
}

/// The 1-based line holding byte `offset`.
fn line_of(bytes: &[u8], offset: usize) -> usize {
    bytes[..offset].iter().filter(|b| **b == b'\n').count() + 1
}

/// The values a parser applies (the last assignment of a name wins).
pub(crate) fn effective(assignments: &[Assignment]) -> BTreeMap<String, String> {
    assignments
        .iter()
        .map(|a| (a.key.clone(), a.value.clone()))
        .collect()
}

/// Who reads a file kesgate writes, and so how it must be written.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Dialect {
    /// systemd's EnvironmentFile=.
    Systemd,
    /// MinIO's MINIO_CONFIG_ENV_FILE.
    Minio,
    /// Both: MINIO_CONFIG_ENV_FILE names the EnvironmentFile itself. systemd
    /// decides the spans (it must keep reading the file); kesgate writes
    /// only lines both read as the same value.
    Both,
}

impl Dialect {
    pub(crate) fn parse_full(self, bytes: &[u8]) -> Result<Parsed, EnvFileError> {
        match self {
            Dialect::Systemd | Dialect::Both => systemd::parse_full(bytes),
            Dialect::Minio => minio::parse(bytes).map(|assignments| Parsed {
                assignments,
                open_end: None,
            }),
        }
    }

    pub(crate) fn parse(self, bytes: &[u8]) -> Result<Vec<Assignment>, EnvFileError> {
        self.parse_full(bytes).map(|p| p.assignments)
    }

    /// `NAME=…` (with its newline) that this dialect reads back as `value`.
    pub(crate) fn line(self, name: &str, value: &str) -> Result<String, EnvFileError> {
        match self {
            Dialect::Systemd => Ok(systemd::assignment_line(name, value)),
            Dialect::Minio => minio::assignment_line(name, value),
            Dialect::Both => minio::both_line(name, value),
        }
    }
}

/// An env file that could not be taken in.
#[derive(Debug, thiserror::Error)]
pub(crate) enum LoadError {
    #[error("{0}")]
    Read(#[from] crate::files::regular::ReadError),
    #[error("{0}")]
    Parse(#[from] EnvFileError),
}

/// The values `dialect` applies from the file at `path` (a regular file,
/// read without blocking, capped); `None` when there is no file.
pub(crate) fn load(
    path: &std::path::Path,
    dialect: Dialect,
) -> Result<Option<BTreeMap<String, String>>, LoadError> {
    match crate::files::regular::read(path, crate::files::regular::MAX_ENV_FILE) {
        Ok(bytes) => Ok(Some(effective(&dialect.parse(&bytes)?))),
        Err(e) if e.is_missing() => Ok(None),
        Err(e) => Err(e.into()),
    }
}

/// The file MinIO reads itself, when systemd's values name one: MinIO opens
/// `MINIO_CONFIG_ENV_FILE` with a plain open(2), so a relative path is
/// taken from its working directory (docs/facts.md, "MinIO's KES client"; upstream's unit:
/// `WorkingDirectory=/usr/local`).
pub(crate) fn config_env_file(
    systemd_values: &BTreeMap<String, String>,
    working_directory: &std::path::Path,
) -> Option<std::path::PathBuf> {
    systemd_values
        .get("MINIO_CONFIG_ENV_FILE")
        .filter(|p| !p.is_empty())
        .map(|p| std::path::Path::new("/").join(working_directory).join(p))
}
