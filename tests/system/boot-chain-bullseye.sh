#!/usr/bin/env bash
# The boot chain once more under Debian 11 (systemd 247, glibc 2.31), with
# the same .deb as under bookworm: dpkg -i, sealed → unsealed at boot, the
# MinIO stand-in gets the KES variables, seeding runs. The test binaries
# copied into that container (KES test server, MinIO stand-in) are built
# for glibc 2.28 symbols too, as the packaged kesgate is.
set -euo pipefail
repo=$(cd "$(dirname "$0")/../.." && pwd)
triple=$(rustc -vV | sed -n 's/^host: //p')
(cd "$repo" && cargo zigbuild --locked --quiet -p kes-test-server --bins --target "$triple.2.28")
KESGATE_SUITE=bullseye TEST_BINS=$repo/target/$triple/debug BOOT_CHAIN_ONLY=1 \
    exec bash "$repo/tests/system/boot-chain.sh"
