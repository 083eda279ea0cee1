//! Buckets: once MinIO's cluster is healthy, every configured
//! bucket gets bucket-default SSE-KMS with its key (as `mc encrypt set
//! sse-kms KEY alias/bucket` would). Already right → no write; encrypted
//! otherwise → left alone unless `replace = true`.

pub(crate) mod credentials;

use std::time::Duration;

use crate::config::{BucketSettings, Settings};
use crate::host::minio_unit::MinioUnit;
use crate::host::systemd::notify::Notifier;
use crate::logging::ids;
use crate::net::tls::TlsSetupError;
use crate::peers::s3::{S3Client, xml_text};
use crate::retry::Retry;
pub(crate) use credentials::CredentialsError;

/// Errors that stop the whole stage (per-bucket problems are outcomes).
#[derive(Debug, thiserror::Error)]
pub(crate) enum BucketsError {
    #[error(transparent)]
    Credentials(#[from] CredentialsError),
    #[error(transparent)]
    Tls(#[from] TlsSetupError),
    #[error("MinIO {endpoint} was not healthy after {}: {last}\n  fix: check `systemctl status minio` and `journalctl -u minio`; /minio/health/cluster must answer 200", crate::text::duration(*waited))]
    NotHealthy {
        endpoint: String,
        waited: Duration,
        last: String,
    },
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Outcome {
    AlreadyEncrypted,
    Encrypted { created: bool },
    Missing,
    OtherEncryption { current: String },
    KeyNotFound,
    Failed(String),
}

impl Outcome {
    pub(crate) fn ok(&self) -> bool {
        matches!(self, Outcome::AlreadyEncrypted | Outcome::Encrypted { .. })
    }

    fn kind(&self) -> &'static str {
        match self {
            Outcome::AlreadyEncrypted => "unchanged",
            Outcome::Encrypted { created: false } => "encrypted",
            Outcome::Encrypted { created: true } => "created_encrypted",
            Outcome::Missing => "missing",
            Outcome::OtherEncryption { .. } => "other_encryption",
            Outcome::KeyNotFound => "key_not_found",
            Outcome::Failed(_) => "failed",
        }
    }
}

pub(crate) struct Report {
    pub outcomes: Vec<(BucketSettings, Outcome)>,
}

impl Report {
    pub(crate) fn all_ok(&self) -> bool {
        self.outcomes.iter().all(|(_, o)| o.ok())
    }

    pub(crate) fn summary(&self) -> String {
        if self.outcomes.is_empty() {
            return "no buckets configured".into();
        }
        let ok = self.outcomes.iter().filter(|(_, o)| o.ok()).count();
        format!(
            "{ok} of {} bucket(s) encrypted with their SSE-KMS key",
            self.outcomes.len()
        )
    }
}

pub(crate) async fn run(
    settings: &Settings,
    unit: &MinioUnit,
    notifier: &Notifier,
) -> Result<Report, BucketsError> {
    // A host without [[buckets]] has nothing to wait for: MinIO's health,
    // its credentials and TLS do not matter here.
    if settings.buckets.is_empty() {
        let report = Report {
            outcomes: Vec::new(),
        };
        tracing::info!("{}", report.summary());
        return Ok(report);
    }
    let s3 = connect(settings, unit).await?;
    wait_healthy(&s3, settings, notifier).await?;
    let mut outcomes = Vec::new();
    for bucket in &settings.buckets {
        notifier.status(&format!("bucket {}: checking", bucket.name));
        let outcome = ensure(&s3, bucket, &settings.minio.region).await;
        log_outcome(bucket, &outcome);
        outcomes.push((bucket.clone(), outcome));
    }
    let report = Report { outcomes };
    if report.all_ok() {
        tracing::info!("{}", report.summary());
    } else {
        tracing::error!("{}: see the lines above for the others", report.summary());
    }
    Ok(report)
}

/// The S3 client with MinIO's own credentials (as MinIO's unit gives
/// them), over MinIO's TLS: what this stage and `status` both ask with.
pub(crate) async fn connect(
    settings: &Settings,
    unit: &MinioUnit,
) -> Result<S3Client, BucketsError> {
    let (access, secret) = credentials::resolve(
        &settings.minio,
        &settings.env_file.path,
        &unit.working_directory,
    )?;
    Ok(S3Client::new(&settings.minio, access, secret).await?)
}

/// Whether MinIO's cluster can serve bucket calls:
/// `/minio/health/cluster` = 200 (object layer, bucket metadata and IAM
/// up with write quorum; `/ready` answers 200 too early). `Err`: what it
/// answered instead.
pub(crate) async fn healthy(s3: &S3Client) -> Result<(), String> {
    match s3.get_unsigned("/minio/health/cluster").await {
        Ok(200) => Ok(()),
        Ok(status) => Err(format!("HTTP {status}")),
        Err(e) => Err(format!("not reachable: {e}")),
    }
}

/// Waits until [`healthy`], within `[wait] timeout`.
async fn wait_healthy(
    s3: &S3Client,
    settings: &Settings,
    notifier: &Notifier,
) -> Result<(), BucketsError> {
    let mut retry: Retry<String> = Retry::new(settings.wait.timeout, settings.wait.max_interval);
    loop {
        let attempt = retry.attempt();
        let Err(state) = healthy(s3).await else {
            return Ok(());
        };
        if retry.last() != Some(&state) {
            tracing::warn!(
                kesgate_endpoint = s3.endpoint(),
                kesgate_attempt = attempt,
                "MinIO {}: cluster not ready ({state})",
                s3.endpoint()
            );
        }
        notifier.status(&format!(
            "MinIO {}: cluster not ready ({state}), attempt {attempt}",
            s3.endpoint(),
        ));
        retry.failed(state);
        if !retry.pause().await {
            return Err(BucketsError::NotHealthy {
                endpoint: s3.endpoint().to_owned(),
                waited: retry.waited(),
                last: retry.take_last().unwrap_or_default(),
            });
        }
    }
}

/// A bucket's default encryption, as MinIO stored it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Encryption {
    None,
    Set { alg: String, key: String },
}

impl Encryption {
    /// Whether it is SSE-KMS with `want` (MinIO may prefix the key's name
    /// with `arn:aws:kms:`).
    pub(crate) fn is_kms_with(&self, want: &str) -> bool {
        match self {
            Encryption::Set { alg, key } => {
                alg == "aws:kms" && key.strip_prefix("arn:aws:kms:").unwrap_or(key) == want
            }
            Encryption::None => false,
        }
    }
}

impl std::fmt::Display for Encryption {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Encryption::None => f.write_str("none"),
            Encryption::Set { alg, key } if key.is_empty() => f.write_str(&crate::text::cut(alg)),
            Encryption::Set { alg, key } => write!(
                f,
                "{} with key {}",
                crate::text::cut(alg),
                crate::text::cut(key)
            ),
        }
    }
}

