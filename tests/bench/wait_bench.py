#!/usr/bin/env python3
"""Benchmark of `kesgate wait` (release build) against the KES test server.

Measures, in one run:
  1. wall time of `kesgate wait` with KES up vs `curl` doing one mTLS
     GET /v1/ready, paired run by run (goal: median ratio <= 0.5), and the
     requests one `wait` sends (GET /v1/ready, then the fresh probe
     GET /v1/key/describe/<default key>-kesgate-absent-probe);
  2. detection delay from the key store turning ready to READY=1 on the
     sd_notify socket (goal: p99 <= max_interval + 50 ms);
  1c. one round of `kesgate watch` (what kesgate-watch.timer runs each
     minute): wall time and the requests it sends to KES;
  3. requests per second sent to KES during a sealed outage (goal <= 1.5/s
     with the default 1 s cap), peak RSS (goal <= 6 MiB), and the time from
     SIGTERM to exit (goal <= 100 ms);
  4. a fleet: 1,000 `kesgate wait` processes (one per host of a large
     deployment, `--waiters N` for another count) against four KES test
     servers, each its own process so that KES is not the bottleneck, all
     sealed: the load per host and per server while sealed, then p50/p99
     from the unseal to each wait's exit (ready).

Usage: python3 tests/bench/wait_bench.py [--quick] [--waiters N] [--fleet-only]
"""
import os
import queue
import random
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
QUICK = "--quick" in sys.argv
FLEET_ONLY = "--fleet-only" in sys.argv
WAITERS = int(sys.argv[sys.argv.index("--waiters") + 1]) if "--waiters" in sys.argv else 1000
FLEET_SERVERS = 4
FLEET_SEALED_S = 10
RUNS_WALL = 20 if QUICK else 40
RUNS_DETECT = 10 if QUICK else 50
OUTAGE_S = 10 if QUICK else 60


def pct(values, p):
    s = sorted(values)
    return s[min(len(s) - 1, int(round(p / 100 * (len(s) - 1))))]


def ms(x):
    return f"{x * 1000:.1f} ms"


