//! `kesgate init`: the configuration in one command. `--adopt` takes what
//! MinIO uses today from its environment file(s) — read as `render --check`
//! reads them — and refuses to write anything that would change what MinIO
//! sees, or (unless `--force`) what would hold MinIO back where it starts
//! today. Without `--adopt`, a new installation: the configuration, the API
//! key (generated only on a host that is not one of several MinIO nodes),
//! the KES policy to add, and one bounded readiness check.

use std::path::{Path, PathBuf};
use std::time::Duration;

use super::Outcome;
use crate::cli::InitArgs;
use crate::config::draft::{Draft, DraftAuth, DraftVault, InitError, Seen};
use crate::config::{ConfigError, DEFAULT_MINIO_UNIT, EnvFileSettings, Settings};
use crate::error::Error;
use crate::files::atomic::{create_private, write_private};
use crate::host::minio_unit::{self, MinioUnit};
use crate::kes_types::apikey::ApiKey;
use crate::kes_types::policy::policy_yaml;
use crate::secret::Secret;
use crate::stages::{keys, render, wait};

/// Where a new API key goes, and where `--adopt` puts MinIO's.
const DEFAULT_API_KEY_FILE: &str = "/etc/kesgate/kes-api-key";

/// How long the readiness check may take per endpoint, and the round trip.
const CHECK_BOUND: Duration = Duration::from_secs(5);

/// The API key the configuration will name.
enum Key {
    /// Write this key (MinIO's, or a new one) to the key file.
    Write(Secret<String>),
    /// The key file holds the key already.
    Existing,
    /// Certificate authentication: no key file.
    None,
}

pub(crate) async fn run(config: &Path, args: &InitArgs) -> Result<Outcome, Error> {
    if args.accept_changes && !args.adopt {
        return Err(InitError::Usage("--accept-changes goes with --adopt: a new installation changes MinIO's environment by design".into()).into());
    }
    let (env, key_file) = inputs(args);
    let unit = minio_unit::read(DEFAULT_MINIO_UNIT, None, &env.path).await;
    let (draft, key) = drafted(args, &env, &unit, &key_file)?;
    let text = draft.text()?;
    // Validated as the loader will read it, before anything is written.
    let settings = load_as_written(&draft, &key, &key_file, config)?;
    let mut changes_pending = false;
    if args.adopt {
        changes_pending =
            unchanged_by_render(&settings, &env, &unit, config, args.accept_changes).await?;
        let blocks = would_block(&settings, &unit).await;
        if !blocks.is_empty() && !args.force {
            return Err(InitError::WouldBlock { what: blocks }.into());
        }
        for b in &blocks {
            tracing::warn!("adopted with --force although kesgate holds MinIO back: {b}");
        }
    }
    if args.dry_run {
        outln!(
            "# kesgate init --dry-run: nothing written. {}:",
            config.display()
        );
        out!("{text}");
        match &key {
            Key::Write(_) => outln!("# and the API key to {} (mode 0600)", key_file.display()),
            Key::Existing => outln!("# using the API key in {}", key_file.display()),
            Key::None => {}
        }
        return Ok(Outcome::Done);
    }
    write(config, args, &draft.origin, text, &key, &key_file)?;
    if args.adopt {
        next_after_adopting(changes_pending);
        return Ok(Outcome::Done);
    }
    outln!("# add to KES's server configuration (policy for MinIO's identity), then restart KES:");
    out!("{}", policy_yaml("minio", settings.kes.identity().as_str()));
    readiness(&settings, &unit).await?;
    outln!(
        "KES is ready for this identity. next: `kesgate render --dry-run --diff`, then `systemctl restart {DEFAULT_MINIO_UNIT}`"
    );
    Ok(Outcome::Done)
}

/// MinIO's env file and the API key file the command line names (absolute).
fn inputs(args: &InitArgs) -> (EnvFileSettings, PathBuf) {
    let env_file = args
        .env_file
        .clone()
        .unwrap_or_else(|| PathBuf::from(crate::config::DEFAULT_ENV_FILE));
    let key_file = absolute(
        &args
            .api_key_file
            .clone()
            .unwrap_or_else(|| PathBuf::from(DEFAULT_API_KEY_FILE)),
    );
    let env = EnvFileSettings {
        path: absolute(&env_file),
        mode: 0o600,
        uid: None,
        gid: None,
        set: Vec::new(),
    };
    (env, key_file)
}

