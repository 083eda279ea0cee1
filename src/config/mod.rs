//! Configuration: read `/etc/kesgate/kesgate.toml` once, validate everything,
//! and hand the stages typed settings they never need to re-check.

pub(crate) mod draft;
mod ellipses;
mod env_file;
mod raw;
mod secrets;
mod seeding;

use std::ops::Range;
use std::path::{Path, PathBuf};
use std::time::Duration;

use reqwest::Url;

use crate::kes_types::apikey::{ApiKey, Identity};
use crate::kes_types::keyname::KeyName;
pub(crate) use env_file::{DEFAULT_PATH as DEFAULT_ENV_FILE, EnvFileSettings};
pub(crate) use raw::Require;
use raw::{OneOrMany, RawConfig, RawKes, RawVault, RawWait};
pub(crate) use seeding::{BucketSettings, DEFAULT_MINIO_UNIT, MinioSettings, S3Credentials};

pub(crate) const DEFAULT_PATH: &str = "/etc/kesgate/kesgate.toml";
/// systemd credential name for the API key (`LoadCredential=kes-api-key:…`).
pub(crate) const API_KEY_CREDENTIAL: &str = "kes-api-key";

const DEFAULT_TIMEOUT: Duration = Duration::from_secs(15 * 60);
/// Watched when it exists on the host (KES's documented unit name).
pub(crate) const DEFAULT_KES_UNIT: &str = "kes.service";
const DEFAULT_MAX_INTERVAL: Duration = Duration::from_secs(1);
/// `[kes] key_retry_window`: KES refuses key operations after an unseal
/// until its next key-store health check (`status: ping`, 10 s by default;
/// docs/peers.md). 30 s covers an interval of 20 s and a margin.
pub(crate) const DEFAULT_KEY_RETRY_WINDOW: Duration = Duration::from_secs(30);

/// The longest `[wait] timeout` (beyond it, "0" = forever says it better;
/// larger values would overflow the clock arithmetic).
const MAX_TIMEOUT: Duration = Duration::from_secs(30 * 24 * 3600);

#[derive(Debug)]
pub(crate) struct Settings {
    pub path: PathBuf,
    pub kes: KesSettings,
    pub wait: WaitSettings,
    pub env_file: EnvFileSettings,
    pub minio: MinioSettings,
    /// The default key first, then `[[keys]]`, without repeats.
    pub keys: Vec<KeyName>,
    pub buckets: Vec<BucketSettings>,
    /// `[vault]`, when configured.
    pub vault: Option<VaultSettings>,
    pub watch: WatchSettings,
}

/// `[watch]`: what is a warning between boots.
#[derive(Debug, Clone)]
pub(crate) struct WatchSettings {
    /// A certificate in MinIO's KES path that expires within this is a warning.
    pub warn_before: Duration,
    /// The fleet fingerprint's key with certificate auth (the same file on
    /// every node); with an API key, the key itself is the shared secret.
    pub fingerprint_key: Option<crate::secret::Secret<Vec<u8>>>,
    /// Where `kesgate watch` writes its metrics (node_exporter's textfile
    /// collector); `None` with `textfile = ""`.
    pub textfile: Option<PathBuf>,
}

/// `[watch] textfile` when not set: Debian's node_exporter textfile
/// directory (docs/peers.md).
pub(crate) const DEFAULT_TEXTFILE: &str = "/var/lib/prometheus/node-exporter/kesgate.prom";

/// `[watch] warn_before` when not set.
pub(crate) const DEFAULT_WARN_BEFORE: Duration = Duration::from_secs(30 * 24 * 3600);

/// The Vault/OpenBao behind KES (diagnosis only; kesgate holds no token).
#[derive(Debug, Clone)]
pub(crate) struct VaultSettings {
    /// One address, or the nodes of an HA cluster.
    pub addresses: Vec<Url>,
    /// Added to the system roots, as `[kes] ca` is.
    pub ca: Option<PathBuf>,
}

#[derive(Debug)]
pub(crate) struct KesSettings {
    /// Expanded, validated endpoints: the hosts MinIO will connect to.
    pub endpoints: Vec<Endpoint>,
    /// The entries as written, byte for byte (ellipses and spacing kept),
    /// joined by commas: MINIO_KMS_KES_ENDPOINT.
    pub endpoints_as_written: Vec<String>,
    pub auth: Auth,
    /// The client certificate and key kesgate (and MinIO) present, read,
    /// checked and derived once at load.
    pub client: ClientIdentity,
    /// A PEM file or a directory of PEM files; `None` = the OS trust store.
    pub ca: Option<PathBuf>,
    pub default_key: KeyName,
    /// How long a key operation is retried while KES answers 5xx: after an
    /// unseal KES refuses them until its next key-store health check.
    pub key_retry_window: Duration,
}

