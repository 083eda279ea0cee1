//! systemd's D-Bus API (org.freedesktop.systemd1), the few calls kesgate
//! needs: a unit's state for `kesgate status`, and a watch on a local
//! kes.service so the wait reacts when it starts or fails.
//!
//! `LoadUnit`, not `GetUnit`: GetUnit fails for units not in memory, and
//! inactive units are garbage-collected; LoadUnit always answers (a missing
//! unit has LoadState "not-found"). Properties are read fresh each time
//! (no cache): systemd coalesces PropertiesChanged and may skip states.

use std::time::Duration;

use zbus::OwnedObjectPath;
use zbus::proxy::CacheProperties;
use zbus::{Connection, proxy};

#[proxy(
    interface = "org.freedesktop.systemd1.Manager",
    default_service = "org.freedesktop.systemd1",
    default_path = "/org/freedesktop/systemd1"
)]
pub trait Manager {
    fn load_unit(&self, name: &str) -> zbus::Result<OwnedObjectPath>;
    /// Signals flow only while some client is subscribed.
    fn subscribe(&self) -> zbus::Result<()>;
    #[zbus(signal)]
    fn job_removed(
        &self,
        id: u32,
        job: OwnedObjectPath,
        unit: String,
        result: String,
    ) -> zbus::Result<()>;
}

#[proxy(
    interface = "org.freedesktop.systemd1.Unit",
    default_service = "org.freedesktop.systemd1"
)]
pub trait Unit {
    #[zbus(property)]
    fn load_state(&self) -> zbus::Result<String>;
    #[zbus(property)]
    fn active_state(&self) -> zbus::Result<String>;
    #[zbus(property)]
    fn sub_state(&self) -> zbus::Result<String>;
    /// µs since the epoch of the last state change.
    #[zbus(property)]
    fn state_change_timestamp(&self) -> zbus::Result<u64>;
    #[zbus(property)]
    fn drop_in_paths(&self) -> zbus::Result<Vec<String>>;
    /// The unit file itself.
    #[zbus(property)]
    fn fragment_path(&self) -> zbus::Result<String>;
    /// (id, path); id 0 when no job is queued.
    #[zbus(property)]
    fn job(&self) -> zbus::Result<(u32, OwnedObjectPath)>;
}

#[proxy(
    interface = "org.freedesktop.systemd1.Service",
    default_service = "org.freedesktop.systemd1"
)]
pub trait Service {
    #[zbus(property)]
    fn result(&self) -> zbus::Result<String>;
    #[zbus(property)]
    fn status_text(&self) -> zbus::Result<String>;
    #[zbus(property)]
    fn exec_main_status(&self) -> zbus::Result<i32>;
    #[zbus(property, name = "NRestarts")]
    fn n_restarts(&self) -> zbus::Result<u32>;
    /// `User=` ("" = root).
    #[zbus(property)]
    fn user(&self) -> zbus::Result<String>;
    #[zbus(property)]
    fn group(&self) -> zbus::Result<String>;
    #[zbus(property)]
    fn supplementary_groups(&self) -> zbus::Result<Vec<String>>;
    /// Capability bit mask (CAP_DAC_OVERRIDE = bit 1).
    #[zbus(property)]
    fn ambient_capabilities(&self) -> zbus::Result<u64>;
    /// `Environment=` assignments, drop-ins included.
    #[zbus(property)]
    fn environment(&self) -> zbus::Result<Vec<String>>;
    /// `EnvironmentFile=`s: (path, whether a missing file is ignored).
    #[zbus(property)]
    fn environment_files(&self) -> zbus::Result<Vec<(String, bool)>>;
    /// `UnsetEnvironment=`: `NAME` or `NAME=value` entries removed last.
    #[zbus(property)]
    fn unset_environment(&self) -> zbus::Result<Vec<String>>;
    /// `WorkingDirectory=` ("" = `/`; `~` = home; `-` prefix = optional).
    #[zbus(property)]
    fn working_directory(&self) -> zbus::Result<String>;
}

/// A bounded connect: `status` must answer even when D-Bus hangs.
pub(crate) async fn system_bus() -> Result<Connection, String> {
    match tokio::time::timeout(Duration::from_secs(2), Connection::system()).await {
        Ok(Ok(c)) => Ok(c),
        Ok(Err(e)) => Err(format!("no system bus: {e}")),
        Err(_) => Err("no system bus: connecting timed out".into()),
    }
}

/// One unit as `systemctl status` shows it.
#[derive(Debug, Clone, serde::Serialize)]
pub(crate) struct UnitState {
    pub name: String,
    pub load_state: String,
    pub active_state: String,
    pub sub_state: String,
    /// "success", "exit-code", … (services only)
    pub result: Option<String>,
    pub exit_status: Option<i32>,
    pub restarts: Option<u32>,
    /// µs since the epoch; 0 = never changed since boot.
    pub since_usec: u64,
    pub status_text: Option<String>,
    pub drop_ins: Vec<String>,
    /// The unit file itself ("" when none).
    #[serde(skip)]
    pub fragment: String,
    pub job_queued: bool,
}

impl UnitState {
    pub(crate) fn exists(&self) -> bool {
        self.load_state != "not-found"
    }
}

// Proxies that read every property fresh (no cache, no match rule).

pub(crate) async fn manager(conn: &Connection) -> zbus::Result<ManagerProxy<'static>> {
    ManagerProxy::builder(conn)
        .cache_properties(CacheProperties::No)
        .build()
        .await
}

pub(crate) async fn unit(
    conn: &Connection,
    path: OwnedObjectPath,
) -> zbus::Result<UnitProxy<'static>> {
    UnitProxy::builder(conn)
        .path(path)
        .cache_properties(CacheProperties::No)
        .build()
        .await
}

pub(crate) async fn service(
    conn: &Connection,
    path: OwnedObjectPath,
) -> zbus::Result<ServiceProxy<'static>> {
    ServiceProxy::builder(conn)
        .path(path)
        .cache_properties(CacheProperties::No)
        .build()
        .await
}

pub(crate) async fn unit_state(conn: &Connection, name: &str) -> zbus::Result<UnitState> {
    let path = manager(conn).await?.load_unit(name).await?;
    let unit = unit(conn, path.clone()).await?;
    let load_state = unit.load_state().await?;
    let service = service(conn, path).await?;
    let is_service = name.ends_with(".service") && load_state != "not-found";
    Ok(UnitState {
        name: name.to_owned(),
        active_state: unit.active_state().await?,
        sub_state: unit.sub_state().await?,
        since_usec: unit.state_change_timestamp().await.unwrap_or(0),
        drop_ins: unit.drop_in_paths().await.unwrap_or_default(),
        fragment: unit.fragment_path().await.unwrap_or_default(),
        job_queued: unit.job().await.map(|(id, _)| id != 0).unwrap_or(false),
        result: if is_service {
            service.result().await.ok()
        } else {
            None
        },
        exit_status: if is_service {
            service.exec_main_status().await.ok()
        } else {
            None
        },
        restarts: if is_service {
            service.n_restarts().await.ok()
        } else {
            None
        },
        status_text: if is_service {
            service.status_text().await.ok().filter(|s| !s.is_empty())
        } else {
            None
        },
        load_state,
    })
}
