//! One test per fact of docs/facts.md, "KES releases": the
//! test server must answer as the release builds did, byte for byte where
//! the measurements gave bytes. When a fact and the server disagree, the server is
//! wrong.

use std::time::Duration;

use kes_test_server::client::{ClientCert, alpn, request};
use kes_test_server::{ClientAuth, Config, Generation, Policy, Server, TestCa};
use rcgen::ExtendedKeyUsagePurpose;

const ALL: [Generation; 3] = [
    Generation::V2023_02,
    Generation::V2023_05,
    Generation::V2024,
];

struct Kes {
    server: Server,
    ca: TestCa,
    me: ClientCert,
}

/// A server whose policy grants our identity everything; 2023 releases
/// with `--auth=off` unless `auth` says otherwise.
fn kes_with(generation: Generation, tweak: impl FnOnce(&mut Config)) -> Kes {
    let ca = TestCa::new("facts-ca");
    let me = ClientCert::api_key_like();
    let mut config = Config::new(generation, ca.server_cert(&["localhost"]));
    config.auth = ClientAuth::Off;
    config.policies = vec![Policy::new(
        "all",
        &["/v1/*", "/v1/key/*/*"],
        &[&me.identity],
    )];
    tweak(&mut config);
    Kes {
        server: Server::start(config),
        ca,
        me,
    }
}

fn kes(generation: Generation) -> Kes {
    kes_with(generation, |_| {})
}

impl Kes {
    fn call(&self, method: &str, path: &str, body: &str) -> kes_test_server::client::Answer {
        request(&self.server, &self.ca, Some(&self.me), method, path, body)
            .unwrap_or_else(|e| panic!("{method} {path}: {e}"))
    }

    fn status_json(&self) -> serde_json::Value {
        let a = self.call("GET", "/v1/status", "");
        assert_eq!(a.status, 200);
        serde_json::from_slice(&a.body).unwrap()
    }
}

#[test]
fn fact_2023_02_answers_ready_with_501_text_plain_for_every_identity() {
    let k = kes_with(Generation::V2023_02, |c| c.policies.clear());
    let a = k.call("GET", "/v1/ready", "");
    assert_eq!(a.status, 501);
    assert_eq!(a.content_type.as_deref(), Some("text/plain; charset=utf-8"));
    assert_eq!(a.body, b"not implemented\n");
}

#[test]
fn fact_healthy_status_has_no_key_store_fields_on_2023_02_and_omits_false_flags_after() {
    let v = kes(Generation::V2023_02).status_json();
    for f in [
        "keystore_latency",
        "keystore_unreachable",
        "keystore_unavailable",
    ] {
        assert!(v.get(f).is_none(), "2023-02 has no {f}: {v}");
    }
    for g in [Generation::V2023_05, Generation::V2024] {
        let v = kes(g).status_json();
        assert!(v["keystore_latency"].as_u64().unwrap() >= 1, "{v}");
        assert!(v.get("keystore_unreachable").is_none(), "{v}");
        assert!(v.get("keystore_unavailable").is_none(), "{v}");
    }
}

#[test]
fn fact_status_while_the_store_is_down_names_one_flag_per_generation() {
    let k = kes(Generation::V2023_05);
    k.server.set_sealed(true);
    assert_eq!(k.status_json()["keystore_unavailable"], true);
    let k = kes(Generation::V2024);
    k.server.set_sealed(true);
    let v = k.status_json();
    assert_eq!(v["keystore_unreachable"], true);
    assert!(v.get("keystore_unavailable").is_none(), "{v}");
}

#[test]
fn fact_version_is_the_release_name() {
    for (g, release) in [
        (Generation::V2023_02, "2023-02-15T14-54-37Z"),
        (Generation::V2023_05, "2023-05-02T22-48-10Z"),
        (Generation::V2024, "2025-03-12T09-35-18Z"),
    ] {
        let k = kes(g);
        assert_eq!(k.status_json()["version"], release);
        let v: serde_json::Value =
            serde_json::from_slice(&k.call("GET", "/version", "").body).unwrap();
        assert_eq!(v["version"], release);
    }
}

#[test]
fn fact_403_bodies_and_content_types() {
    for g in ALL {
        let k = kes_with(g, |c| c.policies.clear());
        let a = k.call("GET", "/v1/status", "");
        assert_eq!(a.status, 403);
        let (body, ct): (&[u8], _) = match g {
            Generation::V2024 => (
                b"{\"message\":\"not authorized: insufficient permissions\"\n}",
                "application/json",
            ),
            _ => (
                b"{\"message\":\"not authorized: insufficient permissions\"}",
                "application/json; charset=utf-8",
            ),
        };
        assert_eq!(a.body, body, "{g:?}: {}", a.text());
        assert_eq!(a.content_type.as_deref(), Some(ct), "{g:?}");
    }
}

