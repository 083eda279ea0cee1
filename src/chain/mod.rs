//! The boot chain, written once, in the order it runs. Each unit is its own
//! process and runs a slice of it: kesgate.service `start`, minio.service's
//! ExecStartPre `preflight`, kesgate-keys.service `keys`,
//! kesgate-buckets.service `buckets` (and `wait` by hand). The facts about
//! MinIO's unit are read once, here, and handed to every stage; each stage
//! takes typed settings and those facts, and returns an outcome or a
//! complete typed error.

mod links;

use std::time::Duration;

use crate::config::Settings;
use crate::error::Error;
use crate::host::minio_unit::{self, MinioUnit};
use crate::host::systemd::episode::Episode;
use crate::host::systemd::notify::Notifier;

/// One link of the chain.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Stage {
    /// Complete a render that began and did not finish (KES up or not).
    Recover,
    /// KES ready: reachable, trusted as MinIO trusts it, authorised, its
    /// key store answering.
    Wait,
    /// MinIO's start-up calls with the default key: generate, decrypt
    /// (create on a 404 first), and its keep-alive's describe.
    RoundTrip,
    /// MINIO_KMS_KES_* into MinIO's environment file(s).
    Render,
    /// Every `[[keys]]` present on KES.
    Keys,
    /// Bucket-default SSE-KMS through MinIO's S3 API.
    Buckets,
}

/// What one command runs of the chain.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Slice {
    Wait,
    Start,
    Preflight,
    Keys,
    Buckets,
}

use Slice::{Buckets as B, Keys as K, Preflight as P, Start as S, Wait as W};

/// The chain: each stage, in run order, with the slices that run it.
pub(crate) const CHAIN: [(Stage, &[Slice]); 6] = [
    (Stage::Recover, &[S, P]),
    (Stage::Wait, &[W, S, P, K]),
    (Stage::RoundTrip, &[S, P]),
    (Stage::Render, &[S, P]),
    (Stage::Keys, &[K]),
    (Stage::Buckets, &[B]),
];

/// The stages `slice` runs, in chain order.
pub(crate) fn stages(slice: Slice) -> impl Iterator<Item = Stage> {
    CHAIN
        .iter()
        .filter(move |(_, slices)| slices.contains(&slice))
        .map(|(stage, _)| *stage)
}

/// The shortest a failing preflight attempt may take. minio.service's
/// `Restart=always` re-runs a failed ExecStartPre after 100 ms, and systemd
/// stops a unit that starts 5 times within 10 s (the default start limit);
/// attempts of at least 3 s never reach it, so an outage of any length
/// leaves MinIO retrying, never "start request repeated too quickly".
pub(crate) const PREFLIGHT_MIN_ATTEMPT: Duration = Duration::from_secs(3);

/// How long the wait of `slice` may take: `[wait] timeout` (`None` waits
/// forever), but a preflight attempt never less than
/// [`PREFLIGHT_MIN_ATTEMPT`].
pub(crate) fn wait_bound(slice: Slice, timeout: Option<Duration>) -> Option<Duration> {
    match slice {
        Slice::Preflight => timeout.map(|t| t.max(PREFLIGHT_MIN_ATTEMPT)),
        _ => timeout,
    }
}

/// What a slice ends with: the sentence for STATUS= and whether every
/// check it made holds (false only for buckets left unencrypted).
#[derive(Debug)]
pub(crate) struct Done {
    pub summary: String,
    pub all_ok: bool,
}

/// The inputs every stage shares: settings, the host facts and the voice.
pub(crate) struct Host<'a> {
    pub settings: &'a Settings,
    pub unit: MinioUnit,
    pub notifier: &'a Notifier,
    pub episode: &'a Episode,
    pub slice: Slice,
}

/// Runs `slice` of the chain with settings already loaded.
pub(crate) async fn run(
    slice: Slice,
    settings: &Settings,
    notifier: &Notifier,
    episode: &Episode,
) -> Result<Done, Error> {
    let host = Host {
        settings,
        // minio.service, read once: the trust pool, where MinIO reads its
        // environment and a new config.env's owner all come from it.
        unit: minio_unit::unit(settings).await,
        notifier,
        episode,
        slice,
    };
    let mut run = links::Run::default();
    for stage in stages(slice) {
        match stage {
            Stage::Recover => links::recover(&host).await,
            Stage::Wait => links::wait(&host, &mut run).await?,
            Stage::RoundTrip => links::round_trip(&host, &mut run).await?,
            Stage::Render => links::render(&host, &mut run).await?,
            Stage::Keys => links::keys(&host, &mut run).await?,
            Stage::Buckets => links::buckets(&host, &mut run).await?,
        }
    }
    Ok(run.done(settings, slice))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_slice_runs_its_stages_in_chain_order() {
        let of = |s| stages(s).collect::<Vec<_>>();
        assert_eq!(of(Slice::Wait), [Stage::Wait]);
        let gate = [Stage::Recover, Stage::Wait, Stage::RoundTrip, Stage::Render];
        assert_eq!(of(Slice::Start), gate);
        assert_eq!(of(Slice::Preflight), gate);
        assert_eq!(of(Slice::Keys), [Stage::Wait, Stage::Keys]);
        assert_eq!(of(Slice::Buckets), [Stage::Buckets]);
    }

    #[test]
    fn a_preflight_attempt_outlasts_the_start_limit_window() {
        // 5 starts per 10 s: attempts of ≥ 3 s (+100 ms RestartSec) never
        // put 6 starts into one window.
        assert!(5 * (PREFLIGHT_MIN_ATTEMPT + Duration::from_millis(100)) > Duration::from_secs(10));
        let bound = |t| wait_bound(Slice::Preflight, t);
        assert_eq!(
            bound(Some(Duration::from_millis(200))),
            Some(PREFLIGHT_MIN_ATTEMPT)
        );
        assert_eq!(
            bound(Some(Duration::from_secs(900))),
            Some(Duration::from_secs(900))
        );
        assert_eq!(bound(None), None);
        assert_eq!(
            wait_bound(Slice::Start, Some(Duration::from_millis(200))),
            Some(Duration::from_millis(200))
        );
    }
}