/// A KES endpoint: `https://host:port`, shown as written (no trailing slash).
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Endpoint(Url);

impl Endpoint {
    pub(crate) fn url(&self) -> &Url {
        &self.0
    }

    /// The server name the TLS verifier sees (and records a chain under):
    /// the host, lower case, an IPv6 address without brackets.
    pub(crate) fn server_name(&self) -> String {
        crate::net::tls::server_name(&self.0)
    }
}

impl std::fmt::Display for Endpoint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.0.as_str().trim_end_matches('/'))
    }
}

impl KesSettings {
    /// The identity KES sees for us (and for MinIO, which uses the same
    /// credentials).
    pub(crate) fn identity(&self) -> &Identity {
        &self.client.identity
    }

    /// The same settings with another API key: what kesgate presents to
    /// KES and what it renders for MinIO change together.
    pub(crate) fn use_api_key(
        &mut self,
        key: ApiKey,
        source: String,
        file: Option<PathBuf>,
    ) -> Result<(), String> {
        self.client = ClientIdentity::of_api_key(&key)?;
        self.auth = Auth::ApiKey { key, source, file };
        Ok(())
    }
}

/// What kesgate presents to KES: its certificate chain, private key and the
/// identity KES derives from them (the API key's self-signed certificate,
/// or `cert_file`/`key_file`).
pub(crate) struct ClientIdentity {
    pub identity: Identity,
    chain: Vec<rustls_pki_types::CertificateDer<'static>>,
    key: crate::secret::Secret<rustls_pki_types::PrivateKeyDer<'static>>,
}

impl ClientIdentity {
    pub(crate) fn new(
        chain: Vec<rustls_pki_types::CertificateDer<'static>>,
        key: rustls_pki_types::PrivateKeyDer<'static>,
        identity: Identity,
    ) -> ClientIdentity {
        ClientIdentity {
            identity,
            chain,
            key: crate::secret::Secret::new(key),
        }
    }

    /// The identity an API key makes: its self-signed certificate and key.
    pub(crate) fn of_api_key(key: &ApiKey) -> Result<ClientIdentity, String> {
        let (cert, private) = key
            .client_certificate()
            .map_err(|e| format!("cannot derive the API key's certificate: {e}"))?;
        Ok(ClientIdentity::new(
            vec![cert],
            private,
            key.identity().clone(),
        ))
    }

    /// A PEM certificate file's chain and the identity of its leaf; the
    /// error says what is wrong with it.
    pub(crate) fn chain_of(
        pem: &[u8],
    ) -> Result<(Vec<rustls_pki_types::CertificateDer<'static>>, Identity), String> {
        use rustls_pki_types::CertificateDer;
        use rustls_pki_types::pem::PemObject as _;
        let chain = CertificateDer::pem_slice_iter(pem)
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| format!("not a PEM certificate: {e}"))?;
        let leaf = chain.first().ok_or("no certificate in it")?;
        let identity =
            Identity::of_certificate(leaf).map_err(|e| format!("not a usable certificate: {e}"))?;
        Ok((chain, identity))
    }

    /// A PEM private key; only the kind of failure is told, never the
    /// key's bytes.
    pub(crate) fn key_of(
        pem: &crate::secret::Secret<Vec<u8>>,
    ) -> Result<rustls_pki_types::PrivateKeyDer<'static>, String> {
        use rustls_pki_types::PrivateKeyDer;
        use rustls_pki_types::pem::PemObject as _;
        PrivateKeyDer::from_pem_slice(pem.expose())
            .map_err(|e| format!("not a PEM private key: {e}"))
    }

    /// The chain and key for a TLS client configuration.
    pub(crate) fn pair(
        &self,
    ) -> (
        Vec<rustls_pki_types::CertificateDer<'static>>,
        rustls_pki_types::PrivateKeyDer<'static>,
    ) {
        (self.chain.clone(), self.key.expose().clone_key())
    }
}

impl std::fmt::Debug for ClientIdentity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "ClientIdentity({})", self.identity)
    }
}

