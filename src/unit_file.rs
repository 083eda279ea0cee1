//! A systemd unit file as text: the `KEY=VALUE` assignments of its
//! [Service] sections, in order (keys and values trimmed; comments, other
//! sections and lines without `=` passed over). Read by whoever holds the
//! file's text; this module reads no file.

/// The [Service] assignments of one unit file's `text`.
pub(crate) fn service_assignments(text: &str) -> Vec<(String, String)> {
    let mut in_service = false;
    let mut found = Vec::new();
    for line in text.lines().map(str::trim) {
        if line.starts_with('[') {
            in_service = line == "[Service]";
        } else if in_service
            && !line.starts_with(['#', ';'])
            && let Some((k, v)) = line.split_once('=')
        {
            found.push((k.trim().to_owned(), v.trim().to_owned()));
        }
    }
    found
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_service_sections_assignments_count() {
        let text = "[Unit]\nAfter=x\n[Service]\n# A=1\nUser = minio-user\nLoadCredential=k:/p\n[Install]\nWantedBy=y\n[Service]\nX=\n";
        assert_eq!(
            service_assignments(text),
            [
                ("User".to_owned(), "minio-user".to_owned()),
                ("LoadCredential".to_owned(), "k:/p".to_owned()),
                ("X".to_owned(), String::new()),
            ]
        );
    }
}
