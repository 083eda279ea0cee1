//! MinIO's own view of KES, taken from inside MinIO's unit.
//!
//! The preflight (`ExecStartPre=+`) runs as root outside MinIO's sandbox
//! and can only model what MinIO will see. `kesgate preflight --as-minio`
//! is the drop-in's second line, without `+`: systemd runs it as MinIO's
//! user (a `DynamicUser=` or numeric `User=` included), in MinIO's mount
//! namespace (`ProtectHome=`, `InaccessiblePaths=`, `TemporaryFileSystem=`,
//! `BindReadOnlyPaths=`), with MinIO's capabilities and with the
//! environment systemd computes for `ExecStart=` — every `EnvironmentFile=`
//! read again after the render, in order, `UnsetEnvironment=` and
//! `PassEnvironment=` applied. So this stage decides nothing by model: it
//! reads the `MINIO_KMS_KES_*` values MinIO will get (after
//! `MINIO_CONFIG_ENV_FILE`, which MinIO applies itself), opens the files
//! MinIO will open as MinIO, and makes MinIO's start-up call to KES along
//! MinIO's path (its trust, its identity, its proxy).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::config::{Auth, ClientIdentity, Endpoint, KesSettings};
use crate::files::envfile::{self, Dialect};
use crate::files::regular;
use crate::kes_types::apikey::ApiKey;
use crate::kes_types::keyname::KeyName;
use crate::net::tls::CaSource;
use crate::peers::kes::client::KesClient;
use crate::stages::keys;

/// MinIO's environment: name → value.
pub(crate) type Env = BTreeMap<String, String>;

/// What MinIO will use to reach KES, as read from inside its unit.
pub(crate) struct View {
    pub kes: KesSettings,
    /// The CA path MinIO adds to the system roots (nothing when it cannot
    /// open it: MinIO silently skips such a path).
    pub source: CaSource,
    /// What MinIO cannot see of what it is told to use (each a sentence).
    pub notes: Vec<String>,
    /// The proxy MinIO's Go client takes, by the `host:port` of each
    /// endpoint that has one.
    pub proxies: BTreeMap<String, String>,
    /// Who this process (and so MinIO) runs as, for messages.
    pub user: String,
}

/// Why MinIO's own view stops its start.
#[derive(Debug, thiserror::Error)]
pub(crate) enum ViewError {
    #[error(
        "MinIO cannot read its MINIO_CONFIG_ENV_FILE {path} from inside its unit (as {user}): {problem}; MinIO would exit at start-up\n  fix: let MinIO's user read it (owner {user} and mode 0600, or group-readable by MinIO's group), and make sure the unit's sandbox does not hide it"
    )]
    ConfigEnvFile {
        path: PathBuf,
        user: String,
        problem: String,
    },
    #[error(
        "MinIO would refuse its KMS configuration (\"Invalid KMS configuration specified\"): {problem}\n  fix: {fix}"
    )]
    Invalid { problem: String, fix: String },
    #[error(
        "MinIO cannot read {what} {path} from inside its unit (as {user}): {problem}; MinIO would fail to start\n  fix: make it readable by MinIO's user (for a key: owner {user} or group-readable by MinIO's group only), and make sure the unit's sandbox (ProtectHome=, InaccessiblePaths=, TemporaryFileSystem=) does not hide it"
    )]
    ClientFile {
        what: &'static str,
        path: PathBuf,
        user: String,
        problem: String,
    },
    #[error("{what} {path}: {problem}\n  fix: {fix}")]
    ClientPem {
        what: &'static str,
        path: PathBuf,
        problem: String,
        fix: &'static str,
    },
    #[error("{why}\n  fix: {fix}")]
    Unsupported { why: String, fix: &'static str },
}

impl ViewError {
    /// A refusal by the file system's permissions (or the sandbox), rather
    /// than a wrong value.
    pub(crate) fn is_permission(&self) -> bool {
        matches!(
            self,
            ViewError::ConfigEnvFile { .. } | ViewError::ClientFile { .. }
        )
    }
}