/// The configuration to write: adopted or new, with the Vault the
/// operator names (not in MinIO's environment, so only they can say it).
fn drafted(
    args: &InitArgs,
    env: &EnvFileSettings,
    unit: &MinioUnit,
    key_file: &Path,
) -> Result<(Draft, Key), Error> {
    let (mut draft, key) = if args.adopt {
        adopt(env, unit, key_file)?
    } else {
        new_installation(args, env, unit, key_file)?
    };
    if !args.vault.is_empty() {
        draft.vault = Some(DraftVault {
            address: args.vault.clone(),
            ca: args.vault_ca.as_deref().map(absolute),
        });
    } else if args.vault_ca.is_some() {
        return Err(InitError::Usage("--vault-ca goes with --vault ADDRESS".into()).into());
    }
    Ok((draft, key))
}

/// What the configuration needs first, the configuration last: it is
/// what turns the gate on ([`write_all`]); then what was written.
fn write(
    config: &Path,
    args: &InitArgs,
    origin: &str,
    text: String,
    key: &Key,
    key_file: &Path,
) -> Result<(), Error> {
    let mut writes = Vec::new();
    if let Key::Write(k) = key {
        writes.push((
            key_file.to_owned(),
            format!("{}\n", k.expose()).into_bytes(),
        ));
    }
    writes.push((config.to_owned(), text.into_bytes()));
    let adopt_args = if args.adopt { " --adopt" } else { "" };
    let wrote = write_all(&writes, args.force, adopt_args)?;
    if !wrote.iter().any(|w| *w) {
        outln!(
            "{}: already configured (the same as init would write); nothing changed",
            config.display()
        );
    }
    if wrote.len() == 2 && wrote[0] {
        outln!("wrote {} (the API key, mode 0600)", key_file.display());
    }
    if wrote.last() == Some(&true) {
        outln!("wrote {} ({origin})", config.display());
    }
    Ok(())
}

/// The next step after adopting: the render that applies an accepted
/// change, or the check that finds nothing to change.
fn next_after_adopting(changes_pending: bool) {
    if changes_pending {
        outln!(
            "next: `kesgate render --dry-run --diff` shows the change above; `kesgate render` makes it, then `systemctl restart {DEFAULT_MINIO_UNIT}` (on every node together in a cluster)"
        );
    } else {
        outln!(
            "next: `kesgate render --check` (nothing to change), then `systemctl restart {DEFAULT_MINIO_UNIT}` when convenient: from then on every MinIO start waits for KES"
        );
    }
}

fn absolute(p: &Path) -> PathBuf {
    std::path::absolute(p).unwrap_or_else(|_| p.to_owned())
}

/// `--adopt`: the draft that says what MinIO uses today.
fn adopt(env: &EnvFileSettings, unit: &MinioUnit, key_file: &Path) -> Result<(Draft, Key), Error> {
    let view = render::minio_view(env, unit)?;
    let other: Vec<String> = render::minio_rules::other_families(&view.effective)
        .into_iter()
        .map(str::to_owned)
        .collect();
    let seen = Seen {
        effective: &view.effective,
        files: &view.files,
        working_directory: &unit.working_directory,
        env_file: &env.path,
    };
    let adopted = crate::config::draft::adopt(&seen, &other, key_file)?;
    let key = match adopted.api_key {
        Some(k) => {
            ApiKey::parse(k.expose()).map_err(|reason| InitError::Invalid {
                what: format!("MINIO_KMS_KES_API_KEY in {}", env.path.display()),
                why: format!("not a KES API key ({reason})"),
                fix: "fix MinIO's API key first (MinIO would not start with it either)",
            })?;
            Key::Write(k)
        }
        None => Key::None,
    };
    Ok((adopted.draft, key))
}

