//! The certificates MinIO trusts for KES, built the way minio/pkg's
//! `certs.GetRootCAs` builds them: the system roots **plus** the CA path — a
//! file (every PEM certificate in it, other text ignored, none at all is
//! fatal) or a directory (every top-level file MinIO can read). What MinIO
//! cannot read adds nothing, so files are judged as MinIO's user would.

use std::collections::{HashMap, HashSet};
use std::os::unix::fs::OpenOptionsExt as _;
use std::path::{Path, PathBuf};

use base64::Engine as _;

use super::access::{Access, Reader};
use super::cert::Cert;
use super::verify::Roots;
use super::{Section, TlsSetupError};

/// A CA file larger than this is not a CA file (MinIO would read it; kesgate
/// refuses to spend its memory on it).
const MAX_CA_FILE: u64 = 16 * 1024 * 1024;

/// Where the non-system part of the pool came from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum CaSource {
    /// `[kes] ca` / `[minio] ca`: rendered as MINIO_KMS_KES_CAPATH.
    Configured(PathBuf),
    /// MinIO's `<certs-dir>/CAs`, used when no CA path is set; `why` says
    /// how the directory was found.
    CertsDir { path: PathBuf, why: String },
    /// Only the system roots.
    None,
}

impl std::fmt::Display for CaSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            CaSource::Configured(p) => write!(f, "the system roots + {}", p.display()),
            CaSource::CertsDir { path, why } => {
                write!(f, "the system roots + {} ({why})", path.display())
            }
            CaSource::None => f.write_str("the system roots"),
        }
    }
}

/// One set of trust anchors, indexed as Go's `CertPool` is.
#[derive(Default)]
struct Anchors {
    certs: Vec<Cert>,
    ders: HashSet<Vec<u8>>,
    by_subject: HashMap<Vec<u8>, Vec<usize>>,
}

impl Anchors {
    fn add(&mut self, cert: Cert) -> bool {
        if !self.ders.insert(cert.der.clone()) {
            return false;
        }
        self.by_subject
            .entry(cert.subject.clone())
            .or_default()
            .push(self.certs.len());
        self.certs.push(cert);
        true
    }

    /// Go's `AppendCertsFromPEM`: certificates that do not parse are
    /// skipped; false when none parsed (for a CA file, fatal to MinIO).
    fn append_pem(&mut self, text: &[u8]) -> bool {
        let mut ok = false;
        for der in pem_certificates(text) {
            if let Ok(c) = Cert::parse(&der) {
                self.add(c);
                ok = true;
            }
        }
        ok
    }

    /// The system roots, as Go's `SystemCertPool` reads them.
    fn system() -> Anchors {
        let mut anchors = Anchors::default();
        for der in rustls_native_certs::load_native_certs().certs {
            if let Ok(c) = Cert::parse(der.as_ref()) {
                anchors.add(c);
            }
        }
        anchors
    }
}

impl Roots for Anchors {
    fn contains(&self, der: &[u8]) -> bool {
        self.ders.contains(der)
    }

    fn by_subject(&self, issuer: &[u8]) -> Vec<&Cert> {
        self.by_subject
            .get(issuer)
            .map(|ix| ix.iter().map(|i| &self.certs[*i]).collect())
            .unwrap_or_default()
    }
}

/// Two anchor sets seen as one (the union MinIO's pool is).
struct Union<'a>(&'a Anchors, &'a Anchors);

impl Roots for Union<'_> {
    fn contains(&self, der: &[u8]) -> bool {
        self.0.contains(der) || self.1.contains(der)
    }

    fn by_subject(&self, issuer: &[u8]) -> Vec<&Cert> {
        let mut found = self.0.by_subject(issuer);
        found.extend(
            self.1
                .by_subject(issuer)
                .into_iter()
                .filter(|c| !self.0.contains(&c.der)),
        );
        found
    }
}

/// A certificate in MinIO's path to KES and when it expires: of a chain a
/// server presented and that verified, or kesgate's client certificate
/// (certificates run out between boots).
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, serde::Serialize)]
pub(crate) struct SeenCert {
    /// "server" (the leaf), "ca" (an intermediate or the anchor) or "client".
    pub role: &'static str,
    pub subject: String,
    /// NotAfter, Unix seconds.
    pub not_after: i64,
}

/// Where a certificate stands at a moment, against `[watch] warn_before`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Expiry {
    Fine,
    /// Expires within the warning window: in this many whole days.
    Soon {
        days: i64,
    },
    Expired,
}

impl SeenCert {
    /// Its state at `now` (Unix seconds) with the warning window `warn`.
    pub(crate) fn expiry(&self, now: i64, warn: std::time::Duration) -> Expiry {
        let left = self.not_after - now;
        if left <= 0 {
            Expiry::Expired
        } else if left < warn.as_secs() as i64 {
            Expiry::Soon {
                days: left.div_euclid(86_400),
            }
        } else {
            Expiry::Fine
        }
    }
}

