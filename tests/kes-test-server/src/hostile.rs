//! A hostile peer: a TLS server that answers each request as a test
//! scripts it — never, slowly, endlessly, with redirects, broken status
//! lines, wrong data keys or control characters — or that fails the TLS
//! handshake itself (an alert, an old protocol version, silence). kesgate
//! must end every case in bounded time with the right exit class.
//!
//! Plain threads and blocking sockets: each connection is its own thread,
//! so a peer that never answers costs nothing but that thread.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rustls::ServerConfig;

use crate::pki::ServerCert;

/// What happens at the TLS level.
#[derive(Clone, Copy, Debug)]
pub enum Handshake {
    /// A normal TLS 1.2/1.3 server; requests are answered by the script.
    Tls,
    /// Accepts TCP, reads, never says a word.
    Mute,
    /// Answers the ClientHello with a fatal alert (`40` handshake_failure:
    /// no common cipher suite; `70` protocol_version: an old server).
    Alert(u8),
    /// Answers with a TLS 1.1 ServerHello, as a server limited to it does.
    Tls11,
}

/// One answer to one request.
#[derive(Clone, Debug)]
pub enum Reply {
    /// Reads the request, never answers.
    Silent,
    /// These bytes, as they are (broken status lines, garbage).
    Raw(Vec<u8>),
    /// A response; `endless` streams the body without end.
    Http {
        status: u16,
        headers: Vec<(String, String)>,
        body: Vec<u8>,
        endless: bool,
    },
}

impl Reply {
    pub fn status(status: u16, content_type: &str, body: impl Into<Vec<u8>>) -> Reply {
        Reply::Http {
            status,
            headers: vec![("Content-Type".into(), content_type.into())],
            body: body.into(),
            endless: false,
        }
    }

    pub fn json(status: u16, body: &str) -> Reply {
        Reply::status(status, "application/json", body)
    }
}

/// (method, path) → reply.
pub type Script = Arc<dyn Fn(&str, &str) -> Reply + Send + Sync>;

pub struct Hostile {
    pub addr: SocketAddr,
    /// Requests seen, as "METHOD /path".
    pub requests: Arc<Mutex<Vec<String>>>,
    /// The most connections open at the same time.
    pub max_open: Arc<AtomicUsize>,
    open: Arc<AtomicUsize>,
}

impl Hostile {
    pub fn start(cert: &ServerCert, handshake: Handshake, script: Script) -> Hostile {
        Self::start_counted(cert, handshake, script, Arc::default(), Arc::default())
    }

    /// As `start`, with open connections counted in `open` and their most
    /// at once in `max_open`, shared with other peers.
    pub fn start_counted(
        cert: &ServerCert,
        handshake: Handshake,
        script: Script,
        open: Arc<AtomicUsize>,
        max_open: Arc<AtomicUsize>,
    ) -> Hostile {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let addr = listener.local_addr().expect("addr");
        let tls = Arc::new(
            ServerConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
                .with_safe_default_protocol_versions()
                .expect("versions")
                .with_no_client_auth()
                .with_single_cert(vec![cert.cert_der.clone()], cert.key_der.clone_key())
                .expect("server cert"),
        );
        let requests = Arc::new(Mutex::new(Vec::new()));
        let h = Hostile {
            addr,
            requests: requests.clone(),
            max_open: max_open.clone(),
            open: open.clone(),
        };
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let (tls, script, requests) = (tls.clone(), script.clone(), requests.clone());
                let (open, max_open) = (open.clone(), max_open.clone());
                std::thread::spawn(move || {
                    let now = open.fetch_add(1, Ordering::SeqCst) + 1;
                    max_open.fetch_max(now, Ordering::SeqCst);
                    let _ = serve(stream, handshake, &tls, &script, &requests);
                    open.fetch_sub(1, Ordering::SeqCst);
                });
            }
        });
        h
    }

    pub fn endpoint(&self) -> String {
        format!("https://localhost:{}", self.addr.port())
    }

    pub fn open_now(&self) -> usize {
        self.open.load(Ordering::SeqCst)
    }
}