#[test]
fn fact_key_exists_is_400_with_its_text() {
    for g in ALL {
        let k = kes(g);
        assert_eq!(k.call("POST", "/v1/key/create/k1", "").status, 200);
        let a = k.call("POST", "/v1/key/create/k1", "");
        assert_eq!(a.status, 400);
        let want: &[u8] = match g {
            Generation::V2024 => b"{\"message\":\"key already exists\"\n}",
            _ => b"{\"message\":\"key already exists\"}",
        };
        assert_eq!(a.body, want, "{g:?}");
    }
}

#[test]
fn fact_create_with_put_is_405_json_on_2023_and_accepted_on_2024() {
    for g in [Generation::V2023_02, Generation::V2023_05] {
        let a = kes(g).call("PUT", "/v1/key/create/k1", "");
        assert_eq!(a.status, 405, "{g:?}");
        assert_eq!(a.body, b"{\"message\":\"Method Not Allowed\"}");
        assert_eq!(
            a.content_type.as_deref(),
            Some("application/json; charset=utf-8")
        );
    }
    let k = kes(Generation::V2024);
    assert_eq!(k.call("PUT", "/v1/key/create/k1", "").status, 200);
    assert_eq!(k.call("POST", "/v1/key/create/k2", "").status, 200);
}

#[test]
fn fact_uncached_keys_fail_with_502_while_sealed_cached_ones_still_generate() {
    for g in ALL {
        let k = kes(g);
        assert_eq!(k.call("POST", "/v1/key/create/cached", "").status, 200);
        assert_eq!(k.call("POST", "/v1/key/create/uncached", "").status, 200);
        // Read once: now in KES's cache.
        assert_eq!(k.call("POST", "/v1/key/generate/cached", "{}").status, 200);
        k.server.set_sealed(true);
        let create = k.call("POST", "/v1/key/create/new", "");
        let generate = k.call("POST", "/v1/key/generate/uncached", "{}");
        assert_eq!((create.status, generate.status), (502, 502), "{g:?}");
        if g == Generation::V2024 {
            assert_eq!(create.body, b"{\"message\":\"failed to create key\"\n}");
            assert_eq!(generate.body, b"{\"message\":\"failed to read key\"\n}");
        }
        assert_eq!(
            k.call("POST", "/v1/key/generate/cached", "{}").status,
            200,
            "{g:?}"
        );
    }
}

#[test]
fn fact_ready_bodies_while_sealed() {
    let k = kes(Generation::V2023_05);
    k.server.set_sealed(true);
    let a = k.call("GET", "/v1/ready", "");
    assert_eq!(a.status, 504);
    assert_eq!(
        a.body,
        b"{\"message\":\"kv: not reachable: vault: key store is sealed\"}"
    );
    let k = kes(Generation::V2024);
    k.server.set_sealed(true);
    let a = k.call("GET", "/v1/ready", "");
    assert_eq!(a.status, 504);
    assert_eq!(a.body, b"{\"message\":\"key store is not reachable\"\n}");
}

#[test]
fn fact_2024_reports_a_store_down_as_502_unavailable() {
    let k = kes(Generation::V2024);
    k.server.set_unavailable(true);
    let a = k.call("GET", "/v1/ready", "");
    assert_eq!(a.status, 502);
    assert_eq!(a.body, b"{\"message\":\"key store is unavailable\"\n}");
}

#[test]
fn fact_after_an_unseal_uncached_key_operations_fail_until_the_next_health_check() {
    assert_eq!(
        Config::new(
            Generation::V2023_05,
            TestCa::new("x").server_cert(&["localhost"])
        )
        .ping_interval,
        Duration::from_secs(10),
        "KES's default `status: ping`"
    );
    for g in ALL {
        let k = kes_with(g, |c| c.ping_interval = Duration::from_secs(3600));
        k.server.set_sealed(true);
        k.server.set_sealed(false);
        if g == Generation::V2023_05 {
            // 2023-05 asks the store for /v1/ready: 200 at once.
            assert_eq!(k.call("GET", "/v1/ready", "").status, 200);
        }
        assert_eq!(k.call("POST", "/v1/key/create/k1", "").status, 502, "{g:?}");
        assert_eq!(
            k.call("POST", "/v1/key/generate/k1", "{}").status,
            502,
            "{g:?}"
        );
        assert_eq!(
            k.call("GET", "/v1/key/describe/absent", "").status,
            502,
            "{g:?}"
        );
        k.server.ping_now();
        assert_eq!(
            k.call("GET", "/v1/key/describe/absent", "").status,
            404,
            "{g:?}"
        );
        assert_eq!(k.call("POST", "/v1/key/create/k1", "").status, 200, "{g:?}");
    }
}