def main():
    # Built apart, as packaged: in one workspace build the test server's
    # features would be unified into kesgate's dependencies.
    subprocess.run(["cargo", "build", "--release", "--bin", "kesgate", "--quiet"], cwd=REPO, check=True)
    subprocess.run(["cargo", "build", "--release", "-p", "kes-test-server", "--quiet"], cwd=REPO, check=True)
    kesgate = os.path.join(REPO, "target/release/kesgate")
    server_bin = os.path.join(REPO, "target/release/kes-test-server")
    tmp = tempfile.mkdtemp(prefix="kesgate-bench.")

    out = subprocess.run([kesgate, "identity", "new"], capture_output=True, text=True, check=True).stdout
    lines = out.splitlines()
    api_key, identity = lines[1], lines[-1]
    key_file = os.path.join(tmp, "kes-api-key")
    with open(os.open(key_file, os.O_WRONLY | os.O_CREAT, 0o600), "w") as f:
        f.write(api_key + "\n")
    # curl's client certificate (OpenSSL, Ed25519, self-signed, as KES allows).
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ed25519", "-nodes", "-days", "1",
                    "-subj", "/CN=curl", "-keyout", f"{tmp}/curl.key", "-out", f"{tmp}/curl.pem"],
                   check=True, capture_output=True)
    curl_id = subprocess.run([kesgate, "identity", "of", "--file", f"{tmp}/curl.pem"],
                             capture_output=True, text=True, check=True).stdout.splitlines()[-1]

    port = free_port()
    server = subprocess.Popen(
        # --ping-interval: KES 2024+ sees an unseal only at its next key-store
        # ping (10 s by default); the benchmark measures kesgate's detection.
        [server_bin, "--listen", f"127.0.0.1:{port}", "--tls-dir", f"{tmp}/tls", "--log-requests",
         "--ping-interval", "20ms",
         "--policy", f"minio={identity},{curl_id}:/v1/ready,/v1/status,/v1/key/create/*,/v1/key/describe/*,/v1/key/generate/*,/v1/key/decrypt/*"],
        stdout=subprocess.PIPE, text=True)
    events = queue.Queue()
    requests = [0]

    seen_paths = queue.Queue()

    def drain_paths():
        # The server's lines arrive through a pipe: collect until it has
        # been quiet for 100 ms.
        got = []
        while True:
            try:
                got.append(seen_paths.get(timeout=0.1))
            except queue.Empty:
                return got

    def read_server():
        for line in server.stdout:
            if line.startswith("request "):
                requests[0] += 1
                seen_paths.put(line.split()[-1])
            else:
                events.put(line.strip())

    threading.Thread(target=read_server, daemon=True).start()
    assert events.get(timeout=30).startswith("kes-test-server listening")
    endpoint = f"https://localhost:{port}"

    def config(extra):
        path = os.path.join(tmp, "kesgate.toml")
        with open(path, "w") as f:
            f.write(f'[kes]\nendpoints = ["{endpoint}"]\napi_key_file = "{key_file}"\n'
                    f'ca = "{tmp}/tls/ca.pem"\ndefault_key = "minio-default"\n'
                    f'[env_file]\npath = "{tmp}/minio.env"\n[wait]\n{extra}\n')
        return path

    if FLEET_ONLY:
        server.kill()
        print("\n| measure | result | goal |\n|---|---|---|")
        fleet(kesgate, server_bin, tmp, key_file, identity)
        return

    # 1. Wall time, alternating so both see the same machine state.
    cfg = config('timeout = "30s"')
    k_times, c_times, paths = [], [], []
    curl = ["curl", "-sf", "-o", "/dev/null", "--cacert", f"{tmp}/tls/ca.pem",
            "--cert", f"{tmp}/curl.pem", "--key", f"{tmp}/curl.key", f"{endpoint}/v1/ready"]
    for _ in range(RUNS_WALL):
        t = time.perf_counter()
        subprocess.run([kesgate, "--log", "terminal", "--config", cfg, "wait"], check=True, capture_output=True)
        k_times.append(time.perf_counter() - t)
        paths.append(drain_paths())
        t = time.perf_counter()
        subprocess.run(curl, check=True)
        c_times.append(time.perf_counter() - t)
        drain_paths()

    # 1b. `kesgate start` with the key present and the env file up to date:
    # wait + generate/decrypt round trip + render check (goal: <= 3 curls).
    subprocess.run([kesgate, "--log", "terminal", "--config", cfg, "start"], check=True, capture_output=True)
    s_times = []
    for _ in range(RUNS_WALL):
        t = time.perf_counter()
        subprocess.run([kesgate, "--log", "terminal", "--config", cfg, "start"], check=True, capture_output=True)
        s_times.append(time.perf_counter() - t)

    # 1c. One `kesgate watch` round (the timer's oneshot): metrics file and
    # memory in the bench's own directories.
    os.makedirs(f"{tmp}/textfile", exist_ok=True)
    cfg = config(f'timeout = "30s"\n[watch]\ntextfile = "{tmp}/textfile/kesgate.prom"')
    watch_env = {**os.environ, "STATE_DIRECTORY": f"{tmp}/state", "RUNTIME_DIRECTORY": f"{tmp}/run"}
    watch = [kesgate, "--log", "terminal", "--config", cfg, "watch"]
    subprocess.run(watch, check=True, capture_output=True, env=watch_env)
    drain_paths()
    w_times, w_paths = [], []
    for _ in range(RUNS_WALL):
        t = time.perf_counter()
        subprocess.run(watch, check=True, capture_output=True, env=watch_env)
        w_times.append(time.perf_counter() - t)
        w_paths.append(drain_paths())

    # 2. Detection delay: unseal at a random moment of the backoff, time READY=1.
    cfg = config('timeout = "0"\nmax_interval = "1s"')
    delays = []
    for _ in range(RUNS_DETECT):
        server.send_signal(10)  # SIGUSR1: seal
        assert events.get(timeout=10) == "sealed"
        sock_path = os.path.join(tmp, "notify")
        if os.path.exists(sock_path):
            os.unlink(sock_path)
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        sock.bind(sock_path)
        sock.settimeout(60)
        proc = subprocess.Popen([kesgate, "--log", "terminal", "--config", cfg, "wait"],
                                env={**os.environ, "NOTIFY_SOCKET": sock_path},
                                stderr=subprocess.DEVNULL)
        sock.recv(4096)  # first STATUS: it is waiting
        time.sleep(random.uniform(0.2, 3.0))
        server.send_signal(12)  # SIGUSR2: unseal
        t0 = time.perf_counter()
        assert events.get(timeout=10) == "unsealed"
        while b"READY=1" not in sock.recv(4096):
            pass
        delays.append(time.perf_counter() - t0)
        proc.wait()
        sock.close()

    # 3. A sealed outage with the default cap; then SIGTERM.
    server.send_signal(10)
    assert events.get(timeout=10) == "sealed"
    cfg = config('timeout = "0"')
    before = requests[0]
    proc = subprocess.Popen([kesgate, "--log", "terminal", "--config", cfg, "wait"], stderr=subprocess.DEVNULL)
    time.sleep(OUTAGE_S)
    sent = requests[0] - before
    # VmHWM: the peak RSS of kesgate itself (wait4's ru_maxrss would also
    # count the forked Python before exec).
    with open(f"/proc/{proc.pid}/status") as f:
        hwm_kib = next(int(l.split()[1]) for l in f if l.startswith("VmHWM:"))
    t = time.perf_counter()
    proc.send_signal(15)
    proc.wait()
    term_latency = time.perf_counter() - t
    server.kill()

    print(f"\n| measure ({'quick' if QUICK else 'full'} run) | result | goal |")
    print("|---|---|---|")
    print(f"| `kesgate wait`, KES up, median (p90) of {RUNS_WALL} | {ms(statistics.median(k_times))} ({ms(pct(k_times, 90))}) | <= curl |")
    print(f"| `curl` mTLS GET /v1/ready, median (p90) | {ms(statistics.median(c_times))} ({ms(pct(c_times, 90))}) | |")
    ratios = [k / c for k, c in zip(k_times, c_times)]
    print(f"| `wait` / `curl`, median (p90) of {RUNS_WALL} paired runs | {statistics.median(ratios):.2f} ({pct(ratios, 90):.2f}) | <= 0.5 |")
    sent_by_wait = statistics.mode(tuple(p) for p in paths)
    print(f"| requests one `wait` sends (KES ready) | {len(sent_by_wait)}: {', '.join(sent_by_wait)} | |")
    print(f"| `kesgate start` (ready + generate/decrypt round trip + render check), median (p90) | {ms(statistics.median(s_times))} ({ms(pct(s_times, 90))}) | <= 3 x curl = {ms(3 * statistics.median(c_times))} |")
    per_round = statistics.mode(tuple(p) for p in w_paths)
    print(f"| one `kesgate watch` round, median (p90) of {RUNS_WALL} | {ms(statistics.median(w_times))} ({ms(pct(w_times, 90))}) | once a minute |")
    print(f"| requests one watch round sends to KES (1 endpoint, 1 key) | {len(per_round)}: {', '.join(per_round)} | 6 + 1 per other key, per endpoint |")
    print(f"| detection delay p50 / p99 of {RUNS_DETECT} (max_interval 1 s) | {ms(pct(delays, 50))} / {ms(pct(delays, 99))} | p99 <= 1050 ms |")
    print(f"| requests to KES during a {OUTAGE_S} s sealed outage | {sent} = {sent / OUTAGE_S:.2f} req/s | <= 1.5 req/s |")
    print(f"| peak RSS | {hwm_kib / 1024:.1f} MiB | <= 6 MiB |")
    print(f"| SIGTERM to exit | {ms(term_latency)} | <= 100 ms |")
    fleet(kesgate, server_bin, tmp, key_file, identity)


