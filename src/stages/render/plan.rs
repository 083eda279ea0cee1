//! The plan: each file's new content, owner and mode, checked against
//! what MinIO and systemd will read before a byte is written.

use crate::config::{EnvFileSettings, KesSettings};
use crate::files::atomic::Mode;
use crate::files::envfile::{self, Dialect, EnvFileError};
use crate::files::regular;
use crate::host::minio_unit::MinioUnit;
use edit::Plan;

use super::*;

/// One file's part in a render: its new content and how it is written.
pub(super) struct Change {
    pub(super) file: File,
    pub(super) content: Vec<u8>,
    pub(super) mode: Mode,
    pub(super) write: bool,
}

/// The pure half of a render: what each file becomes and in which order
/// the writes go. Nothing is written.
pub(crate) struct Planned {
    pub(super) layout: Layout,
    pub(super) changes: Vec<Change>,
    /// Indices into `changes`, in write order; a file may come twice (an
    /// intermediate content first), see commit::order.
    pub(super) steps: Vec<(usize, Vec<u8>)>,
    pub(super) reports: Vec<Report>,
    /// For saying what MinIO sees after a partial write.
    pub(super) views: commit::Views,
}

/// Reads the files and works out the render. With `Action::Write` the
/// caller holds the write lock.
pub(super) fn plan(
    kes: &KesSettings,
    env: &EnvFileSettings,
    unit: &MinioUnit,
    options: Options<'_>,
) -> Result<Planned, RenderError> {
    let files = files(kes, env, unit, options.config)?;
    for (file, _) in &files.plans {
        file.refuse_other_kms()?;
    }
    let mut plans = Vec::new();
    for (file, desired) in &files.plans {
        plans.push(file.plan(desired)?);
    }
    readable_as_planned(&files, &plans)?;
    let mut reports = Vec::new();
    let mut changes = Vec::new();
    let Files {
        layout,
        plans: file_plans,
        base,
        working_directory,
    } = files;
    for ((file, _), plan) in file_plans.into_iter().zip(plans) {
        if options.action.writes() {
            writable_for_minio(&file, unit)?;
        }
        let (report, change) = change(file, plan, kes, env, unit, options);
        reports.push(report);
        changes.push(change);
    }
    let views = commit::Views::new(base, working_directory, &changes)?;
    let steps = commit::order(&changes, &views, kes, env, options.config)?;
    Ok(Planned {
        layout,
        changes,
        steps,
        reports,
        views,
    })
}

/// Never write what kesgate (and MinIO) would refuse to read: what they
/// read is MinIO's environment after the render, which must keep MinIO's
/// KMS rules; and every value kesgate sets reaches MinIO as configured,
/// whichever parser reads it (a file both read: both must agree).
pub(super) fn readable_as_planned(files: &Files, plans: &[Plan]) -> Result<(), RenderError> {
    let mut after = Env::new();
    for (i, ((file, _), plan)) in files.plans.iter().zip(plans).enumerate() {
        if plan.content.len() as u64 > regular::MAX_ENV_FILE {
            return Err(RenderError::Unwritable {
                path: file.path.clone(),
                name: "the rendered file".into(),
                why: "it would be larger than 4 MiB, more than kesgate reads back",
            });
        }
        let view =
            File::minio_view(&plan.content, file.dialect).map_err(|e| RenderError::Unwritable {
                path: file.path.clone(),
                name: "the rendered file".into(),
                why: match e {
                    EnvFileError::LineTooLong { .. } => {
                        "a line would be 64 KiB or longer, which MinIO cannot read"
                    }
                    _ => "its reader would refuse the result",
                },
            })?;
        at_its_place(&mut after, &files.base, i, view);
    }
    let problems = minio_rules::problems(&after);
    if let Some((last, _)) = files.plans.last()
        && !problems.is_empty()
    {
        return Err(RenderError::Invariant {
            path: last.path.clone(),
            problems: problems.join("; "),
        });
    }
    for ((file, desired), plan) in files.plans.iter().zip(plans) {
        if file.dialect != Dialect::Both {
            continue;
        }
        let sd = envfile::effective(
            &Dialect::Systemd
                .parse(&plan.content)
                .map_err(file.unreadable())?,
        );
        let mn = envfile::effective(
            &Dialect::Minio
                .parse(&plan.content)
                .map_err(file.unreadable())?,
        );
        for (name, value) in &desired.set {
            if sd.get(name) != Some(value) || mn.get(name) != Some(value) {
                return Err(RenderError::Unwritable {
                    path: file.path.clone(),
                    name: name.clone(),
                    why: "a line of the operator's makes systemd and MinIO read it differently",
                });
            }
        }
    }
    Ok(())
}

/// Before a write: MinIO's user can read the file, and nothing stands
/// where its previous content is kept.
pub(super) fn writable_for_minio(file: &File, unit: &MinioUnit) -> Result<(), RenderError> {
    if let Some(why) = minio_cannot_read(file, unit) {
        let user = unit
            .runs_as
            .as_ref()
            .map(|r| r.who.name.clone())
            .unwrap_or_default();
        return Err(RenderError::MinioCannotRead {
            path: file.path.clone(),
            why,
            fix: format!(
                "`chown {user} {}` (upstream: owned by MinIO's user, mode 0600)",
                file.place.path.display()
            ),
        });
    }
    prev_not_a_directory(file)
}

