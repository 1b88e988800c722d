//! An HTTPS server on 127.0.0.1 for TLS tests: a raw TCP listener with a
//! rustls server on top, serving one body for every path, with a
//! certificate from `fixtures/tls` (see `make.sh` there).

use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

/// A running HTTPS server; it stops when the test process ends.
pub struct TlsServer {
    pub base: String,
    connections: Arc<AtomicUsize>,
}

impl TlsServer {
    /// Serves `body` with the certificate `fixtures/tls/NAME.der`.
    pub fn start(name: &str, body: Vec<u8>) -> TlsServer {
        TlsServer::launch(name, body, None)
    }

    /// Answers every request with a 302 to `location`.
    pub fn redirecting(name: &str, location: &str) -> TlsServer {
        TlsServer::launch(name, Vec::new(), Some(location.to_string()))
    }

    fn launch(name: &str, body: Vec<u8>, location: Option<String>) -> TlsServer {
        let dir = super::fixtures().join("tls");
        let cert = std::fs::read(dir.join(format!("{name}.der"))).unwrap();
        let key = std::fs::read(dir.join(format!("{name}.key.der"))).unwrap();
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let config = rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_no_client_auth()
            .with_single_cert(
                vec![CertificateDer::from(cert)],
                PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key)),
            )
            .unwrap();
        let config = Arc::new(config);
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let base = format!("https://{}", listener.local_addr().unwrap());
        let connections = Arc::new(AtomicUsize::new(0));
        let counter = connections.clone();
        let body = Arc::new(body);
        std::thread::spawn(move || {
            for tcp in listener.incoming().flatten() {
                counter.fetch_add(1, Ordering::SeqCst);
                let (config, body, location) = (config.clone(), body.clone(), location.clone());
                std::thread::spawn(move || {
                    let conn = rustls::ServerConnection::new(config).unwrap();
                    let mut tls = rustls::StreamOwned::new(conn, tcp);
                    // The handshake happens on the first read; a client that
                    // rejects the certificate ends it there.
                    let mut reader = BufReader::new(&mut tls);
                    loop {
                        let mut line = String::new();
                        match reader.read_line(&mut line) {
                            Ok(0) | Err(_) => return,
                            Ok(_) if line == "\r\n" => break,
                            Ok(_) => {}
                        }
                    }
                    let status = match &location {
                        Some(to) => format!("302 Found\r\nLocation: {to}"),
                        None => "200 OK".to_string(),
                    };
                    let head = format!(
                        "HTTP/1.1 {status}\r\nContent-Length: {}\r\nContent-Type: application/octet-stream\r\nConnection: close\r\n\r\n",
                        body.len()
                    );
                    let _ = tls.write_all(head.as_bytes());
                    let _ = tls.write_all(&body);
                    let _ = tls.flush();
                    tls.conn.send_close_notify();
                    let _ = tls.flush();
                });
            }
        });
        TlsServer { base, connections }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// TCP connections accepted so far (one per attempt).
    pub fn connections(&self) -> usize {
        self.connections.load(Ordering::SeqCst)
    }
}