fn serve(
    mut tcp: TcpStream,
    handshake: Handshake,
    tls: &Arc<ServerConfig>,
    script: &Script,
    requests: &Mutex<Vec<String>>,
) -> std::io::Result<()> {
    // Bounded, so a test's threads end with the test's clients.
    tcp.set_read_timeout(Some(Duration::from_secs(120)))?;
    match handshake {
        Handshake::Mute => {
            let mut sink = [0u8; 4096];
            while tcp.read(&mut sink)? > 0 {}
            return Ok(());
        }
        Handshake::Alert(description) => {
            let mut hello = [0u8; 4096];
            let _ = tcp.read(&mut hello)?;
            // Record: alert (21), TLS 1.2, length 2: fatal (2), description.
            tcp.write_all(&[21, 3, 3, 0, 2, 2, description])?;
            return Ok(());
        }
        Handshake::Tls11 => {
            let mut hello = [0u8; 4096];
            let _ = tcp.read(&mut hello)?;
            tcp.write_all(&server_hello_tls11())?;
            let mut sink = [0u8; 4096];
            while tcp.read(&mut sink)? > 0 {}
            return Ok(());
        }
        Handshake::Tls => {}
    }
    let conn = rustls::ServerConnection::new(tls.clone()).map_err(std::io::Error::other)?;
    let mut s = rustls::StreamOwned::new(conn, tcp);
    // One request per connection: read its head (and any body it declares).
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        if s.read(&mut byte)? == 0 {
            return Ok(());
        }
        head.push(byte[0]);
    }
    let text = String::from_utf8_lossy(&head).into_owned();
    let mut first = text.lines().next().unwrap_or_default().split(' ');
    let (method, path) = (
        first.next().unwrap_or_default().to_owned(),
        first.next().unwrap_or_default().to_owned(),
    );
    let length: usize = text
        .lines()
        .find_map(|l| {
            l.to_ascii_lowercase()
                .strip_prefix("content-length:")
                .map(|v| v.trim().parse().unwrap_or(0))
        })
        .unwrap_or(0);
    let mut body = vec![0u8; length];
    s.read_exact(&mut body)?;
    requests.lock().unwrap().push(format!("{method} {path}"));
    match script(&method, &path) {
        Reply::Silent => {
            let mut sink = [0u8; 4096];
            while s.read(&mut sink)? > 0 {}
        }
        Reply::Raw(bytes) => {
            s.write_all(&bytes)?;
            s.flush()?;
        }
        Reply::Http {
            status,
            headers,
            body,
            endless,
        } => {
            let mut out = format!("HTTP/1.1 {status} Whatever\r\nConnection: close\r\n");
            for (k, v) in headers {
                out.push_str(&format!("{k}: {v}\r\n"));
            }
            if endless {
                out.push_str("Transfer-Encoding: chunked\r\n\r\n");
                s.write_all(out.as_bytes())?;
                let chunk = [b'x'; 65536];
                loop {
                    s.write_all(format!("{:x}\r\n", chunk.len()).as_bytes())?;
                    s.write_all(&chunk)?;
                    s.write_all(b"\r\n")?;
                }
            }
            out.push_str(&format!("Content-Length: {}\r\n\r\n", body.len()));
            s.write_all(out.as_bytes())?;
            s.write_all(&body)?;
            s.flush()?;
        }
    }
    s.conn.send_close_notify();
    let _ = s.flush();
    Ok(())
}

/// A TLS 1.1 ServerHello (TLS_RSA_WITH_AES_128_CBC_SHA, no extensions).
fn server_hello_tls11() -> Vec<u8> {
    let mut body = vec![3, 2];
    body.extend([7u8; 32]); // random
    body.push(0); // session id
    body.extend([0x00, 0x2f]); // cipher suite
    body.push(0); // compression
    let mut hs = vec![2, 0, 0, body.len() as u8];
    hs.extend(body);
    let mut record = vec![22, 3, 2, 0, hs.len() as u8];
    record.extend(hs);
    record
}