/// A new installation from the command line.
fn new_installation(
    args: &InitArgs,
    env: &EnvFileSettings,
    unit: &MinioUnit,
    key_file: &Path,
) -> Result<(Draft, Key), Error> {
    let key = if key_file.exists() {
        Key::Existing
    } else {
        // One key per cluster: never a host-local one for a node of several.
        let volumes = render::minio_view(env, unit)
            .ok()
            .and_then(|v| v.effective.get("MINIO_VOLUMES").cloned());
        if let Some(why) = crate::fleet::distributed(volumes.as_deref()) {
            return Err(InitError::SharedKeyNeeded { why }.into());
        }
        let key = ApiKey::generate().map_err(|reason| InitError::Invalid {
            what: "a new API key".into(),
            why: reason.to_string(),
            fix: "try again; the system's random source failed",
        })?;
        Key::Write(Secret::new(key.to_text().expose().clone()))
    };
    let draft = Draft {
        origin: "a new installation".into(),
        endpoints: args.endpoints.clone(),
        auth: DraftAuth::ApiKeyFile(key_file.to_owned()),
        ca: args.ca.as_deref().map(absolute),
        default_key: args.key_name.clone(),
        env_file: env.path.clone(),
        vault: None,
    };
    Ok((draft, key))
}

/// The draft loaded exactly as the configuration loader will load it —
/// same rules, same messages — from a private scratch copy (a key to be
/// written goes there too). Errors name the configuration file to be.
fn load_as_written(
    draft: &Draft,
    key: &Key,
    key_file: &Path,
    config: &Path,
) -> Result<Settings, Error> {
    let scratch = tempfile::Builder::new()
        .prefix("kesgate-init.")
        .tempdir()
        .map_err(|source| InitError::Write {
            path: std::env::temp_dir().display().to_string(),
            source,
        })?;
    let mut draft = draft.clone();
    if let Key::Write(k) = key {
        let scratch_key = scratch.path().join("kes-api-key");
        create_private(&scratch_key, format!("{}\n", k.expose()).as_bytes()).map_err(|source| {
            InitError::Write {
                path: scratch_key.display().to_string(),
                source,
            }
        })?;
        draft.auth = DraftAuth::ApiKeyFile(scratch_key);
    } else if let Key::Existing = key {
        draft.auth = DraftAuth::ApiKeyFile(key_file.to_owned());
    }
    let scratch_config = scratch.path().join("kesgate.toml");
    std::fs::write(&scratch_config, draft.text()?).map_err(|source| InitError::Write {
        path: scratch_config.display().to_string(),
        source,
    })?;
    Settings::load(&scratch_config).map_err(|e| match e {
        ConfigError::Invalid {
            line,
            column,
            message,
            fix,
            ..
        } => ConfigError::Invalid {
            path: config.to_owned(),
            line,
            column,
            message,
            fix,
        }
        .into(),
        e => e.into(),
    })
}

/// `--adopt`: kesgate's first render must change no byte MinIO reads;
/// else the masked diff, and a refusal unless `--accept-changes`. True
/// when the first render will change what MinIO reads (accepted).
async fn unchanged_by_render(
    settings: &Settings,
    env: &EnvFileSettings,
    unit: &MinioUnit,
    config: &Path,
    accept: bool,
) -> Result<bool, Error> {
    let options = render::Options {
        action: render::Action::DryRun,
        diff: true,
        config,
    };
    let rendered = render::render(&settings.kes, env, unit, options).await?;
    let changes: Vec<&render::Report> = rendered.files.iter().filter(|f| f.differs).collect();
    // A mode that only closes the file to others changes nothing MinIO
    // reads (systemd reads as root; MinIO keeps its own access): said, and
    // adoption goes on.
    for f in &changes {
        if let Some((old, new)) = f.tightened {
            outln!(
                "{}: mode {old:04o} → {new:04o} at kesgate's first render: it holds the API key, so only {} will read it",
                f.path.display(),
                if new & 0o040 != 0 {
                    "its owner and MinIO's group"
                } else {
                    "its owner"
                }
            );
        }
    }
    let content: Vec<&&render::Report> = changes.iter().filter(|f| f.content_differs).collect();
    if content.is_empty() {
        return Ok(false);
    }
    let mut diff = String::new();
    for f in &content {
        if let Some(d) = &f.diff {
            diff.push_str(d);
        }
    }
    if accept {
        outln!("adopting with --accept-changes; kesgate's first render will apply:");
        out!("{diff}");
        return Ok(true);
    }
    // The diff alone on standard output, so it can be saved as a patch;
    // the refusal and its fix on standard error.
    out!("{diff}");
    let files = content
        .iter()
        .map(|f| f.path.display().to_string())
        .collect::<Vec<_>>()
        .join(" and ");
    Err(InitError::WouldChange { files }.into())
}