/// The environment MinIO gets: this process's (systemd computed it for the
/// unit), then `MINIO_CONFIG_ENV_FILE` applied as MinIO applies it — opened
/// from the working directory, a missing file ignored, any other error
/// fatal, every entry overriding.
pub(crate) fn minio_environment(process: Env, user: &str) -> Result<Env, ViewError> {
    let mut env = process;
    let Some(file) = env.get("MINIO_CONFIG_ENV_FILE").filter(|p| !p.is_empty()) else {
        return Ok(env);
    };
    let path = PathBuf::from(file);
    match envfile::load(&path, Dialect::Minio) {
        Ok(Some(values)) => env.extend(values),
        Ok(None) => {}
        Err(e) => {
            return Err(ViewError::ConfigEnvFile {
                path,
                user: user.to_owned(),
                problem: e.to_string(),
            });
        }
    }
    Ok(env)
}

/// MinIO's view of KES from `env`; `None` when MinIO has no KES
/// configuration (then it starts without KES: nothing here to check).
pub(crate) fn read(env: &Env, user: &str) -> Result<Option<View>, ViewError> {
    use crate::stages::render::minio_rules;
    let has_kes = minio_rules::KES_VARS[..7]
        .iter()
        .any(|v| env.contains_key(*v));
    let problems = minio_rules::problems(env);
    if let Some(problem) = problems.first() {
        return Err(ViewError::Invalid {
            problem: problem.clone(),
            fix: "see `kesgate render --check`; a later EnvironmentFile= or MINIO_CONFIG_ENV_FILE may set MINIO_KMS_* over kesgate's values".to_owned(),
        });
    }
    if !has_kes {
        return Ok(None);
    }
    let get = |name: &str| env.get(name).map(String::as_str).unwrap_or_default();
    if env.contains_key("MINIO_KMS_KES_KEY_PASSWORD") {
        return Err(ViewError::Unsupported {
            why: "MinIO's environment sets MINIO_KMS_KES_KEY_PASSWORD (an encrypted client key), which kesgate does not check".to_owned(),
            fix: "decrypt the key (`openssl pkey -in KEY -out KEY.plain`, readable by MinIO's user only) and point MINIO_KMS_KES_KEY_FILE at it",
        });
    }
    let endpoints = crate::config::expand_endpoints(get("MINIO_KMS_KES_ENDPOINT"), 0).map_err(
        |(problem, fix)| ViewError::Invalid {
            problem: format!("MINIO_KMS_KES_ENDPOINT: {problem}"),
            fix: fix.to_owned(),
        },
    )?;
    let default_key =
        KeyName::parse(get("MINIO_KMS_KES_KEY_NAME")).map_err(|problem| ViewError::Invalid {
            problem: format!("MINIO_KMS_KES_KEY_NAME: {problem}"),
            fix: "name the default key like minio-backend-default-key".to_owned(),
        })?;
    let (auth, client) = identity(env, user)?;
    let mut notes = Vec::new();
    let source = ca_source(env, &mut notes);
    let proxies = endpoints
        .iter()
        .filter_map(|e| proxy_for(env, e).map(|p| (host_port(e.url()), p)))
        .collect();
    Ok(Some(View {
        kes: KesSettings {
            endpoints_as_written: vec![get("MINIO_KMS_KES_ENDPOINT").to_owned()],
            endpoints,
            auth,
            client,
            ca: match &source {
                CaSource::Configured(p) => Some(p.clone()),
                _ => None,
            },
            default_key,
            key_retry_window: Duration::from_secs(3),
        },
        source,
        notes,
        proxies,
        user: user.to_owned(),
    }))
}

