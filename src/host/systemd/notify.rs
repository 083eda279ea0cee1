//! sd_notify: STATUS= for `systemctl status`, READY=1, EXTEND_TIMEOUT_USEC=.
//! A no-op outside systemd (no NOTIFY_SOCKET).

use std::cell::RefCell;
use std::time::Duration;

use sd_notify::NotifyState;

pub(crate) struct Notifier {
    enabled: bool,
    /// Put before every STATUS=: in another unit's status (minio.service
    /// runs `kesgate preflight`) the text must say whose it is.
    prefix: &'static str,
    last_status: RefCell<String>,
}

impl Notifier {
    pub(crate) fn from_env() -> Notifier {
        Notifier {
            enabled: std::env::var_os("NOTIFY_SOCKET").is_some(),
            prefix: "",
            last_status: RefCell::default(),
        }
    }

    pub(crate) fn with_prefix(self, prefix: &'static str) -> Notifier {
        Notifier { prefix, ..self }
    }

    fn send(&self, states: &[NotifyState]) {
        if self.enabled
            && let Err(e) = sd_notify::notify(states)
        {
            tracing::debug!("sd_notify failed: {e}");
        }
    }

    /// STATUS= shown by `systemctl status`; repeated texts are not re-sent.
    pub(crate) fn status(&self, text: &str) {
        if *self.last_status.borrow() == text {
            return;
        }
        self.send(&[NotifyState::Status(&format!("{}{text}", self.prefix))]);
        *self.last_status.borrow_mut() = text.to_owned();
    }

    /// READY=1 with a final STATUS=. Only for the unit's own main process:
    /// from an ExecStartPre it would mark minio.service ready too early.
    pub(crate) fn ready(&self, status: &str) {
        self.send(&[
            NotifyState::Ready,
            NotifyState::Status(&format!("{}{status}", self.prefix)),
        ]);
        *self.last_status.borrow_mut() = status.to_owned();
    }

    /// Asks for at least `by` more before the start timeout fires.
    pub(crate) fn extend_timeout(&self, by: Duration) {
        let usec = u32::try_from(by.as_micros()).unwrap_or(u32::MAX);
        self.send(&[NotifyState::ExtendTimeoutUsec(usec)]);
    }
}