/// The bucket's default encryption.
pub(crate) async fn current(s3: &S3Client, bucket: &str) -> Result<Encryption, String> {
    let r = s3
        .send("GET", &format!("/{bucket}?encryption"), Vec::new())
        .await?;
    match r.status {
        200 => Ok(Encryption::Set {
            alg: xml_text(&r.body, "SSEAlgorithm").unwrap_or_default(),
            key: xml_text(&r.body, "KMSMasterKeyID").unwrap_or_default(),
        }),
        404 if r.error_code() == "ServerSideEncryptionConfigurationNotFoundError" => {
            Ok(Encryption::None)
        }
        _ => Err(format!(
            "reading its encryption: HTTP {} {}: {}",
            r.status,
            r.error_code(),
            r.error_message()
        )),
    }
}

async fn ensure(s3: &S3Client, bucket: &BucketSettings, region: &str) -> Outcome {
    match ensure_inner(s3, bucket, region).await {
        Ok(o) => o,
        Err(e) => Outcome::Failed(e),
    }
}

async fn ensure_inner(
    s3: &S3Client,
    bucket: &BucketSettings,
    region: &str,
) -> Result<Outcome, String> {
    let name = &bucket.name;
    let head = s3.send("HEAD", &format!("/{name}"), Vec::new()).await?;
    let mut created = false;
    match head.status {
        200 => {}
        404 if !bucket.create => return Ok(Outcome::Missing),
        404 => {
            let body = if region == "us-east-1" {
                Vec::new()
            } else {
                format!("<CreateBucketConfiguration><LocationConstraint>{region}</LocationConstraint></CreateBucketConfiguration>").into_bytes()
            };
            let r = s3.send("PUT", &format!("/{name}"), body).await?;
            match (r.status, r.error_code().as_str()) {
                (200, _) => created = true,
                // Another host created it first.
                (409, "BucketAlreadyOwnedByYou") => {}
                _ => return Err(format!("creating it: HTTP {} {}: {}", r.status, r.error_code(), r.error_message())),
            }
        }
        403 => return Err("access denied: check the MinIO credentials (MINIO_ROOT_USER/MINIO_ROOT_PASSWORD or [minio] key files)".into()),
        s => return Err(format!("checking it: HTTP {s}")),
    }
    let want = bucket.key.to_string();
    match current(s3, name).await? {
        now if now.is_kms_with(&want) => return Ok(Outcome::AlreadyEncrypted),
        now @ Encryption::Set { .. } if !bucket.replace => {
            return Ok(Outcome::OtherEncryption {
                current: now.to_string(),
            });
        }
        _ => {}
    }
    let xml = format!(
        "<ServerSideEncryptionConfiguration xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\"><Rule><ApplyServerSideEncryptionByDefault><SSEAlgorithm>aws:kms</SSEAlgorithm><KMSMasterKeyID>{want}</KMSMasterKeyID></ApplyServerSideEncryptionByDefault></Rule></ServerSideEncryptionConfiguration>"
    );
    let r = s3
        .send("PUT", &format!("/{name}?encryption"), xml.into_bytes())
        .await?;
    match (r.status, r.error_code().as_str()) {
        (200, _) => {}
        (404, "kms:KeyNotFound") => return Ok(Outcome::KeyNotFound),
        (s, code) => {
            return Err(format!(
                "setting SSE-KMS: HTTP {s} {code}: {}",
                r.error_message()
            ));
        }
    }
    // Read back: what MinIO stored is what counts.
    match current(s3, name).await? {
        now if now.is_kms_with(&want) => Ok(Outcome::Encrypted { created }),
        now => Err(format!("read back {now} after setting SSE-KMS with {want}")),
    }
}

