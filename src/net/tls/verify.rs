//! Go's crypto/x509 `Certificate.Verify` as crypto/tls calls it for a server
//! (MinIO's KES client): the same rules, so that kesgate is ready exactly
//! when MinIO's TLS handshake would succeed. The parts that differ from
//! webpki, and why they matter here:
//! - a certificate that is itself in the pool is trusted as it stands
//!   (operators name KES's self-signed certificate, often `CA:TRUE` from
//!   `openssl req -x509`, as MINIO_KMS_KES_CAPATH);
//! - every certificate of a chain is checked for its validity period, the
//!   root included; parents must be CAs, with keyCertSign when they carry a
//!   key usage; path lengths and DNS/IP name constraints are enforced;
//! - the common name is never a host name; RSA keys from 1024 bits.

use std::net::IpAddr;

use super::cert::{Cert, Eku};
use super::signature;

/// Go gives up after this many signature checks while building chains.
const MAX_SIGNATURE_CHECKS: usize = 100;

#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum VerifyError {
    Parse(String),
    UnhandledCritical {
        subject: String,
        oid: String,
    },
    /// Outside its validity period: `now` is before `not_before`…
    NotYetValid {
        subject: String,
        now: i64,
        not_before: i64,
    },
    /// …or after `not_after`.
    Expired {
        subject: String,
        now: i64,
        not_after: i64,
    },
    Hostname {
        host: String,
        valid_for: String,
    },
    UnknownAuthority {
        hint: String,
    },
    IncompatibleUsage,
}

impl std::fmt::Display for VerifyError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let when = |t: i64| {
            time::OffsetDateTime::from_unix_timestamp(t)
                .ok()
                .and_then(|d| {
                    d.format(&time::format_description::well_known::Rfc3339)
                        .ok()
                })
                .unwrap_or_else(|| t.to_string())
        };
        match self {
            VerifyError::Parse(e) => write!(f, "cannot parse the certificate: {e}"),
            VerifyError::UnhandledCritical { subject, oid } => {
                write!(
                    f,
                    "certificate {subject} has an unhandled critical extension {oid}"
                )
            }
            VerifyError::NotYetValid {
                subject,
                now,
                not_before,
            } => write!(
                f,
                "certificate {subject} is not valid yet: current time {} is before {}",
                when(*now),
                when(*not_before)
            ),
            VerifyError::Expired {
                subject,
                now,
                not_after,
            } => write!(
                f,
                "certificate {subject} has expired: current time {} is after {}",
                when(*now),
                when(*not_after)
            ),
            VerifyError::Hostname { host, valid_for } => {
                write!(f, "certificate is valid for {valid_for}, not {host}")
            }
            VerifyError::UnknownAuthority { hint } => {
                write!(f, "certificate signed by unknown authority{hint}")
            }
            VerifyError::IncompatibleUsage => write!(
                f,
                "certificate specifies an incompatible key usage (no serverAuth in its extended key usage)"
            ),
        }
    }
}

/// The server name as crypto/tls passes it to Verify.
pub(crate) enum Host<'a> {
    Dns(&'a str),
    Ip(IpAddr),
}

/// Trusted certificates: the system roots plus MinIO's CA path.
pub(crate) trait Roots {
    fn contains(&self, der: &[u8]) -> bool;
    /// Certificates whose subject is `issuer`.
    fn by_subject(&self, issuer: &[u8]) -> Vec<&Cert>;
}

pub(crate) fn verify(
    leaf_der: &[u8],
    intermediates_der: &[&[u8]],
    roots: &dyn Roots,
    host: &Host,
    now: i64,
) -> Result<Vec<Cert>, VerifyError> {
    let leaf = Cert::parse(leaf_der).map_err(VerifyError::Parse)?;
    // Go parses every certificate the server sent, failing on any.
    let intermediates = intermediates_der
        .iter()
        .map(|d| Cert::parse(d))
        .collect::<Result<Vec<_>, _>>()
        .map_err(VerifyError::Parse)?;
    time_and_extensions(&leaf, now)?;
    verify_hostname(&leaf, host)?;
    let chains = if roots.contains(&leaf.der) {
        vec![vec![leaf.clone()]]
    } else {
        let mut search = Search {
            roots,
            intermediates: &intermediates,
            now,
            checks: 0,
            hint: None,
            time: None,
        };
        let chains = search.build(vec![leaf.clone()]);
        // A parent outside its validity period is what Go reports (and a
        // clock not yet set at boot heals; an unknown CA does not).
        if chains.is_empty()
            && let Some(e) = search.time
        {
            return Err(e);
        }
        if chains.is_empty() {
            let hint = search
                .hint
                .map(|h| format!(" (possibly because of \"{h}\")"))
                .unwrap_or_default();
            return Err(VerifyError::UnknownAuthority { hint });
        }
        chains
    };
    chains
        .into_iter()
        .find(|c| chain_allows_server_auth(c))
        .ok_or(VerifyError::IncompatibleUsage)
}

