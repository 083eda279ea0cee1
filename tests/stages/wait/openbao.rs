//! The "sealed" story with a real Vault: the test KES keeps its keys in a
//! real OpenBao. KES connects to its key store at start-up (a KES started
//! while its Vault is sealed exits, tests/stages/wait/vault.rs), so it starts unsealed;
//! then `kesgate wait` sees the seal and the unseal.

#[path = "../../common/mod.rs"]
mod common;

use common::*;
use kes_test_server::OpenBao;

#[test]
fn real_openbao_sealed_unsealed_sealed() {
    let f = Fixture::new();
    let bao = OpenBao::start_sealed(f.dir.path());
    assert_eq!(bao.health(), 503, "a fresh, initialised OpenBao is sealed");
    bao.unseal();
    bao.mount_kv("kes");
    for generation in [Generation::V2024, Generation::V2023_05] {
        let kes = Server::start(Config {
            backend: Backend::openbao(&bao.addr, &bao.root_token, "kes"),
            ..f.kes_config(generation)
        });
        assert!(
            kes.state.exited.is_none(),
            "KES started with its Vault unsealed"
        );
        bao.seal();
        let notify = NotifySocket::new();
        let child = notify.spawn(&f.config(
            &[kes.endpoint()],
            "timeout = \"0\"\nmax_interval = \"200ms\"",
        ));
        let seen = notify.until("key store unreachable (sealed?)");
        assert!(!seen.iter().any(|m| m.contains("READY=1")), "{seen:?}");
        bao.unseal();
        // 2024+ sees the store back at its next key-store ping.
        kes.ping_now();
        notify.until("READY=1");
        let out = child.wait_with_output().unwrap();
        assert_eq!(out.status.code(), Some(0), "{}", text(&out));

        bao.seal();
        let out = run(
            &f.config(
                &[kes.endpoint()],
                "timeout = \"1s\"\nmax_interval = \"200ms\"",
            ),
            &["wait"],
        );
        assert_eq!(out.status.code(), Some(69), "{}", text(&out));
        assert!(
            text(&out).contains("key store unreachable (sealed?)"),
            "{}",
            text(&out)
        );
        bao.unseal();
    }
}
