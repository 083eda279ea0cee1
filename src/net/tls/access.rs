//! Whether MinIO's user can read a path. MinIO silently skips a CA path it
//! cannot read and then fails TLS, so kesgate judges every path component
//! with the permission bits as the kernel would for that user (POSIX ACLs
//! are not consulted).

use std::os::unix::fs::MetadataExt as _;
use std::path::{Path, PathBuf};

/// The user a MinIO process runs as.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Who {
    pub name: String,
    pub uid: u32,
    /// Primary and supplementary groups.
    pub gids: Vec<u32>,
    /// Root, or CAP_DAC_OVERRIDE / CAP_DAC_READ_SEARCH (upstream's unit
    /// grants MinIO CAP_DAC_OVERRIDE): permission bits do not apply.
    pub reads_anything: bool,
}

/// Who reads the CA files: MinIO's user when known.
#[derive(Clone, Debug, Default)]
pub struct Reader(pub Option<Who>);

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Access {
    File,
    Directory,
}

impl Reader {
    /// `Ok` when the user can read `path` (and list it, for a directory);
    /// else what stops it and the command that fixes it.
    pub fn check(&self, path: &Path, access: Access) -> Result<(), String> {
        let Some(who) = &self.0 else {
            return Ok(());
        };
        if who.reads_anything {
            return Ok(());
        }
        let full = std::fs::canonicalize(path).map_err(|e| format!("{}: {e}", path.display()))?;
        let mut dirs: Vec<PathBuf> = full.ancestors().skip(1).map(Path::to_owned).collect();
        dirs.reverse();
        for dir in &dirs {
            need(who, dir, 0o1, "search (x)")?;
        }
        match access {
            Access::File => need(who, &full, 0o4, "read (r)"),
            Access::Directory => {
                need(who, &full, 0o4, "read (r)")?;
                need(who, &full, 0o1, "search (x)")
            }
        }
    }
}

/// `bit` is the "other" bit (4 = r, 1 = x); the class is chosen as the
/// kernel does: owner, else group, else other.
fn need(who: &Who, path: &Path, bit: u32, what: &str) -> Result<(), String> {
    let meta = std::fs::metadata(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let mode = meta.mode() & 0o7777;
    let (shift, class) = if meta.uid() == who.uid {
        (6, "its owner")
    } else if who.gids.contains(&meta.gid()) {
        (3, "its group")
    } else {
        (0, "others")
    };
    if mode & (bit << shift) != 0 {
        return Ok(());
    }
    let owner = user_name(meta.uid());
    let group = group_name(meta.gid());
    let letter = if bit == 4 { "r" } else { "x" };
    let fix = match class {
        "its owner" => format!("chmod u+{letter} {}", path.display()),
        "its group" => format!("chmod g+{letter} {}", path.display()),
        _ => format!(
            "chmod o+{letter} {p} (CA certificates are public), or chgrp {} {p} && chmod g+{letter} {p}",
            group_name(*who.gids.first().unwrap_or(&meta.gid())),
            p = path.display()
        ),
    };
    Err(format!(
        "{} (mode {mode:04o}, {owner}:{group}) denies {what} to {} (uid {}), which MinIO runs as; MinIO would silently ignore the CA and fail TLS\n  fix: {fix}",
        path.display(),
        who.name,
        who.uid
    ))
}

fn user_name(uid: u32) -> String {
    nix::unistd::User::from_uid(uid.into())
        .ok()
        .flatten()
        .map_or_else(|| uid.to_string(), |u| u.name)
}

fn group_name(gid: u32) -> String {
    nix::unistd::Group::from_gid(gid.into())
        .ok()
        .flatten()
        .map_or_else(|| gid.to_string(), |g| g.name)
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::PermissionsExt as _;

    use super::*;

    fn nobody() -> Who {
        Who {
            name: "nobody".into(),
            uid: 65534,
            gids: vec![65534],
            reads_anything: false,
        }
    }

    #[test]
    fn a_private_file_or_a_closed_directory_is_unreadable() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
        let file = dir.path().join("ca.pem");
        std::fs::write(&file, "x").unwrap();
        let reader = Reader(Some(nobody()));
        std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o600)).unwrap();
        let e = reader.check(&file, Access::File).unwrap_err();
        assert!(e.contains("denies read (r) to nobody"), "{e}");
        assert!(e.contains("chmod o+r"), "{e}");
        std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o644)).unwrap();
        reader.check(&file, Access::File).unwrap();
        std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o700)).unwrap();
        let e = reader.check(&file, Access::File).unwrap_err();
        assert!(e.contains("denies search (x)"), "{e}");
        assert!(
            e.contains(&format!("chmod o+x {}", dir.path().display())),
            "{e}"
        );
        // CAP_DAC_OVERRIDE (or root) reads through it all.
        let mut strong = nobody();
        strong.reads_anything = true;
        Reader(Some(strong)).check(&file, Access::File).unwrap();
        Reader(None).check(&file, Access::File).unwrap();
    }
}