fn time_and_extensions(c: &Cert, now: i64) -> Result<(), VerifyError> {
    if let Some(oid) = &c.unhandled_critical {
        return Err(VerifyError::UnhandledCritical {
            subject: c.subject_text.clone(),
            oid: oid.clone(),
        });
    }
    if now < c.not_before {
        return Err(VerifyError::NotYetValid {
            subject: c.subject_text.clone(),
            now,
            not_before: c.not_before,
        });
    }
    if now > c.not_after {
        return Err(VerifyError::Expired {
            subject: c.subject_text.clone(),
            now,
            not_after: c.not_after,
        });
    }
    Ok(())
}

struct Search<'a> {
    roots: &'a dyn Roots,
    intermediates: &'a [Cert],
    now: i64,
    checks: usize,
    /// The first reason a candidate parent was refused (Go's hint).
    hint: Option<String>,
    /// The first parent refused for its validity period.
    time: Option<VerifyError>,
}

impl Search<'_> {
    /// Every chain from `chain` (leaf first) to a root, depth first.
    fn build(&mut self, chain: Vec<Cert>) -> Vec<Vec<Cert>> {
        let child = chain.last().expect("a chain has a leaf").clone();
        let mut found = Vec::new();
        let roots: Vec<Cert> = self
            .roots
            .by_subject(&child.issuer)
            .into_iter()
            .cloned()
            .collect();
        let intermediates: Vec<Cert> = self
            .intermediates
            .iter()
            .filter(|c| c.subject == child.issuer)
            .cloned()
            .collect();
        for (is_root, candidate) in roots
            .into_iter()
            .map(|c| (true, c))
            .chain(intermediates.into_iter().map(|c| (false, c)))
        {
            if chain.iter().any(|c| c.der == candidate.der) {
                continue;
            }
            self.checks += 1;
            if self.checks > MAX_SIGNATURE_CHECKS {
                return found;
            }
            if let Err(e) = check_signature_from(&child, &candidate) {
                self.hint.get_or_insert(e);
                continue;
            }
            if let Err(e) = time_and_extensions(&candidate, self.now) {
                if matches!(
                    e,
                    VerifyError::Expired { .. } | VerifyError::NotYetValid { .. }
                ) {
                    self.time.get_or_insert(e.clone());
                }
                self.hint.get_or_insert(e.to_string());
                continue;
            }
            if let Err(e) = self.valid_as_parent(&candidate, &chain, is_root) {
                self.hint.get_or_insert(e);
                continue;
            }
            let mut next = chain.clone();
            next.push(candidate);
            if is_root {
                found.push(next);
            } else {
                found.extend(self.build(next));
            }
        }
        found
    }

    /// The rest of Go's `isValid` for an intermediate or root below `chain`.
    fn valid_as_parent(&self, c: &Cert, chain: &[Cert], is_root: bool) -> Result<(), String> {
        if let Some(nc) = &c.name_constraints {
            check_name_constraints(nc, &chain[0])?;
        }
        if !is_root && !matches!(c.basic_constraints, Some((true, _))) {
            return Err(format!(
                "{} is not authorized to sign other certificates",
                c.subject_text
            ));
        }
        if let Some((_, Some(max))) = c.basic_constraints {
            let below = chain.len() - 1;
            if below > max as usize {
                return Err(format!(
                    "{} allows {max} intermediates below it, the chain has {below}",
                    c.subject_text
                ));
            }
        }
        Ok(())
    }
}

/// Go's `CheckSignatureFrom`: the parent must be allowed to sign.
fn check_signature_from(child: &Cert, parent: &Cert) -> Result<(), String> {
    let may_sign = match parent.basic_constraints {
        Some((is_ca, _)) => is_ca,
        // An X.509 v1 certificate (no extensions) may; a v3 one without
        // basic constraints may not (RFC 5280 4.2.1.9).
        None => parent.version < 3,
    };
    if !may_sign || parent.key_usage_cert_sign == Some(false) {
        return Err(format!(
            "{} is not allowed to sign certificates (basic constraints or key usage)",
            parent.subject_text
        ));
    }
    signature::verify(child.sig_alg, &parent.key, &child.tbs, &child.signature).map_err(|e| {
        format!(
            "x509: cannot verify the signature of {} by {}: {e} (algorithm {})",
            child.subject_text, parent.subject_text, child.sig_alg_oid
        )
    })
}

/// Every certificate that names extended key usages must allow serverAuth
/// (or any usage); one without the extension allows everything.
fn chain_allows_server_auth(chain: &[Cert]) -> bool {
    chain.iter().all(|c| {
        c.eku.is_empty()
            || c.eku
                .iter()
                .any(|u| *u == Eku::ServerAuth || *u == Eku::Any)
    })
}