/// The client identity MinIO presents: the API key's certificate, or the
/// certificate and key files opened as MinIO (never their bytes in a
/// message).
fn identity(env: &Env, user: &str) -> Result<(Auth, ClientIdentity), ViewError> {
    if let Some(text) = env.get("MINIO_KMS_KES_API_KEY") {
        let key = ApiKey::parse(text).map_err(|reason| ViewError::Invalid {
            problem: format!("MINIO_KMS_KES_API_KEY is not a KES API key: {reason}"),
            fix: "set the key `kesgate identity new` printed (kes:v1:…)".to_owned(),
        })?;
        let client = ClientIdentity::of_api_key(&key).map_err(|why| ViewError::Unsupported {
            why,
            fix: "create a new key with `kesgate identity new`",
        })?;
        let auth = Auth::ApiKey {
            key,
            source: "MINIO_KMS_KES_API_KEY".into(),
            file: None,
        };
        return Ok((auth, client));
    }
    let path = |name: &str| PathBuf::from(env.get(name).map(String::as_str).unwrap_or_default());
    let (cert_path, key_path) = (
        path("MINIO_KMS_KES_CERT_FILE"),
        path("MINIO_KMS_KES_KEY_FILE"),
    );
    let open = |what: &'static str, p: &Path, cap: u64| {
        regular::read(p, cap).map_err(|e| ViewError::ClientFile {
            what,
            path: p.to_owned(),
            user: user.to_owned(),
            problem: e.to_string(),
        })
    };
    let pem_fix = "MINIO_KMS_KES_CERT_FILE and MINIO_KMS_KES_KEY_FILE must be PEM files (-----BEGIN CERTIFICATE----- and an unencrypted private key)";
    let text = open("the client certificate", &cert_path, regular::MAX_CONFIG)?;
    let (chain, identity) =
        ClientIdentity::chain_of(&text).map_err(|problem| ViewError::ClientPem {
            what: "the client certificate",
            path: cert_path.clone(),
            problem,
            fix: pem_fix,
        })?;
    let secret =
        crate::secret::Secret::new(open("the client key", &key_path, regular::MAX_SECRET)?);
    let private = ClientIdentity::key_of(&secret).map_err(|problem| ViewError::ClientPem {
        what: "the client key",
        path: key_path.clone(),
        problem,
        fix: pem_fix,
    })?;
    Ok((
        Auth::CertFile {
            cert: cert_path,
            key: key_path,
        },
        ClientIdentity::new(chain, private, identity),
    ))
}

/// MINIO_KMS_KES_CAPATH, else `<certs-dir>/CAs` (`--certs-dir`/`-S` in
/// MINIO_OPTS, else `$HOME/.minio/certs` as Go finds the home). A path
/// MinIO cannot open adds nothing (MinIO skips it silently): a note says so.
fn ca_source(env: &Env, notes: &mut Vec<String>) -> CaSource {
    if let Some(ca) = env.get("MINIO_KMS_KES_CAPATH") {
        let path = PathBuf::from(ca);
        let opened = match std::fs::metadata(&path) {
            Ok(m) if m.is_dir() => std::fs::read_dir(&path).map(drop),
            Ok(_) => std::fs::File::open(&path).map(drop),
            Err(e) => Err(e),
        };
        return match opened {
            Ok(()) => CaSource::Configured(path),
            Err(e) => {
                notes.push(format!(
                    "MINIO_KMS_KES_CAPATH {} cannot be opened by MinIO here ({e}), so MinIO trusts only the system roots{}",
                    path.display(),
                    if e.kind() == std::io::ErrorKind::NotFound {
                        " (a missing path, or one the unit's sandbox hides: ProtectHome=, InaccessiblePaths=, TemporaryFileSystem=)"
                    } else {
                        ""
                    }
                ));
                CaSource::None
            }
        };
    }
    let (dir, why) = match env
        .get("MINIO_OPTS")
        .and_then(|o| crate::host::minio_unit::certs_dir_in(o))
    {
        Some(d) => (d, "--certs-dir in MINIO_OPTS".to_owned()),
        None => {
            let home = env
                .get("HOME")
                .filter(|h| !h.is_empty())
                .map(PathBuf::from)
                .or_else(|| {
                    nix::unistd::User::from_uid(nix::unistd::geteuid())
                        .ok()
                        .flatten()
                        .map(|u| u.dir)
                })
                .unwrap_or_else(|| PathBuf::from("/"));
            (
                home.join(".minio/certs"),
                "~/.minio/certs of MinIO's $HOME".to_owned(),
            )
        }
    };
    CaSource::CertsDir {
        path: dir.join("CAs"),
        why,
    }
}