/// How kesgate (and MinIO) authenticate to KES.
#[derive(Debug)]
pub(crate) enum Auth {
    ApiKey {
        key: ApiKey,
        source: String,
        /// `[kes] api_key_file`, when the key comes from there.
        file: Option<PathBuf>,
    },
    CertFile {
        cert: PathBuf,
        key: PathBuf,
    },
}

impl Auth {
    /// Where the credentials come from, for the log (never the secret).
    pub(crate) fn describe(&self) -> String {
        match self {
            Auth::ApiKey { source, .. } => format!("API key from {source}"),
            Auth::CertFile { cert, .. } => format!("client certificate {}", cert.display()),
        }
    }
}

#[derive(Debug, Clone)]
pub(crate) struct WaitSettings {
    /// `None` waits forever (`timeout = "0"`).
    pub timeout: Option<Duration>,
    pub require: Require,
    pub max_interval: Duration,
    /// A local KES unit to watch over D-Bus (used when it exists); `None`
    /// with `kes_unit = ""`.
    pub kes_unit: Option<String>,
}

/// A configuration problem. Each variant names the file and what to do.
#[derive(Debug, thiserror::Error)]
pub(crate) enum ConfigError {
    #[error("cannot read {path}: {problem}\n  fix: {}", read_fix(problem, fix))]
    Read {
        path: PathBuf,
        problem: crate::files::regular::ReadError,
        /// What to do when it is missing or unreadable.
        fix: &'static str,
    },
    #[error("{path}:{line}:{column}: {message}\n  fix: {fix}")]
    Invalid {
        path: PathBuf,
        line: usize,
        column: usize,
        message: String,
        fix: String,
    },
    #[error(transparent)]
    Exposed(#[from] crate::secret::Exposure),
    #[error(
        "{source_name}: not a usable KES API key: {reason}\n  fix: put the `kes:v1:…` key printed by `kesgate identity new` there"
    )]
    ApiKey {
        source_name: String,
        reason: crate::kes_types::apikey::ApiKeyError,
    },
}