/// `--adopt`: what kesgate would refuse at MinIO's next start although
/// MinIO starts today — read-only, bounded. KES not reachable now is no
/// such thing (MinIO would not start either): said, and passed.
async fn would_block(settings: &Settings, unit: &MinioUnit) -> Vec<String> {
    let (client, trust) = match crate::stages::kes_connection(settings, unit).await {
        Ok(c) => (c.client, c.trust),
        Err(e) => return vec![crate::text::headline_and_fix(&e)],
    };
    let mut blocks = Vec::new();
    for endpoint in &settings.kes.endpoints {
        let seen = tokio::time::timeout(
            CHECK_BOUND,
            wait::inspect(&client, &settings.kes, &trust, endpoint),
        )
        .await;
        let seen = match seen {
            Ok(s) => s,
            Err(_) => {
                outln!(
                    "note: KES {endpoint} gave no answer within {}s: MinIO would not start without it either",
                    CHECK_BOUND.as_secs()
                );
                continue;
            }
        };
        // MinIO's decision on the same trust and identity: a server it
        // does not trust, a client certificate refused in the handshake or
        // a peer that is not KES stop MinIO's start today too — said, not
        // blamed on kesgate. A policy refusal is kesgate's own strictness
        // (MinIO starts despite it): that one would hold MinIO back.
        if seen.permanent && seen.condition != "forbidden" {
            outln!(
                "note: KES {endpoint}: {}\n  MinIO does not start with this either (it makes the same TLS decision with the same trust and identity)",
                seen.state
            );
            continue;
        }
        if seen.permanent {
            blocks.push(seen.state);
            continue;
        }
        if !seen.ready {
            outln!(
                "note: KES {endpoint}: {}: MinIO would not start without it either; kesgate waits for it",
                seen.state
            );
            continue;
        }
        let session = keys::Session {
            client: &client,
            kes: &settings.kes,
            endpoint,
            vault: None,
        };
        match tokio::time::timeout(
            CHECK_BOUND,
            keys::round_trip(&session, &settings.kes.default_key),
        )
        .await
        {
            Ok(Ok(_)) | Err(_) => {}
            // kesgate creates a missing default key, as MinIO does.
            Ok(Err(keys::KeyError::NotFound { .. } | keys::KeyError::Unavailable { .. })) => {}
            Ok(Err(e)) => blocks.push(crate::text::headline_and_fix(&e)),
        }
    }
    blocks
}

/// A new installation's one bounded readiness check: Ok when an endpoint
/// is ready, else the error `wait` would end with (its exit code).
async fn readiness(settings: &Settings, unit: &MinioUnit) -> Result<(), Error> {
    let crate::peers::kes::connection::KesConnection { client, trust, .. } =
        crate::stages::kes_connection(settings, unit).await?;
    let inputs = wait::Inputs {
        kes: &settings.kes,
        wait: &settings.wait,
        timeout: Some(CHECK_BOUND),
        trust: &trust,
    };
    let notifier = crate::host::systemd::notify::Notifier::from_env();
    let episode = crate::host::systemd::episode::Episode::open("init");
    wait::wait(&inputs, &client, None, &notifier, &episode).await?;
    Ok(())
}