/// The proxy Go's `http.ProxyFromEnvironment` takes for an https request
/// to `endpoint`: `HTTPS_PROXY` (else `https_proxy`), unless the host is
/// `localhost` or a loopback address, or `NO_PROXY` (else `no_proxy`)
/// matches it.
pub(crate) fn proxy_for(env: &Env, endpoint: &Endpoint) -> Option<String> {
    let any = |names: [&str; 2]| {
        names
            .iter()
            .find_map(|n| env.get(*n).filter(|v| !v.is_empty()))
            .cloned()
    };
    let proxy = any(["HTTPS_PROXY", "https_proxy"])?;
    let url = endpoint.url();
    let host = crate::net::tls::server_name(url);
    if host == "localhost"
        || host
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
    {
        return None;
    }
    let port = url.port_or_known_default().unwrap_or(443);
    let no_proxy = any(["NO_PROXY", "no_proxy"]).unwrap_or_default();
    if no_proxy
        .split(',')
        .map(|e| e.trim().to_ascii_lowercase())
        .filter(|e| !e.is_empty())
        .any(|entry| no_proxy_matches(&entry, &host, port))
    {
        return None;
    }
    Some(if proxy.contains("://") {
        proxy
    } else {
        format!("http://{proxy}")
    })
}

/// One `NO_PROXY` entry against a host and port, as Go's httpproxy does:
/// `*`; an IP or CIDR; a domain (`example.com` matches it and its
/// subdomains, `.example.com` and `*.example.com` only subdomains); an
/// optional `:port`.
fn no_proxy_matches(entry: &str, host: &str, port: u16) -> bool {
    if entry == "*" {
        return true;
    }
    if let Some((net, bits)) = entry.split_once('/') {
        return cidr_contains(net, bits, host);
    }
    let (name, want_port) = match entry.rsplit_once(':') {
        Some((h, p)) if !h.contains(':') || h.ends_with(']') => (h, p.parse::<u16>().ok()),
        _ => (entry, None),
    };
    if want_port.is_some_and(|p| p != port) {
        return false;
    }
    let name = name.trim_start_matches('[').trim_end_matches(']');
    if let Ok(ip) = name.parse::<std::net::IpAddr>() {
        return host.parse::<std::net::IpAddr>() == Ok(ip);
    }
    let name = name.strip_prefix('*').unwrap_or(name);
    match name.strip_prefix('.') {
        Some(suffix) => host.ends_with(&format!(".{suffix}")),
        None => host == name || host.ends_with(&format!(".{name}")),
    }
}

fn cidr_contains(net: &str, bits: &str, host: &str) -> bool {
    use std::net::IpAddr;
    let (Ok(net), Ok(bits), Ok(ip)) = (
        net.parse::<IpAddr>(),
        bits.parse::<u32>(),
        host.parse::<IpAddr>(),
    ) else {
        return false;
    };
    match (net, ip) {
        (IpAddr::V4(n), IpAddr::V4(i)) if bits <= 32 => {
            let mask = u32::MAX.checked_shl(32 - bits).unwrap_or(0);
            u32::from(n) & mask == u32::from(i) & mask
        }
        (IpAddr::V6(n), IpAddr::V6(i)) if bits <= 128 => {
            let mask = u128::MAX.checked_shl(128 - bits).unwrap_or(0);
            u128::from(n) & mask == u128::from(i) & mask
        }
        _ => false,
    }
}