/// The fix for a file kesgate could not read: a wrong kind of file, or
/// the caller's advice for a missing or unreadable one.
fn read_fix(problem: &crate::files::regular::ReadError, fix: &'static str) -> &'static str {
    if problem.is_out_of_descriptors() {
        crate::files::FIX_DESCRIPTORS
    } else if problem.is_wrong_shape() {
        "put a regular file there: kesgate reads no FIFOs, devices or directories, and no file larger than the limit"
    } else {
        fix
    }
}

impl Settings {
    /// Loads and validates the file at `path`.
    pub(crate) fn load(path: &Path) -> Result<Settings, ConfigError> {
        let text = crate::files::regular::read_text(path, crate::files::regular::MAX_CONFIG)
            .map_err(|problem| ConfigError::Read {
                path: path.to_owned(),
                problem,
                fix: "create it (`kesgate init --adopt` writes one from MinIO's settings; `man kesgate.toml`) or pass --config FILE",
            })?;
        let ctx = Source { path, text: &text };
        let raw: RawConfig = toml::from_str(&text).map_err(|e| {
            let span = e.span().unwrap_or(0..0);
            ctx.invalid(span, e.message().trim_end(), fix_for_syntax(e.message()))
        })?;
        let kes = validate_kes(&ctx, raw.kes.into_inner())?;
        let wait = validate_wait(&ctx, raw.wait)?;
        let env_file = env_file::validate(&ctx, raw.env_file)?;
        let minio = seeding::minio(&ctx, raw.minio)?;
        let keys = seeding::keys(&ctx, &kes.default_key, raw.keys)?;
        let buckets = seeding::buckets(&ctx, &kes.default_key, raw.buckets)?;
        let vault = raw
            .vault
            .map(|v| validate_vault(&ctx, v.into_inner()))
            .transpose()?;
        let watch = WatchSettings {
            warn_before: duration_in(
                &ctx,
                raw.watch.warn_before.as_ref(),
                "warn_before",
                (
                    Duration::from_secs(3600),
                    Duration::from_secs(365 * 24 * 3600),
                ),
                DEFAULT_WARN_BEFORE,
                "choose between 1h and 365d; the default is 30d (`kes identity new` certificates last 30 days)",
            )?,
            fingerprint_key: raw
                .watch
                .fingerprint_key_file
                .as_ref()
                .map(|p| secrets::read_fingerprint_key(&ctx.resolve(p.get_ref())))
                .transpose()?,
            textfile: textfile(&ctx, raw.watch.textfile.as_ref())?,
        };
        Ok(Settings {
            path: path.to_owned(),
            kes,
            wait,
            env_file,
            minio,
            keys,
            buckets,
            vault,
            watch,
        })
    }
}

/// `[watch] textfile`: an absolute `*.prom` path (node_exporter reads no
/// other name), or "" for none.
fn textfile(
    ctx: &Source,
    raw: Option<&toml::Spanned<PathBuf>>,
) -> Result<Option<PathBuf>, ConfigError> {
    let Some(raw) = raw else {
        return Ok(Some(PathBuf::from(DEFAULT_TEXTFILE)));
    };
    let path = raw.get_ref();
    if path.as_os_str().is_empty() {
        return Ok(None);
    }
    if !path.is_absolute() || path.extension().is_none_or(|e| e != "prom") || path.ends_with("..") {
        return Err(ctx.invalid(
            raw.span(),
            &format!("textfile `{}` is not an absolute path ending in .prom", path.display()),
            "name a file in node_exporter's --collector.textfile.directory, e.g. \"/var/lib/prometheus/node-exporter/kesgate.prom\" (node_exporter reads only *.prom), or \"\" for no metrics file",
        ));
    }
    Ok(Some(path.clone()))
}

fn validate_vault(ctx: &Source, raw: RawVault) -> Result<VaultSettings, ConfigError> {
    let span = raw.address.span();
    let entries: Vec<String> = match raw.address.into_inner() {
        OneOrMany::One(s) => vec![s],
        OneOrMany::Many(v) => v,
    };
    let mut addresses = Vec::new();
    for part in entries
        .iter()
        .flat_map(|e| e.split(','))
        .map(str::trim)
        .filter(|p| !p.is_empty())
    {
        let url = Url::parse(part)
            .ok()
            .filter(|u| {
                matches!(u.scheme(), "http" | "https")
                    && u.host_str().is_some_and(|h| !h.is_empty())
                    && u.path() == "/"
                    && u.query().is_none()
                    && u.username().is_empty()
            })
            .ok_or_else(|| {
                ctx.invalid(
                    span.clone(),
                    &format!("`{part}` is not a Vault address"),
                    "write it like \"https://vault.example.net:8200\" (scheme, host, port; no path)",
                )
            })?;
        addresses.push(url);
    }
    if addresses.is_empty() {
        return Err(ctx.invalid(
            span,
            "[vault] address lists no address",
            "name the Vault (or OpenBao) KES uses, or remove [vault]",
        ));
    }
    Ok(VaultSettings {
        addresses,
        ca: raw.ca.map(|c| ctx.resolve(c.get_ref())),
    })
}

fn fix_for_syntax(message: &str) -> &'static str {
    if message.contains("unknown field") {
        "remove the key or correct its spelling (`man kesgate.toml` lists every key)"
    } else if message.contains("missing field") {
        "add the missing key (`man kesgate.toml`)"
    } else if message.contains("unknown variant") {
        "use one of the values listed"
    } else {
        "correct the TOML syntax at this position"
    }
}

/// The file being validated, to turn byte spans into line:column.
pub(crate) struct Source<'a> {
    path: &'a Path,
    text: &'a str,
}

impl Source<'_> {
    pub(crate) fn invalid(&self, span: Range<usize>, message: &str, fix: &str) -> ConfigError {
        let before = &self.text[..span.start.min(self.text.len())];
        let line = before.matches('\n').count() + 1;
        let column = before.chars().rev().take_while(|c| *c != '\n').count() + 1;
        ConfigError::Invalid {
            path: self.path.to_owned(),
            line,
            column,
            message: message.to_owned(),
            fix: fix.to_owned(),
        }
    }

    /// Relative paths in the file are relative to the file's directory.
    pub(crate) fn resolve(&self, p: &Path) -> PathBuf {
        match self.path.parent() {
            Some(dir) if p.is_relative() => dir.join(p),
            _ => p.to_owned(),
        }
    }
}