/// MinIO's pool: the system roots plus the CA path. The system roots are
/// read only when the CA path alone cannot decide: adding anchors only
/// adds chains, so a chain that verifies to a CA-path anchor verifies to
/// the union too — and the common case (a private CA) never opens the
/// system bundle and every file of /etc/ssl/certs.
#[derive(Default)]
pub(crate) struct TrustPool {
    own: Anchors,
    system: std::sync::OnceLock<Anchors>,
    /// Server name → the verified chain, leaf first (the last handshake).
    seen: std::sync::Mutex<std::collections::BTreeMap<String, Vec<SeenCert>>>,
    /// Files in a CA directory that MinIO's user cannot read (skipped).
    pub skipped: Vec<PathBuf>,
}

impl std::fmt::Debug for TrustPool {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "TrustPool({} CA-path certificates)",
            self.own.certs.len()
        )
    }
}

impl TrustPool {
    /// Records the verified chain of `server` (leaf first).
    pub(crate) fn saw(&self, server: &str, chain: &[Cert]) {
        let certs = chain
            .iter()
            .enumerate()
            .map(|(i, c)| SeenCert {
                role: if i == 0 { "server" } else { "ca" },
                subject: c.subject_text.clone(),
                not_after: c.not_after,
            })
            .collect();
        if let Ok(mut seen) = self.seen.lock() {
            seen.insert(server.to_owned(), certs);
        }
    }

    /// The chain `server` last presented and that verified, leaf first.
    pub(crate) fn seen(&self, server: &str) -> Vec<SeenCert> {
        self.seen
            .lock()
            .ok()
            .and_then(|s| s.get(server).cloned())
            .unwrap_or_default()
    }

    /// `check` as Go's `Verify` with MinIO's whole pool would answer: first
    /// against the CA path alone, then (only if that fails) against the
    /// union with the system roots, read once — root-owned files, read in
    /// a few milliseconds at most once per process.
    pub(crate) fn decide<T, E>(&self, check: impl Fn(&dyn Roots) -> Result<T, E>) -> Result<T, E> {
        if !self.own.certs.is_empty()
            && let Ok(found) = check(&self.own)
        {
            return Ok(found);
        }
        let system = self.system.get_or_init(Anchors::system);
        check(&Union(&self.own, system))
    }
}

/// The one way kesgate builds a trust pool: as MinIO would for `source`,
/// read as `reader` (for KES: MinIO's user; for MinIO's S3 API and Vault:
/// kesgate itself), off the runtime thread — the CA path is not kesgate's.
pub(crate) async fn build(
    section: Section,
    source: CaSource,
    reader: Reader,
) -> Result<std::sync::Arc<TrustPool>, TlsSetupError> {
    let pool = tokio::task::spawn_blocking(move || load(section, &source, &reader))
        .await
        .map_err(|e| TlsSetupError::Setup {
            section,
            reason: e.to_string(),
        })??;
    for skipped in &pool.skipped {
        tracing::warn!(
            "{}: MinIO's user cannot read it, so MinIO (and kesgate) skip it",
            skipped.display()
        );
    }
    Ok(std::sync::Arc::new(pool))
}

/// The pool MinIO builds for `source`, read as `reader` (MinIO's user).
fn load(section: Section, source: &CaSource, reader: &Reader) -> Result<TrustPool, TlsSetupError> {
    let mut pool = TrustPool::default();
    let (path, configured) = match source {
        CaSource::Configured(p) => (p, true),
        CaSource::CertsDir { path, .. } => (path, false),
        CaSource::None => return Ok(pool),
    };
    let read_error = |source| TlsSetupError::CaRead {
        section,
        path: path.clone(),
        source,
    };
    let Some(meta) = stat(path, configured).map_err(read_error)? else {
        return Ok(pool);
    };
    if !readable(section, path, configured, &meta, reader)? {
        return Ok(pool);
    }
    if !meta.is_dir() {
        let text = read_capped(path).map_err(read_error)?;
        if !pool.own.append_pem(&text) {
            return Err(TlsSetupError::CaEmpty {
                section,
                path: path.clone(),
            });
        }
        return Ok(pool);
    }
    let mut entries: Vec<PathBuf> = std::fs::read_dir(path)
        .map_err(read_error)?
        .filter_map(Result::ok)
        .map(|e| e.path())
        .collect();
    entries.sort();
    for file in entries {
        // Subdirectories and unreadable files are skipped, as MinIO does;
        // so are FIFOs and devices, which MinIO would block on.
        let Ok(m) = std::fs::metadata(&file) else {
            continue;
        };
        if !m.is_file() {
            continue;
        }
        if reader.check(&file, Access::File).is_err() {
            pool.skipped.push(file);
            continue;
        }
        if let Ok(text) = read_capped(&file) {
            pool.own.append_pem(&text);
        }
    }
    Ok(pool)
}

/// The CA path's metadata: `None` when MinIO would add nothing from it (a
/// CA directory it finds missing, or not a file or directory). A
/// configured path that is missing is a mistake MinIO would never report,
/// so kesgate does; a FIFO or device would block (or worse) on open: never
/// opened.
fn stat(path: &Path, configured: bool) -> std::io::Result<Option<std::fs::Metadata>> {
    let meta = match std::fs::metadata(path) {
        Ok(m) => m,
        Err(e) if !configured && e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e),
    };
    if meta.is_dir() || meta.is_file() {
        return Ok(Some(meta));
    }
    if !configured {
        return Ok(None);
    }
    Err(
        crate::files::regular::ReadError::NotRegular(crate::files::regular::FileKind::of(&meta))
            .into_io(),
    )
}

