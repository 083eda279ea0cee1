//! The KES policy that grants what MinIO and kesgate need, as YAML for the
//! `policy:` section of KES's server configuration.

/// Routes MinIO (start-up, keep-alive, SSE) and kesgate (readiness, seeding) call.
pub(crate) const REQUIRED_PATHS: [&str; 6] = [
    "/v1/ready",
    "/v1/status",
    "/v1/key/create/*",
    "/v1/key/describe/*",
    "/v1/key/generate/*",
    "/v1/key/decrypt/*",
];

pub(crate) fn policy_yaml(name: &str, identity: &str) -> String {
    let mut out = format!("policy:\n  {name}:\n    allow:\n");
    for path in REQUIRED_PATHS {
        out.push_str(&format!("    - {path}\n"));
    }
    out.push_str(&format!("    identities:\n    - {identity}\n"));
    out
}