fn validate_kes(ctx: &Source, raw: RawKes) -> Result<KesSettings, ConfigError> {
    let mut endpoints = Vec::new();
    let mut endpoints_as_written = Vec::new();
    for entry in raw.endpoints.get_ref() {
        // Rendered byte for byte: MinIO hashes its MINIO_* values across a
        // cluster's nodes (docs/minio-view.md), so an adopted string keeps its spacing.
        endpoints_as_written.push(entry.get_ref().clone());
        // MinIO splits on commas and trims; accept the same inside one entry.
        let more = expand_endpoints(entry.get_ref(), endpoints.len())
            .map_err(|(m, fix)| ctx.invalid(entry.span(), &m, fix))?;
        endpoints.extend(more);
    }
    if endpoints.is_empty() {
        return Err(ctx.invalid(
            raw.endpoints.span(),
            "no KES endpoint configured",
            "list at least one, e.g. endpoints = [\"https://kes.example.net:7373\"]",
        ));
    }
    let default_key = KeyName::parse(raw.default_key.get_ref()).map_err(|m| {
        ctx.invalid(
            raw.default_key.span(),
            &m,
            "choose a name like minio-backend-default-key",
        )
    })?;
    let auth = secrets::auth(ctx, &raw)?;
    let client = secrets::client(ctx, &raw, &auth)?;
    let ca = raw.ca.map(|c| ctx.resolve(c.get_ref()));
    let key_retry_window = duration_in(
        ctx,
        raw.key_retry_window.as_ref(),
        "key_retry_window",
        (Duration::from_secs(1), Duration::from_secs(3600)),
        DEFAULT_KEY_RETRY_WINDOW,
        "choose between 1s and 1h, longer than KES's key-store health check (`status: ping`, 10s by default); the default is 30s",
    )?;
    Ok(KesSettings {
        endpoints,
        endpoints_as_written,
        auth,
        client,
        ca,
        default_key,
        key_retry_window,
    })
}

/// One MINIO_KMS_KES_ENDPOINT value (or one `endpoints` entry) as MinIO
/// takes it: split on commas, trimmed, empty parts dropped, ellipses
/// expanded; `before` endpoints already count towards the limit. The error
/// is the problem and its fix.
pub(crate) fn expand_endpoints(
    value: &str,
    before: usize,
) -> Result<Vec<Endpoint>, (String, &'static str)> {
    let mut endpoints = Vec::new();
    for part in value.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let expanded =
            ellipses::expand(part).map_err(|m| (m, "write ranges as {1...3}, as MinIO expects"))?;
        if before + endpoints.len() + expanded.len() > ellipses::MAX_ENDPOINTS {
            return Err((
                ellipses::too_many(part),
                "list the KES servers MinIO really uses",
            ));
        }
        for e in expanded {
            endpoints
                .push(parse_endpoint(&e).map_err(|m| (m, "write endpoints as https://host:7373"))?);
        }
    }
    Ok(endpoints)
}

/// KES is HTTPS only, and MinIO builds request URLs by concatenation, so an
/// endpoint is scheme, host and port and nothing else.
fn parse_endpoint(text: &str) -> Result<Endpoint, String> {
    let url = Url::parse(text).map_err(|e| format!("endpoint `{text}` is not a URL: {e}"))?;
    if url.scheme() != "https" {
        return Err(format!(
            "endpoint `{text}` must use https:// (KES serves TLS only)"
        ));
    }
    if url.host_str().is_none_or(str::is_empty) {
        return Err(format!("endpoint `{text}` has no host"));
    }
    as_go_takes_it(text, &url)?;
    if !url.username().is_empty() || url.password().is_some() {
        return Err(format!("endpoint `{text}` must not contain credentials"));
    }
    if url.path() != "/" || url.query().is_some() || url.fragment().is_some() || text.ends_with('/')
    {
        return Err(format!(
            "endpoint `{text}` must not have a path, query or trailing slash: MinIO appends /v1/… to it"
        ));
    }
    Ok(Endpoint(url))
}