#[test]
fn fact_a_cached_key_answers_while_sealed_and_polling_keeps_it_until_the_any_expiry() {
    assert_eq!(
        Config::new(
            Generation::V2023_02,
            TestCa::new("x").server_cert(&["localhost"])
        )
        .cache_expiry,
        (Duration::from_secs(300), Duration::from_secs(30)),
        "2023-02's defaults: 5 min after load, 30 s unused"
    );
    for g in ALL {
        let k = kes(g);
        assert_eq!(k.call("POST", "/v1/key/create/default", "").status, 200);
        assert_eq!(k.call("GET", "/v1/key/describe/default", "").status, 200);
        k.server.set_sealed(true);
        // A client polling every 20 s keeps the entry "used"…
        for _ in 0..14 {
            k.server.advance_clock(Duration::from_secs(20));
            assert_eq!(
                k.call("GET", "/v1/key/describe/default", "").status,
                200,
                "{g:?}: cached while sealed"
            );
        }
        // …until 5 min after it was loaded.
        k.server.advance_clock(Duration::from_secs(20));
        assert_eq!(
            k.call("GET", "/v1/key/describe/default", "").status,
            502,
            "{g:?}"
        );
        // Unused for 30 s: gone as well.
        let k = kes(g);
        assert_eq!(k.call("POST", "/v1/key/create/default", "").status, 200);
        assert_eq!(k.call("GET", "/v1/key/describe/default", "").status, 200);
        k.server.set_sealed(true);
        k.server.advance_clock(Duration::from_secs(31));
        assert_eq!(
            k.call("GET", "/v1/key/describe/default", "").status,
            502,
            "{g:?}"
        );
    }
}

#[test]
fn fact_describe_of_an_absent_key_is_404_fresh_and_502_sealed_never_cached() {
    for g in ALL {
        let k = kes(g);
        assert_eq!(k.call("POST", "/v1/key/create/default", "").status, 200);
        assert_eq!(k.call("GET", "/v1/key/describe/default", "").status, 200);
        for _ in 0..3 {
            let a = k.call("GET", "/v1/key/describe/absent", "");
            assert_eq!(a.status, 404, "{g:?}");
            assert!(String::from_utf8_lossy(&a.body).contains("key does not exist"));
        }
        k.server.set_sealed(true);
        let a = k.call("GET", "/v1/key/describe/absent", "");
        assert_eq!(a.status, 502, "{g:?}");
        let want: &[u8] = match g {
            Generation::V2024 => b"{\"message\":\"failed to read key\"\n}",
            _ => b"{\"message\":\"bad gateway: failed to access key\"}",
        };
        assert_eq!(a.body, want, "{g:?}");
        // The cached default key still answers: it proves nothing.
        assert_eq!(k.call("GET", "/v1/key/describe/default", "").status, 200);
        let a = k.call("POST", "/v1/key/create/other", "");
        assert_eq!(a.status, 502, "{g:?}");
        if g != Generation::V2024 {
            assert_eq!(
                a.body,
                b"{\"message\":\"bad gateway: failed to create key\"}"
            );
        }
    }
}

#[test]
fn fact_2023_describe_200_is_sent_as_text_plain() {
    for g in ALL {
        let k = kes(g);
        assert_eq!(k.call("POST", "/v1/key/create/default", "").status, 200);
        let a = k.call("GET", "/v1/key/describe/default", "");
        let want = match g {
            Generation::V2024 => "application/json",
            _ => "text/plain; charset=utf-8",
        };
        assert_eq!(a.content_type.as_deref(), Some(want), "{g:?}");
        let v: serde_json::Value = serde_json::from_slice(&a.body).unwrap();
        assert_eq!(v["name"], "default");
    }
}

#[test]
fn fact_skip_auth_ready_answers_any_identity_and_none() {
    for g in [Generation::V2023_05, Generation::V2024] {
        // The policy names nobody we use.
        let k = kes_with(g, |c| {
            c.policies = vec![Policy::new("other", &["/v1/*"], &[&"0".repeat(64)])];
            c.skip_auth = vec!["/v1/ready".into()];
        });
        assert_eq!(k.call("GET", "/v1/ready", "").status, 200, "{g:?}");
        let none = request(&k.server, &k.ca, None, "GET", "/v1/ready", "").unwrap();
        assert_eq!(none.status, 200, "{g:?}: no certificate at all");
        // Every other route still wants an identity the policy names.
        assert_eq!(k.call("GET", "/v1/key/describe/x", "").status, 403, "{g:?}");
        let none = request(&k.server, &k.ca, None, "GET", "/v1/status", "").unwrap();
        assert_eq!(none.status, 400, "{g:?}");
    }
    // 2023-02 has no /v1/ready; the setting changes nothing.
    let k = kes_with(Generation::V2023_02, |c| {
        c.skip_auth = vec!["/v1/ready".into()]
    });
    assert_eq!(k.call("GET", "/v1/ready", "").status, 501);
}

