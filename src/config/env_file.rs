//! `[env_file]`: where MinIO's EnvironmentFile is and what else kesgate sets in it.

use std::path::PathBuf;

use super::raw::RawEnvFile;
use super::{ConfigError, Source};
use crate::files::envfile::valid_name;

pub(crate) const DEFAULT_PATH: &str = "/etc/default/minio";

#[derive(Debug, Clone)]
pub(crate) struct EnvFileSettings {
    pub path: PathBuf,
    /// Mode, owner and group for a file kesgate creates.
    pub mode: u32,
    pub uid: Option<u32>,
    pub gid: Option<u32>,
    /// `[env_file.set]`, in name order.
    pub set: Vec<(String, String)>,
}

pub(super) fn validate(ctx: &Source, raw: RawEnvFile) -> Result<EnvFileSettings, ConfigError> {
    let path = raw
        .path
        .map_or_else(|| PathBuf::from(DEFAULT_PATH), |p| ctx.resolve(p.get_ref()));
    let mode = match raw.mode {
        None => 0o600,
        Some(m) => u32::from_str_radix(m.get_ref().trim_start_matches("0o"), 8)
            .ok()
            .filter(|v| *v <= 0o777)
            .ok_or_else(|| {
                ctx.invalid(
                    m.span(),
                    &format!("mode `{}` is not an octal file mode", m.get_ref()),
                    "write it like \"0600\" or \"0640\"",
                )
            })?,
    };
    let uid = lookup(ctx, raw.owner, "user", |n| {
        nix::unistd::User::from_name(n)
            .ok()
            .flatten()
            .map(|u| u.uid.as_raw())
    })?;
    let gid = lookup(ctx, raw.group, "group", |n| {
        nix::unistd::Group::from_name(n)
            .ok()
            .flatten()
            .map(|g| g.gid.as_raw())
    })?;
    let mut set = Vec::new();
    for (name, value) in raw.set {
        if !valid_name(&name) {
            return Err(ctx.invalid(
                value.span(),
                &format!("`{name}` is not a variable name systemd accepts"),
                "use letters, digits and `_`, not starting with a digit",
            ));
        }
        if name.starts_with("MINIO_KMS_") {
            return Err(ctx.invalid(
                value.span(),
                &format!("`{name}` is a KMS variable: kesgate derives those from [kes]"),
                "remove it from [env_file.set]",
            ));
        }
        if value.get_ref().contains(['\n', '\0']) {
            return Err(ctx.invalid(
                value.span(),
                &format!("the value of `{name}` contains a newline or NUL, which an EnvironmentFile cannot carry"),
                "put the value on one line",
            ));
        }
        set.push((name, value.into_inner()));
    }
    Ok(EnvFileSettings {
        path,
        mode,
        uid,
        gid,
        set,
    })
}

/// Resolves an `owner` or `group` name to its numeric id on this host.
fn lookup(
    ctx: &Source,
    name: Option<toml::Spanned<String>>,
    what: &str,
    find: impl Fn(&str) -> Option<u32>,
) -> Result<Option<u32>, ConfigError> {
    let Some(name) = name else { return Ok(None) };
    find(name.get_ref()).map(Some).ok_or_else(|| {
        ctx.invalid(
            name.span(),
            &format!("no {what} `{}` on this host", name.get_ref()),
            &format!("create the {what} or name an existing one"),
        )
    })
}
