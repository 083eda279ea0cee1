//! A KES on this host, as a systemd unit: watched over D-Bus so the wait
//! reacts to it instead of polling blindly. KES sends no sd_notify, so
//! "active" means started, not listening yet: the wait probes at once and
//! then densely for a short window. A failed or stopped unit with nothing
//! queued to start it is said plainly ("kes.service failed: exit-code")
//! instead of a bare "connection refused".
//!
//! Best effort: no system bus, no such unit, or any D-Bus error leaves the
//! wait on its polling path.

use futures_util::StreamExt;
use tokio::sync::mpsc;
use zbus::Connection;

use crate::host::systemd::bus::{self, UnitProxy, system_bus};

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum UnitEvent {
    /// Just became active: KES is starting to listen.
    Active,
    /// Activating, or a start job is queued.
    Starting,
    /// Failed with this result ("exit-code", "signal", …).
    Failed(String),
    /// Inactive with nothing queued to start it.
    Stopped,
}

impl UnitEvent {
    pub(crate) fn describe(&self, unit: &str) -> String {
        match self {
            UnitEvent::Active => format!("{unit} became active"),
            UnitEvent::Starting => format!("{unit} is starting"),
            UnitEvent::Failed(result) => format!("{unit} failed: {result}"),
            UnitEvent::Stopped => format!("{unit} is stopped and nothing starts it"),
        }
    }

    /// A state that the caller should tell the operator about.
    pub(crate) fn is_trouble(&self) -> bool {
        matches!(self, UnitEvent::Failed(_) | UnitEvent::Stopped)
    }
}

/// Starts watching `unit` when it exists; events arrive on the receiver
/// (the current state first). `None`: nothing to watch.
pub(super) async fn watch(unit: &str) -> Option<mpsc::UnboundedReceiver<UnitEvent>> {
    let conn = system_bus().await.ok()?;
    let manager = bus::manager(&conn).await.ok()?;
    let path = manager.load_unit(unit).await.ok()?;
    // The caching proxy carries the PropertiesChanged stream…
    let unit_proxy = UnitProxy::builder(&conn)
        .path(path.clone())
        .build()
        .await
        .ok()?;
    // …reads (job queued?) bypass the cache: it may lag behind the signal.
    let fresh = bus::unit(&conn, path.clone()).await.ok()?;
    if fresh.load_state().await.ok()? == "not-found" {
        return None;
    }
    // PropertiesChanged flows only while some client is subscribed.
    manager.subscribe().await.ok()?;
    let mut changes = unit_proxy.receive_active_state_changed().await;
    let (tx, rx) = mpsc::unbounded_channel();
    // The current state first, but an already active KES is no news: the
    // dense probing is for the moment it starts.
    let state = fresh.active_state().await.ok()?;
    let mut last = classify(&conn, &fresh, path.clone(), &state).await;
    if let Some(first) = last.clone().filter(|e| *e != UnitEvent::Active) {
        let _ = tx.send(first);
    }
    tracing::debug!("watching {unit} over D-Bus");
    tokio::spawn(async move {
        while let Some(change) = changes.next().await {
            let Ok(state) = change.get().await else {
                continue;
            };
            let Some(event) = classify(&conn, &fresh, path.clone(), &state).await else {
                continue;
            };
            // Coalesced signals may repeat a state; pass on changes only.
            if last.as_ref() != Some(&event) {
                last = Some(event.clone());
                if tx.send(event).is_err() {
                    return;
                }
            }
        }
    });
    Some(rx)
}

async fn classify(
    conn: &Connection,
    unit: &UnitProxy<'_>,
    path: zbus::OwnedObjectPath,
    state: &str,
) -> Option<UnitEvent> {
    let queued = || async { unit.job().await.map(|(id, _)| id != 0).unwrap_or(false) };
    // A coalesced signal may carry a state already gone (an "inactive"
    // from before the start job): the unit's state now decides.
    let now = unit.active_state().await.ok();
    let state = now.as_deref().unwrap_or(state);
    Some(match state {
        "active" | "reloading" => UnitEvent::Active,
        "activating" => UnitEvent::Starting,
        "failed" => {
            if queued().await {
                UnitEvent::Starting
            } else {
                let service = bus::service(conn, path).await.ok()?;
                UnitEvent::Failed(service.result().await.unwrap_or_else(|_| "unknown".into()))
            }
        }
        _ if queued().await => UnitEvent::Starting,
        _ => UnitEvent::Stopped,
    })
}