/// Whether MinIO's user reads the CA path (`false`: MinIO adds nothing
/// from a CA directory it cannot list). A configured path it cannot read
/// is an error, and so is one kesgate itself may not read.
fn readable(
    section: Section,
    path: &Path,
    configured: bool,
    meta: &std::fs::Metadata,
    reader: &Reader,
) -> Result<bool, TlsSetupError> {
    // MinIO's user may read what this process may not (a sandboxed unit
    // without CAP_DAC_READ_SEARCH): say so rather than "not trusted".
    if let Err(e) = std::fs::File::options()
        .read(true)
        .custom_flags(nix::fcntl::OFlag::O_NONBLOCK.bits())
        .open(path)
        && e.kind() == std::io::ErrorKind::PermissionDenied
    {
        return Err(TlsSetupError::CaRead {
            section,
            path: path.to_owned(),
            source: std::io::Error::new(
                e.kind(),
                "permission denied to kesgate itself (in a hardened unit: add CapabilityBoundingSet=CAP_DAC_READ_SEARCH in a drop-in, or let root read it)",
            ),
        });
    }
    if !configured {
        return Ok(reader.check(path, Access::Directory).is_ok());
    }
    let access = if meta.is_dir() {
        Access::Directory
    } else {
        Access::File
    };
    reader
        .check(path, access)
        .map_err(|problem| TlsSetupError::CaNotReadable {
            section,
            path: path.to_owned(),
            problem,
        })?;
    Ok(true)
}

/// A regular file without blocking on FIFOs, up to [`MAX_CA_FILE`].
fn read_capped(path: &Path) -> std::io::Result<Vec<u8>> {
    crate::files::regular::read(path, MAX_CA_FILE)
        .map_err(crate::files::regular::ReadError::into_io)
}

/// The DER of every `CERTIFICATE` PEM block without headers, as Go's
/// `pem.Decode` finds them: text around blocks is ignored, a malformed block
/// is skipped and the search goes on after its BEGIN line.
pub(crate) fn pem_certificates(text: &[u8]) -> Vec<Vec<u8>> {
    const BEGIN: &[u8] = b"-----BEGIN CERTIFICATE-----";
    const END: &[u8] = b"-----END CERTIFICATE-----";
    let mut out = Vec::new();
    let mut rest = text;
    while let Some(i) = find(rest, BEGIN) {
        let at_line_start = i == 0 || rest[i - 1] == b'\n';
        let after = &rest[i + BEGIN.len()..];
        rest = after;
        if !at_line_start {
            continue;
        }
        let Some(j) = find(after, END) else {
            break;
        };
        let body = &after[..j];
        // Headers ("Proc-Type: …") make Go's AppendCertsFromPEM skip a block.
        if body.contains(&b':') {
            continue;
        }
        let clean: Vec<u8> = body
            .iter()
            .copied()
            .filter(|b| !b.is_ascii_whitespace())
            .collect();
        if let Ok(der) = base64::engine::general_purpose::STANDARD.decode(&clean) {
            out.push(der);
            rest = &after[j + END.len()..];
        }
    }
    out
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_certificate_is_fine_soon_or_expired_against_the_window() {
        let c = |not_after| SeenCert {
            role: "server",
            subject: "CN=kes".into(),
            not_after,
        };
        let day = 86_400;
        let warn = std::time::Duration::from_secs(30 * day as u64);
        assert_eq!(c(31 * day).expiry(0, warn), Expiry::Fine);
        assert_eq!(c(30 * day).expiry(0, warn), Expiry::Fine);
        assert_eq!(c(10 * day + 5).expiry(0, warn), Expiry::Soon { days: 10 });
        assert_eq!(c(1).expiry(0, warn), Expiry::Soon { days: 0 });
        assert_eq!(c(0).expiry(0, warn), Expiry::Expired);
    }

    #[test]
    fn pem_blocks_as_go_finds_them() {
        let b64 = base64::engine::general_purpose::STANDARD.encode(b"abc");
        let text = format!(
            "subject=CN = x\nissuer=CN = x\n-----BEGIN CERTIFICATE-----\n{b64}\n-----END CERTIFICATE-----\ntrailing text\n\
             -----BEGIN CERTIFICATE-----\nProc-Type: 4,ENCRYPTED\n\n{b64}\n-----END CERTIFICATE-----\n\
             -----BEGIN PRIVATE KEY-----\n{b64}\n-----END PRIVATE KEY-----\n\
             -----BEGIN CERTIFICATE-----\n!!!\n-----END CERTIFICATE-----\n\
             -----BEGIN CERTIFICATE-----\n{b64}\n-----END CERTIFICATE-----\n"
        );
        assert_eq!(pem_certificates(text.as_bytes()), vec![b"abc".to_vec(); 2]);
        assert!(pem_certificates(b"no pem here").is_empty());
    }
}