/// Writes each (path, content), judging all before writing any: a file
/// that differs stops everything unless `force`. Returns, per file,
/// whether it was written.
///
/// `writes` end with the configuration; what comes before it is what it
/// needs (the API key). Nothing that turns the gate on may exist before
/// all it needs: when a configuration is replaced together with what it
/// needs, the old one is first moved aside (`PATH.kesgate-prev`: kesgate
/// is then not configured, and MinIO starts as it did without it), the
/// rest is written, the configuration last. A kill or a full or read-only
/// file system at any step leaves the old pair, no configuration, or the
/// new pair — never a configuration with a missing or stale key — and the
/// error says what was written and what was not.
fn write_all(writes: &[(PathBuf, Vec<u8>)], force: bool, args: &str) -> Result<Vec<bool>, Error> {
    let mut states = Vec::new();
    for (path, content) in writes {
        let state = State::of(path, content)?;
        if let State::Differs(_) = state
            && !force
        {
            return Err(InitError::Exists {
                path: path.display().to_string(),
                args: args.to_owned(),
            }
            .into());
        }
        states.push(state);
    }
    let Some((config, needs)) = writes.split_last() else {
        return Ok(Vec::new());
    };
    let config_state = states.pop().unwrap_or(State::Missing);
    let needs_change = states.iter().any(|s| !matches!(s, State::Same));
    let config_state = match config_state {
        State::Differs(_) if needs_change => {
            set_aside(&config.0)?;
            #[cfg(feature = "failpoints")]
            fail::fail_point!("init-after-set-aside", |a| { injected(a, &config.0, &[]) });
            State::Missing
        }
        other => other,
    };
    let mut wrote = Vec::new();
    let mut done: Vec<String> = Vec::new();
    for ((path, content), state) in needs.iter().zip(states) {
        let w = put(path, content, state).map_err(|e| partly(e, &done, &config.0))?;
        if w {
            done.push(path.display().to_string());
        }
        wrote.push(w);
    }
    #[cfg(feature = "failpoints")]
    fail::fail_point!("init-before-config", |a| injected(a, &config.0, &done));
    let w = put(&config.0, &config.1, config_state).map_err(|e| partly(e, &done, &config.0))?;
    wrote.push(w);
    Ok(wrote)
}

/// A failure injected between init's writes (tests only).
#[cfg(feature = "failpoints")]
fn injected(action: Option<String>, config: &Path, done: &[String]) -> Result<Vec<bool>, Error> {
    crate::files::atomic::injected(action)
        .map(|()| Vec::new())
        .map_err(|source| {
            partly(
                InitError::Write {
                    path: config.display().to_string(),
                    source,
                }
                .into(),
                done,
                config,
            )
        })
}

/// The old configuration moved aside (renamed: it exists whole at one of
/// the two names at every instant).
fn set_aside(path: &Path) -> Result<(), Error> {
    std::fs::rename(path, prev_of(path)).map_err(|source| {
        InitError::Write {
            path: path.display().to_string(),
            source,
        }
        .into()
    })
}

/// Where a replaced file's old content is kept: `PATH.kesgate-prev`.
fn prev_of(path: &Path) -> PathBuf {
    let mut prev = path.as_os_str().to_owned();
    prev.push(".kesgate-prev");
    PathBuf::from(prev)
}

/// A write that failed after others succeeded: says which were written,
/// and that the configuration (what turns the gate on) was not.
fn partly(e: Error, done: &[String], config: &Path) -> Error {
    match e {
        Error::Init(InitError::Write { path, source }) if !done.is_empty() => {
            InitError::WrotePart {
                path,
                source,
                written: done.join(", "),
                config: config.display().to_string(),
            }
            .into()
        }
        other => other,
    }
}

/// What is at a path `init` writes.
enum State {
    Missing,
    Same,
    /// Another content (kept as `PATH.kesgate-prev` when replaced).
    Differs(Vec<u8>),
}

impl State {
    fn of(path: &Path, content: &[u8]) -> Result<State, Error> {
        match crate::files::regular::read(path, crate::files::regular::MAX_CONFIG) {
            Ok(bytes) if bytes == content => Ok(State::Same),
            // A key file that says the same key (another line ending) is the same.
            Ok(bytes) if bytes.trim_ascii() == content.trim_ascii() => Ok(State::Same),
            Ok(bytes) => Ok(State::Differs(bytes)),
            Err(crate::files::regular::ReadError::Missing) => Ok(State::Missing),
            Err(e) => Err(InitError::Write {
                path: path.display().to_string(),
                source: e.into_io(),
            }
            .into()),
        }
    }
}

/// Writes `content` to `path` (0600; the directory created 0700 when
/// missing) unless it holds that already; a different old content is kept
/// as `PATH.kesgate-prev` first. Returns whether it wrote.
fn put(path: &Path, content: &[u8], state: State) -> Result<bool, Error> {
    let shown = path.display().to_string();
    let write_error = |source| InitError::Write {
        path: shown.clone(),
        source,
    };
    if let State::Same = state {
        return Ok(false);
    }
    if let Some(dir) = path.parent()
        && !dir.exists()
    {
        use std::os::unix::fs::DirBuilderExt as _;
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(dir)
            .map_err(write_error)?;
    }
    if let State::Differs(old) = state {
        write_private(&prev_of(path), &old).map_err(write_error)?;
    }
    write_private(path, content).map_err(write_error)?;
    Ok(true)
}