fn log_outcome(bucket: &BucketSettings, outcome: &Outcome) {
    let (name, key) = (&bucket.name, &bucket.key);
    let text = match outcome {
        Outcome::AlreadyEncrypted => {
            format!("bucket {name}: already SSE-KMS with key {key}; not changed")
        }
        Outcome::Encrypted { created: true } => {
            format!("bucket {name}: created, and set SSE-KMS with key {key}")
        }
        Outcome::Encrypted { created: false } => {
            format!("bucket {name}: set SSE-KMS with key {key}")
        }
        Outcome::Missing => format!(
            "bucket {name}: does not exist; fix: create it, or set create = true in its [[buckets]] entry"
        ),
        Outcome::OtherEncryption { current } => format!(
            "bucket {name}: encrypted with {current}, not SSE-KMS with key {key}; left as it is\n  fix: set replace = true in its [[buckets]] entry to change it"
        ),
        Outcome::KeyNotFound => format!(
            "bucket {name}: MinIO says KES has no key {key} (404 kms:KeyNotFound)\n  fix: run `kesgate keys` (list the key under [[keys]]) and check that KES's policy lets MinIO's identity use /v1/key/generate/{key}"
        ),
        Outcome::Failed(e) => format!("bucket {name}: {e}"),
    };
    for (i, line) in text.lines().enumerate() {
        let kind = outcome.kind();
        if outcome.ok() {
            tracing::info!(message_id = ids::BUCKET_OUTCOME, kesgate_bucket = %name, kesgate_key = %key, kesgate_outcome = kind, "{line}");
        } else if i == 0 {
            tracing::error!(message_id = ids::BUCKET_OUTCOME, kesgate_bucket = %name, kesgate_key = %key, kesgate_outcome = kind, "{line}");
        } else {
            tracing::error!(message_id = ids::BUCKET_OUTCOME, kesgate_bucket = %name, "{line}");
        }
    }
}