/// Go's `VerifyHostname`: IP addresses against IP SANs only, names
/// against DNS SANs only (a wildcard is a whole leftmost label), never the
/// common name.
pub(crate) fn verify_hostname(c: &Cert, host: &Host) -> Result<(), VerifyError> {
    let ok = match host {
        Host::Ip(ip) => c.ip_addresses.iter().any(|a| same_ip(a, ip)),
        Host::Dns(name) => {
            let name = name.to_ascii_lowercase();
            c.dns_names.iter().any(|p| match_hostname(p, &name))
        }
    };
    if ok {
        return Ok(());
    }
    let mut names: Vec<String> = c.dns_names.clone();
    names.extend(c.ip_addresses.iter().map(ToString::to_string));
    Err(VerifyError::Hostname {
        host: match host {
            Host::Ip(ip) => ip.to_string(),
            Host::Dns(d) => (*d).to_owned(),
        },
        valid_for: if names.is_empty() {
            "no names (only a common name, which TLS clients ignore)".into()
        } else {
            names.join(", ")
        },
    })
}

fn same_ip(a: &IpAddr, b: &IpAddr) -> bool {
    let canon = |ip: &IpAddr| match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(*ip, IpAddr::V4),
        IpAddr::V4(_) => *ip,
    };
    canon(a) == canon(b)
}

fn match_hostname(pattern: &str, host: &str) -> bool {
    let pattern = pattern.to_ascii_lowercase();
    let (pattern, host) = (pattern.trim_end_matches('.'), host.trim_end_matches('.'));
    if pattern.is_empty() || host.is_empty() {
        return false;
    }
    let p: Vec<&str> = pattern.split('.').collect();
    let h: Vec<&str> = host.split('.').collect();
    if p.len() != h.len() {
        return false;
    }
    p.iter()
        .zip(&h)
        .enumerate()
        .all(|(i, (pl, hl))| (i == 0 && *pl == "*" && p.len() > 1 && !hl.is_empty()) || pl == hl)
}

/// DNS and IP name constraints of a CA, checked against the leaf's names.
fn check_name_constraints(nc: &super::cert::NameConstraints, leaf: &Cert) -> Result<(), String> {
    for name in &leaf.dns_names {
        let name = name.to_ascii_lowercase();
        if nc.excluded_dns.iter().any(|c| dns_within(&name, c)) {
            return Err(format!("DNS name {name} is excluded by a name constraint"));
        }
        if !nc.permitted_dns.is_empty() && !nc.permitted_dns.iter().any(|c| dns_within(&name, c)) {
            return Err(format!(
                "DNS name {name} is not permitted by any name constraint"
            ));
        }
    }
    for ip in &leaf.ip_addresses {
        let bytes = match ip {
            IpAddr::V4(v4) => v4.octets().to_vec(),
            IpAddr::V6(v6) => v6.octets().to_vec(),
        };
        let within = |(addr, mask): &(Vec<u8>, Vec<u8>)| {
            addr.len() == bytes.len()
                && bytes
                    .iter()
                    .zip(addr)
                    .zip(mask)
                    .all(|((b, a), m)| b & m == a & m)
        };
        if nc.excluded_ip.iter().any(within) {
            return Err(format!("IP address {ip} is excluded by a name constraint"));
        }
        if !nc.permitted_ip.is_empty() && !nc.permitted_ip.iter().any(within) {
            return Err(format!(
                "IP address {ip} is not permitted by any name constraint"
            ));
        }
    }
    Ok(())
}

/// Go's `matchDomainConstraint`: "" matches everything, ".example.com"
/// only proper subdomains, "example.com" itself and its subdomains.
fn dns_within(name: &str, constraint: &str) -> bool {
    let constraint = constraint.to_ascii_lowercase();
    if constraint.is_empty() {
        return true;
    }
    if let Some(suffix) = constraint.strip_prefix('.') {
        return name.len() > suffix.len() + 1 && name.ends_with(&format!(".{suffix}"));
    }
    name == constraint || name.ends_with(&format!(".{constraint}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn host_names_as_go_matches_them() {
        assert!(match_hostname("kes.example.net", "kes.example.net"));
        assert!(match_hostname("KES.example.net.", "kes.example.net"));
        assert!(match_hostname("*.example.net", "kes.example.net"));
        assert!(!match_hostname("*.example.net", "example.net"));
        assert!(!match_hostname("*.example.net", "a.kes.example.net"));
        assert!(!match_hostname("k*.example.net", "kes.example.net"));
        assert!(!match_hostname("*", "localhost"));
    }

    #[test]
    fn domain_constraints_as_go_matches_them() {
        assert!(dns_within("kes.example.net", "example.net"));
        assert!(dns_within("example.net", "example.net"));
        assert!(!dns_within("example.net", ".example.net"));
        assert!(dns_within("kes.example.net", ".example.net"));
        assert!(!dns_within("badexample.net", "example.net"));
        assert!(dns_within("anything", ""));
    }
}
