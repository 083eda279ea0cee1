//! Whether MinIO's user can read a path. MinIO silently skips a CA path it
//! cannot read and then fails TLS, so kesgate judges every path component
//! with the permission bits and POSIX access ACLs as the kernel would for
//! that user. What a unit's sandbox hides is not modelled here: `kesgate
//! preflight --as-minio` opens the files as MinIO, inside MinIO's unit.

use std::os::unix::fs::MetadataExt as _;
use std::path::{Path, PathBuf};

/// The user a MinIO process runs as.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Who {
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
pub(crate) struct Reader(pub Option<Who>);

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Access {
    File,
    Directory,
    /// A client key: MinIO's secret, never to be made public.
    Key,
}

impl Reader {
    /// `Ok` when the user can read `path` (and list it, for a directory);
    /// else what stops it and the command that fixes it.
    pub(crate) fn check(&self, path: &Path, access: Access) -> Result<(), String> {
        let Some(who) = &self.0 else {
            return Ok(());
        };
        if who.reads_anything {
            return Ok(());
        }
        let full = std::fs::canonicalize(path).map_err(|e| format!("{}: {e}", path.display()))?;
        let mut dirs: Vec<PathBuf> = full.ancestors().skip(1).map(Path::to_owned).collect();
        dirs.reverse();
        let key = access == Access::Key;
        for dir in &dirs {
            need(who, dir, 0o1, "search (x)", key)?;
        }
        match access {
            Access::File | Access::Key => need(who, &full, 0o4, "read (r)", key),
            Access::Directory => {
                need(who, &full, 0o4, "read (r)", false)?;
                need(who, &full, 0o1, "search (x)", false)
            }
        }
    }
}