/// MinIO takes the host as Go's net/url and pure-Go resolver do: the text
/// as written, an address only when it is one in Go's strict form (four
/// decimal parts, no leading zeros; or a bracketed IPv6 address), anything
/// else a name to resolve. The url crate (a browser's rules) rewrites
/// `127.1`, `2130706433` or `0x7f.0.0.1` to 127.0.0.1, a non-ASCII name to
/// punycode and `%6B` to `k` — where MinIO would look up another name or
/// refuse the URL. So the host kesgate would connect to must be the host
/// as written (letters' case aside; IPv6 compared as addresses), or the
/// endpoint is refused, with the form MinIO and kesgate agree on.
fn as_go_takes_it(text: &str, url: &Url) -> Result<(), String> {
    let rest = text.split_once("://").map_or(text, |(_, r)| r);
    let authority = rest.split(['/', '?', '#']).next().unwrap_or_default();
    let written = if let Some(v6) = authority.strip_prefix('[') {
        v6.split(']').next().unwrap_or_default()
    } else {
        authority.rsplit_once(':').map_or(authority, |(h, _)| h)
    };
    let parsed = crate::net::tls::server_name(url);
    let same = written.eq_ignore_ascii_case(&parsed)
        || matches!(
            (written.parse::<std::net::Ipv6Addr>(), parsed.parse::<std::net::Ipv6Addr>()),
            (Ok(a), Ok(b)) if a == b
        );
    if same {
        return Ok(());
    }
    let why = if !written.is_ascii() {
        format!(
            "MinIO looks up the name `{written}` as written (UTF-8), kesgate would look up `{parsed}`"
        )
    } else if written.contains('%') {
        format!("MinIO (Go) refuses an escape in a host name, kesgate would read `{parsed}`")
    } else {
        format!("MinIO (Go) takes `{written}` as a name to look up, not as the address {parsed}")
    };
    Err(format!(
        "endpoint `{text}`: {why}; write the host as both take it: `{parsed}` if that is what you mean"
    ))
}

fn validate_wait(ctx: &Source, raw: RawWait) -> Result<WaitSettings, ConfigError> {
    let timeout = match raw.timeout {
        None => Some(DEFAULT_TIMEOUT),
        Some(t) => {
            let d = parse_duration(ctx, &t)?;
            if d > MAX_TIMEOUT {
                return Err(ctx.invalid(
                    t.span(),
                    &format!(
                        "timeout {} is longer than the maximum, 30 days",
                        t.get_ref()
                    ),
                    "choose up to \"30d\", or \"0\" to wait forever",
                ));
            }
            (!d.is_zero()).then_some(d)
        }
    };
    let max_interval = duration_in(
        ctx,
        raw.max_interval.as_ref(),
        "max_interval",
        (Duration::from_millis(100), Duration::from_secs(3600)),
        DEFAULT_MAX_INTERVAL,
        "choose between 100ms and 1h; the default is 1s",
    )?;
    let kes_unit = match raw.kes_unit {
        None => Some(DEFAULT_KES_UNIT.to_owned()),
        Some(u) if u.get_ref().is_empty() => None,
        Some(u) => Some(unit_name(
            ctx,
            &u,
            "name the local KES unit, e.g. \"kes.service\", or \"\" to watch none",
        )?),
    };
    Ok(WaitSettings {
        timeout,
        require: raw.require.map_or(Require::Any, |r| *r.get_ref()),
        max_interval,
        kes_unit,
    })
}

/// A systemd service unit name, e.g. `kes.service`.
fn unit_name(ctx: &Source, u: &toml::Spanned<String>, fix: &str) -> Result<String, ConfigError> {
    let name = u.get_ref();
    let valid = name.ends_with(".service")
        && name.len() <= 256
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b":-_.\\@".contains(&b));
    if !valid {
        return Err(ctx.invalid(
            u.span(),
            &format!("`{name}` is not a service unit name"),
            fix,
        ));
    }
    Ok(name.clone())
}

/// A duration setting within `(min, max)`, or `default` when unset.
fn duration_in(
    ctx: &Source,
    raw: Option<&toml::Spanned<String>>,
    name: &str,
    (min, max): (Duration, Duration),
    default: Duration,
    fix: &str,
) -> Result<Duration, ConfigError> {
    let Some(t) = raw else {
        return Ok(default);
    };
    let d = parse_duration(ctx, t)?;
    if d < min || d > max {
        return Err(ctx.invalid(
            t.span(),
            &format!("{name} {} is out of range", t.get_ref()),
            fix,
        ));
    }
    Ok(d)
}

fn parse_duration(ctx: &Source, text: &toml::Spanned<String>) -> Result<Duration, ConfigError> {
    let s = text.get_ref().trim();
    if s == "0" {
        return Ok(Duration::ZERO);
    }
    humantime::parse_duration(s).map_err(|e| {
        ctx.invalid(
            text.span(),
            &format!("`{s}` is not a duration: {e}"),
            "write durations like \"15m\", \"90s\", \"1s\" or \"500ms\" (\"0\" = forever)",
        )
    })
}