def fleet(kesgate, server_bin, tmp, key_file, identity):
    """Section 4: WAITERS waits, FLEET_SERVERS sealed KES test servers."""
    paths = "/v1/ready,/v1/status,/v1/key/create/*,/v1/key/describe/*,/v1/key/generate/*,/v1/key/decrypt/*"
    servers, counts, configs = [], [], []
    for i in range(FLEET_SERVERS):
        port = free_port()
        # The same TLS directory: its CA (made by the first server) is reused.
        p = subprocess.Popen(
            [server_bin, "--listen", f"127.0.0.1:{port}", "--tls-dir", f"{tmp}/tls", "--log-requests",
             "--ping-interval", "20ms", "--sealed", "--policy", f"minio={identity}:{paths}"],
            stdout=subprocess.PIPE, text=True)
        count, up = [0], threading.Event()

        def read(p=p, count=count, up=up):
            for line in p.stdout:
                if line.startswith("request "):
                    count[0] += 1
                elif line.startswith("kes-test-server listening"):
                    up.set()

        threading.Thread(target=read, daemon=True).start()
        assert up.wait(30), "a KES test server did not start"
        servers.append(p)
        counts.append(count)
        path = os.path.join(tmp, f"fleet-{i}.toml")
        with open(path, "w") as f:
            f.write(f'[kes]\nendpoints = ["https://localhost:{port}"]\napi_key_file = "{key_file}"\n'
                    f'ca = "{tmp}/tls/ca.pem"\ndefault_key = "minio-default"\n'
                    f'[env_file]\npath = "{tmp}/minio.env"\n[wait]\ntimeout = "0"\n')
        configs.append(path)
    waiters = {}
    for i in range(WAITERS):
        p = subprocess.Popen([kesgate, "--log", "terminal", "--config", configs[i % FLEET_SERVERS], "wait"],
                             stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        waiters[p.pid] = p
    # Every wait is past its first attempts (its backoff at the cap), then
    # the sealed load is counted.
    time.sleep(5)
    before = sum(c[0] for c in counts)
    time.sleep(FLEET_SEALED_S)
    sealed = sum(c[0] for c in counts) - before
    alive = sum(1 for p in waiters.values() if p.poll() is None)
    assert alive == WAITERS, f"{WAITERS - alive} waits ended while KES was sealed"
    t0 = time.perf_counter()
    for s in servers:
        s.send_signal(12)  # SIGUSR2: unseal
    ready = []
    while len(ready) < WAITERS:
        pid, status = os.waitpid(-1, 0)
        if pid in waiters:
            ready.append(time.perf_counter() - t0)
            waiters[pid].returncode = os.waitstatus_to_exitcode(status)
    failed = [p.pid for p in waiters.values() if p.returncode != 0]
    for s in servers:
        s.kill()
        s.wait()
    assert not failed, f"{len(failed)} waits failed"
    per_host = sealed / WAITERS / FLEET_SEALED_S
    per_server = sealed / FLEET_SERVERS / FLEET_SEALED_S
    print(f"| {WAITERS} waits, {FLEET_SERVERS} sealed KES servers: load per host (per server) over {FLEET_SEALED_S} s | {per_host:.2f} req/s ({per_server:.0f} req/s) | <= 1.5 req/s per host |")
    print(f"| {WAITERS} waits: from the unseal to ready, p50 / p99 (max) | {ms(pct(ready, 50))} / {ms(pct(ready, 99))} ({ms(max(ready))}) | p99 <= 1050 ms (the 1 s cap + 50 ms) |")


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


if __name__ == "__main__":
    main()