/// `bit` is the "other" bit (4 = r, 1 = x); the class is chosen as the
/// kernel does: owner, else group, else other.
/// `key`: the path leads to a client key (its fixes never open it to
/// others).
fn need(who: &Who, path: &Path, bit: u32, what: &str, key: bool) -> Result<(), String> {
    let meta = std::fs::metadata(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let mode = meta.mode() & 0o7777;
    // An access ACL decides instead of the group and other bits, as the
    // kernel's posix_acl_permission does.
    if let Some(acl) = xattr::get(path, "system.posix_acl_access")
        .ok()
        .flatten()
        .and_then(|raw| Acl::parse(&raw))
        && acl.grants(who, meta.uid(), meta.gid(), bit)
    {
        return Ok(());
    }
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
    let minio_group = group_name(*who.gids.first().unwrap_or(&meta.gid()));
    let fix = match class {
        "its owner" => format!("chmod u+{letter} {}", path.display()),
        "its group" => format!("chmod g+{letter} {}", path.display()),
        // A key (or a directory on its way) is opened to MinIO's group,
        // never to everyone.
        _ if key && bit == 4 => format!(
            "chown {} {p}, or chgrp {minio_group} {p} && chmod 640 {p} (a key is never made readable by others)",
            who.name,
            p = path.display()
        ),
        _ if key => format!(
            "chgrp {minio_group} {p} && chmod g+{letter} {p}",
            p = path.display()
        ),
        _ => format!(
            "chmod o+{letter} {p} (CA certificates are public), or chgrp {minio_group} {p} && chmod g+{letter} {p}",
            p = path.display()
        ),
    };
    let consequence = if key {
        "MinIO could not read its client key and would fail to start"
    } else {
        "MinIO would silently ignore the CA and fail TLS"
    };
    Err(format!(
        "{} (mode {mode:04o}, {owner}:{group}) denies {what} to {} (uid {}), which MinIO runs as; {consequence}\n  fix: {fix}",
        path.display(),
        who.name,
        who.uid
    ))
}

/// A POSIX access ACL (the `system.posix_acl_access` attribute: version
/// 2, then entries of tag u16, permission u16, id u32, little-endian).
struct Acl(Vec<(u16, u16, u32)>);

const ACL_USER_OBJ: u16 = 0x01;
const ACL_USER: u16 = 0x02;
const ACL_GROUP_OBJ: u16 = 0x04;
const ACL_GROUP: u16 = 0x08;
const ACL_MASK: u16 = 0x10;
const ACL_OTHER: u16 = 0x20;

impl Acl {
    fn parse(raw: &[u8]) -> Option<Acl> {
        let (version, rest) = raw.split_at_checked(4)?;
        if u32::from_le_bytes(version.try_into().ok()?) != 2 || rest.len() % 8 != 0 {
            return None;
        }
        Some(Acl(rest
            .chunks_exact(8)
            .map(|e| {
                (
                    u16::from_le_bytes([e[0], e[1]]),
                    u16::from_le_bytes([e[2], e[3]]),
                    u32::from_le_bytes([e[4], e[5], e[6], e[7]]),
                )
            })
            .collect()))
    }

    /// The kernel's order: owner; a named user (masked); the owning group
    /// and named groups (masked; a match that grants nothing denies);
    /// other.
    fn grants(&self, who: &Who, owner: u32, group: u32, bit: u32) -> bool {
        let bit = bit as u16;
        let perm = |tag: u16| self.0.iter().find(|e| e.0 == tag).map(|e| e.1);
        let mask = perm(ACL_MASK).unwrap_or(0o7);
        if who.uid == owner {
            return perm(ACL_USER_OBJ).unwrap_or(0) & bit != 0;
        }
        if let Some(e) = self.0.iter().find(|e| e.0 == ACL_USER && e.2 == who.uid) {
            return e.1 & mask & bit != 0;
        }
        let mut group_matched = false;
        for e in &self.0 {
            let member = match e.0 {
                ACL_GROUP_OBJ => who.gids.contains(&group),
                ACL_GROUP => who.gids.contains(&e.2),
                _ => false,
            };
            if member {
                group_matched = true;
                if e.1 & mask & bit != 0 {
                    return true;
                }
            }
        }
        !group_matched && perm(ACL_OTHER).unwrap_or(0) & bit != 0
    }
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

    #[test]
    fn an_acl_grant_counts_as_the_kernel_counts_it() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
        let file = dir.path().join("ca.pem");
        std::fs::write(&file, "x").unwrap();
        std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o600)).unwrap();
        let reader = Reader(Some(nobody()));
        reader.check(&file, Access::File).unwrap_err();
        // setfacl -m u:nobody:r ca.pem: user::rw-, user:65534:r--, group::---, mask::r--, other::---
        let entry = |tag: u16, perm: u16, id: u32| {
            let mut e = tag.to_le_bytes().to_vec();
            e.extend(perm.to_le_bytes());
            e.extend(id.to_le_bytes());
            e
        };
        let acl = |mask: u16| {
            let mut raw = 2u32.to_le_bytes().to_vec();
            raw.extend(entry(ACL_USER_OBJ, 6, u32::MAX));
            raw.extend(entry(ACL_USER, 4, 65534));
            raw.extend(entry(ACL_GROUP_OBJ, 0, u32::MAX));
            raw.extend(entry(ACL_MASK, mask, u32::MAX));
            raw.extend(entry(ACL_OTHER, 0, u32::MAX));
            raw
        };
        // tmpfs (a test's temp dir) may not take ACLs: then the parser alone.
        if xattr::set(&file, "system.posix_acl_access", &acl(4)).is_ok() {
            reader.check(&file, Access::File).unwrap();
            xattr::set(&file, "system.posix_acl_access", &acl(0)).unwrap();
            reader.check(&file, Access::File).unwrap_err();
        }
        let grant = Acl::parse(&acl(4)).unwrap();
        assert!(grant.grants(&nobody(), 0, 0, 4));
        assert!(!Acl::parse(&acl(0)).unwrap().grants(&nobody(), 0, 0, 4));
        assert!(Acl::parse(b"\x01\0\0\0").is_none());
    }
}