/// "trusted: …" for an untrusted server's message: the pool MinIO builds
/// here, and what it cannot see.
pub(crate) fn describe(view: &View) -> String {
    let mut s = format!(
        "\n  trusted: {}, as MinIO sees it from inside its unit (as {})",
        view.source, view.user
    );
    for n in &view.notes {
        s.push_str(&format!("\n  note: {n}"));
    }
    for endpoint in &view.kes.endpoints {
        let Some(proxy) = view.proxies.get(&host_port(endpoint.url())) else {
            continue;
        };
        s.push_str(&format!(
            "\n  via: {endpoint} through the proxy {} (HTTPS_PROXY in MinIO's environment)",
            crate::text::cut(&redact_userinfo(proxy))
        ));
    }
    s
}

/// The client's proxy: MinIO's, for the endpoints that have one.
pub(crate) fn proxy(view: &View) -> Option<reqwest::Proxy> {
    if view.proxies.is_empty() {
        return None;
    }
    let by_host = view.proxies.clone();
    Some(reqwest::Proxy::custom(move |url| {
        by_host.get(&host_port(url)).cloned()
    }))
}

fn host_port(url: &reqwest::Url) -> String {
    format!(
        "{}:{}",
        url.host_str().unwrap_or_default(),
        url.port_or_known_default().unwrap_or(443)
    )
}

/// MinIO's start-up call, as MinIO's client makes it: the endpoints in
/// turn, one that serves enough. A failure says what MinIO trusts and
/// cannot see ([`describe`]). `None` only for a view without endpoints,
/// which [`read`] never makes.
pub(crate) async fn start_up<'v>(
    view: &'v View,
    client: &KesClient,
) -> Option<Result<(&'v Endpoint, keys::StartUp), Box<keys::KeyError>>> {
    let mut last = None;
    for endpoint in &view.kes.endpoints {
        let session = keys::Session {
            client,
            kes: &view.kes,
            endpoint,
            vault: None,
        };
        match keys::minio_start_up(&session, &view.kes.default_key).await {
            Ok(found) => return Some(Ok((endpoint, found))),
            Err(e) => last = Some(e),
        }
    }
    let trust = describe(view);
    last.map(|e| Err(Box::new(with_trust(e, &trust))))
}

/// A transport failure with what is trusted, and what MinIO cannot see.
fn with_trust(e: keys::KeyError, trust: &str) -> keys::KeyError {
    use keys::KeyError;
    match e {
        KeyError::Transport {
            endpoint,
            route,
            detail,
        } => KeyError::Transport {
            endpoint,
            route,
            detail: format!("{detail}{trust}"),
        },
        KeyError::Unavailable {
            endpoint,
            route,
            attempts,
            window,
            last,
            fix,
        } => KeyError::Unavailable {
            endpoint,
            route,
            attempts,
            window,
            last: format!("{last}{trust}"),
            fix,
        },
        other => other,
    }
}