/// The mode a file holding the API key gets: readable by its owner alone
/// when only systemd reads it (PID 1 reads as root); a file MinIO reads
/// itself (MINIO_CONFIG_ENV_FILE) stays readable by MinIO — its owner
/// (upstream: minio-user 0600), or MinIO's group (root:minio-user 0640) —
/// and by nobody else. A file MinIO could read only through the "others"
/// bits keeps them: closing them would stop MinIO (render refuses to write
/// such a file for MinIO elsewhere; this only never makes it worse).
pub(super) fn private_mode(mode: Mode, dialect: Dialect, unit: &MinioUnit) -> u32 {
    let m = mode.mode;
    if dialect == Dialect::Systemd {
        return m & !0o077;
    }
    let Some(who) = unit.runs_as.as_ref().map(|r| &r.who) else {
        return m & !0o077;
    };
    let (uid, gid) = (mode.uid.unwrap_or(0), mode.gid.unwrap_or(0));
    if who.uid == uid || (who.reads_anything && who.uid == 0) {
        m & !0o077
    } else if who.gids.contains(&gid) {
        m & !0o037
    } else {
        m & !0o033
    }
}

/// One file's change and its report: the new content, the owner and mode
/// it is written with (a file that holds the API key never readable by
/// others), and whether it needs writing at all.
pub(super) fn change(
    file: File,
    plan: Plan,
    kes: &KesSettings,
    env: &EnvFileSettings,
    unit: &MinioUnit,
    options: Options<'_>,
) -> (Report, Change) {
    let holds_secret = has_secret(kes) && plan_holds(&plan.content, file.dialect, API_KEY);
    let mut mode = file.existing.unwrap_or(match (file.dialect, unit.owner()) {
        (Dialect::Minio, Some((uid, gid))) => Mode {
            mode: 0o600,
            uid: Some(uid),
            gid: Some(gid),
        },
        _ => Mode {
            mode: env.mode,
            uid: env.uid,
            gid: env.gid,
        },
    });
    let mut tightened = None;
    let private = private_mode(mode, file.dialect, unit);
    if holds_secret && private != mode.mode {
        tightened = Some((mode.mode, private));
        mode.mode = private;
    }
    let diff = options
        .diff
        .then(|| diff::masked(&file.path, &file.old, &plan.content, file.dialect));
    // A missing MINIO_CONFIG_ENV_FILE with nothing to write stays missing.
    let content_differs =
        !(plan.is_noop(&file.old) && (file.existing.is_some() || plan.content.is_empty()));
    let unchanged = !content_differs && tightened.is_none();
    let report = Report {
        path: file.path.clone(),
        changed: plan.changed,
        removed: plan.removed,
        written: !unchanged && options.action.writes(),
        differs: !unchanged,
        content_differs,
        tightened,
        diff,
    };
    let change = Change {
        file,
        content: plan.content,
        mode,
        write: !unchanged,
    };
    (report, change)
}

/// No directory where a file's `.kesgate-prev` goes.
pub(super) fn prev_not_a_directory(file: &File) -> Result<(), RenderError> {
    let prev = prev_name(&file.place.name);
    let is_dir = matches!(
        file.place.dir.kind_of(&prev),
        Ok(Some(regular::FileKind::Directory))
    );
    if is_dir {
        return Err(RenderError::Shape {
            path: file.place.dir.path.join(prev),
            problem: "is a directory".into(),
            fix: "move it away: kesgate keeps the previous content of the file there",
        });
    }
    Ok(())
}

pub(super) fn plan_holds(content: &[u8], dialect: Dialect, name: &str) -> bool {
    dialect
        .parse(content)
        .is_ok_and(|a| a.iter().any(|a| a.key == name))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::host::minio_unit::RunsAs;
    use crate::net::tls::access::Who;

    fn unit(uid: u32, gids: Vec<u32>) -> MinioUnit {
        let mut u = MinioUnit::unseen("minio.service", None);
        u.runs_as = Some(RunsAs {
            who: Who {
                name: "minio-user".into(),
                uid,
                gids,
                reads_anything: false,
            },
            home: "/".into(),
            from: "test".into(),
        });
        u
    }

    fn mode(mode: u32, uid: u32, gid: u32) -> Mode {
        Mode {
            mode,
            uid: Some(uid),
            gid: Some(gid),
        }
    }

    #[test]
    fn a_file_minio_reads_itself_stays_readable_by_minio_and_by_nobody_else() {
        let minio = unit(998, vec![998]);
        let cases = [
            // Only systemd reads it: root alone.
            (mode(0o644, 0, 0), Dialect::Systemd, 0o600),
            // MINIO_CONFIG_ENV_FILE, upstream's: minio-user 0600.
            (mode(0o644, 998, 998), Dialect::Minio, 0o600),
            // root:minio-user 0640 keeps MinIO's group.
            (mode(0o664, 0, 998), Dialect::Minio, 0o640),
            (mode(0o644, 0, 998), Dialect::Both, 0o640),
            // MinIO reads it only as "others": closing that would stop MinIO.
            (mode(0o644, 0, 0), Dialect::Minio, 0o644),
            (mode(0o666, 0, 0), Dialect::Minio, 0o644),
        ];
        for (m, dialect, want) in cases {
            assert_eq!(private_mode(m, dialect, &minio), want, "{m:?} {dialect:?}");
        }
    }
}