#[test]
fn fact_2024_ready_stays_504_after_an_unseal_until_the_next_ping() {
    assert_eq!(
        Config::new(
            Generation::V2024,
            TestCa::new("x").server_cert(&["localhost"])
        )
        .ping_interval,
        Duration::from_secs(10)
    );
    let k = kes_with(Generation::V2024, |c| {
        c.ping_interval = Duration::from_secs(3600)
    });
    k.server.set_sealed(true);
    assert_eq!(
        k.call("GET", "/v1/ready", "").status,
        504,
        "a seal is seen at once"
    );
    k.server.set_sealed(false);
    assert_eq!(
        k.call("GET", "/v1/ready", "").status,
        504,
        "not before the ping"
    );
    assert_eq!(k.status_json()["keystore_unreachable"], true);
    k.server.ping_now();
    assert_eq!(k.call("GET", "/v1/ready", "").status, 200);
    // 2023-05 asks the store each time.
    let k = kes_with(Generation::V2023_05, |c| {
        c.ping_interval = Duration::from_secs(3600)
    });
    k.server.set_sealed(true);
    assert_eq!(k.call("GET", "/v1/ready", "").status, 504);
    k.server.set_sealed(false);
    assert_eq!(k.call("GET", "/v1/ready", "").status, 200);
}

#[test]
fn fact_2023_releases_refuse_self_signed_client_certificates_with_unknown_ca() {
    for g in [Generation::V2023_02, Generation::V2023_05] {
        let k = kes_with(g, |c| c.auth = ClientAuth::ReleaseDefault);
        let e = request(&k.server, &k.ca, Some(&k.me), "GET", "/version", "").unwrap_err();
        assert!(
            e.contains("UnknownCA") || e.contains("unknown_ca") || e.contains("UnknownCa"),
            "{g:?}: {e}"
        );
        // `--auth=off`: accepted.
        let k = kes(g);
        assert_eq!(k.call("GET", "/version", "").status, 200);
    }
    let k = kes_with(Generation::V2024, |c| c.auth = ClientAuth::ReleaseDefault);
    assert_eq!(
        k.call("GET", "/version", "").status,
        200,
        "2024+ takes any certificate"
    );
}

#[test]
fn fact_no_client_certificate_is_refused_in_the_handshake() {
    for g in ALL {
        let k = kes(g);
        let e = request(&k.server, &k.ca, None, "GET", "/version", "").unwrap_err();
        assert!(e.contains("CertificateRequired"), "{g:?}: {e}");
    }
}

#[test]
fn fact_the_client_certificate_extended_key_usage_is_not_checked() {
    for g in ALL {
        let k = kes(g);
        let server_auth_only = ClientCert::self_signed(vec![ExtendedKeyUsagePurpose::ServerAuth]);
        let a = request(
            &k.server,
            &k.ca,
            Some(&server_auth_only),
            "GET",
            "/version",
            "",
        )
        .unwrap();
        assert_eq!(a.status, 200, "{g:?}");
    }
}

#[test]
fn fact_2024_offers_h2_and_http1_2023_only_http1() {
    let k = kes(Generation::V2024);
    assert_eq!(alpn(&k.server, &k.ca, &k.me), Some(b"h2".to_vec()));
    for g in [Generation::V2023_02, Generation::V2023_05] {
        let k = kes(g);
        assert_eq!(
            alpn(&k.server, &k.ca, &k.me),
            Some(b"http/1.1".to_vec()),
            "{g:?}"
        );
    }
}

#[test]
fn fact_2023_error_bodies_are_not_escaped() {
    let k = kes(Generation::V2023_05);
    k.server.set_unavailable(true);
    let a = k.call("GET", "/v1/ready", "");
    assert_eq!(a.status, 502);
    let text = a.text();
    assert!(
        text.starts_with("{\"message\":\"") && text.contains("Get \"http://"),
        "{text}"
    );
    assert!(
        serde_json::from_slice::<serde_json::Value>(&a.body).is_err(),
        "invalid JSON, as 2023 builds it"
    );
}