/// A proxy URL without its user and password.
fn redact_userinfo(proxy: &str) -> String {
    match proxy.split_once("://") {
        Some((scheme, rest)) => match rest.split_once('@') {
            Some((_, host)) => format!("{scheme}://…@{host}"),
            None => proxy.to_owned(),
        },
        None => proxy.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &[(&str, &str)]) -> Env {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    fn endpoint(s: &str) -> Endpoint {
        crate::config::expand_endpoints(s, 0).unwrap().remove(0)
    }

    #[test]
    fn the_proxy_go_takes_for_kes() {
        let e = endpoint("https://kes.example.net:7373");
        let p = |pairs: &[(&str, &str)], e: &Endpoint| proxy_for(&env(pairs), e);
        assert_eq!(p(&[], &e), None);
        assert_eq!(
            p(&[("HTTPS_PROXY", "proxy:3128")], &e).as_deref(),
            Some("http://proxy:3128")
        );
        assert_eq!(
            p(
                &[("https_proxy", "http://p:1"), ("HTTPS_PROXY", "http://P:2")],
                &e
            )
            .as_deref(),
            Some("http://P:2")
        );
        // HTTP_PROXY is for http:// requests; KES is https.
        assert_eq!(p(&[("HTTP_PROXY", "http://p:1")], &e), None);
        for no in [
            "*",
            "example.net",
            ".example.net",
            "*.example.net",
            "kes.example.net:7373",
            "other, KES.example.net",
        ] {
            assert_eq!(
                p(&[("HTTPS_PROXY", "http://p:1"), ("NO_PROXY", no)], &e),
                None,
                "{no}"
            );
        }
        for yes in [
            "kes.example.net:443",
            "xample.net",
            ".kes.example.net",
            "10.0.0.0/8",
        ] {
            assert!(
                p(&[("HTTPS_PROXY", "http://p:1"), ("no_proxy", yes)], &e).is_some(),
                "{yes}"
            );
        }
        // Loopback is never proxied.
        for local in [
            "https://127.0.0.1:7373",
            "https://localhost:7373",
            "https://[::1]:7373",
        ] {
            assert_eq!(
                p(&[("HTTPS_PROXY", "http://p:1")], &endpoint(local)),
                None,
                "{local}"
            );
        }
        let ip = endpoint("https://10.1.2.3:7373");
        assert_eq!(
            p(
                &[("HTTPS_PROXY", "http://p:1"), ("NO_PROXY", "10.0.0.0/8")],
                &ip
            ),
            None
        );
        assert_eq!(
            p(
                &[("HTTPS_PROXY", "http://p:1"), ("NO_PROXY", "10.1.2.3")],
                &ip
            ),
            None
        );
    }

    #[test]
    fn minio_config_env_file_overrides_and_a_missing_one_is_ignored() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("config.env");
        std::fs::write(&file, "export MINIO_KMS_KES_KEY_NAME=\"from-file\"\n").unwrap();
        let f = file.display().to_string();
        let got = minio_environment(
            env(&[
                ("MINIO_CONFIG_ENV_FILE", &f),
                ("MINIO_KMS_KES_KEY_NAME", "systemd"),
            ]),
            "minio-user",
        )
        .unwrap();
        assert_eq!(got["MINIO_KMS_KES_KEY_NAME"], "from-file");
        let missing = dir.path().join("nope").display().to_string();
        let got = minio_environment(env(&[("MINIO_CONFIG_ENV_FILE", &missing)]), "u").unwrap();
        assert_eq!(got.len(), 1);
    }

    #[test]
    fn no_kes_is_nothing_to_check_and_an_invalid_set_is_refused() {
        assert!(
            read(&env(&[("MINIO_VOLUMES", "/data")]), "u")
                .unwrap()
                .is_none()
        );
        let e = read(&env(&[("MINIO_KMS_KES_CAPATH", "/x")]), "u")
            .err()
            .unwrap();
        assert!(matches!(e, ViewError::Invalid { .. }), "{e}");
    }

    #[test]
    fn a_ca_minio_cannot_open_adds_nothing_and_is_named() {
        let mut notes = Vec::new();
        let s = ca_source(
            &env(&[("MINIO_KMS_KES_CAPATH", "/nonexistent/ca.pem")]),
            &mut notes,
        );
        assert_eq!(s, CaSource::None);
        assert!(notes[0].contains("sandbox hides"), "{notes:?}");
        let s = ca_source(
            &env(&[
                ("MINIO_OPTS", "--certs-dir /opt/certs"),
                ("HOME", "/home/m"),
            ]),
            &mut notes,
        );
        assert!(
            matches!(s, CaSource::CertsDir { ref path, .. } if path == Path::new("/opt/certs/CAs"))
        );
        let s = ca_source(&env(&[("HOME", "/srv/minio")]), &mut notes);
        assert!(
            matches!(s, CaSource::CertsDir { ref path, .. } if path == Path::new("/srv/minio/.minio/certs/CAs"))
        );
    }

    #[test]
    fn a_proxy_password_never_reaches_the_message() {
        assert_eq!(redact_userinfo("http://u:secret@p:3128"), "http://…@p:3128");
    }
}
