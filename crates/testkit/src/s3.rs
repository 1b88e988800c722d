//! A real S3 server for the tests: moto's (`moto[server]` from PyPI), on
//! 127.0.0.1, one per test process, shared by the tests (each takes its
//! own bucket). Found as `$PIXMILL_MOTO`, else `moto_server` on `PATH`,
//! else installed once into `target/moto-venv` with Python's venv and pip.
//! It dies with the test process (`PR_SET_PDEATHSIG`).

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::OnceLock;

/// The running server.
pub struct Moto {
    port: u16,
}

static MOTO: OnceLock<Result<Moto, String>> = OnceLock::new();

/// The shared server, started on first use.
pub fn moto() -> &'static Moto {
    match MOTO.get_or_init(start_kept) {
        Ok(moto) => moto,
        Err(e) => panic!("cannot start the S3 test server (moto): {e}"),
    }
}

fn moto_server() -> Result<PathBuf, String> {
    if let Some(path) = std::env::var_os("PIXMILL_MOTO") {
        return Ok(PathBuf::from(path));
    }
    if let Some(paths) = std::env::var_os("PATH") {
        for dir in std::env::split_paths(&paths) {
            let candidate = dir.join("moto_server");
            if candidate.is_file() {
                return Ok(candidate);
            }
        }
    }
    let venv = PathBuf::from(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../target/moto-venv"
    ));
    let server = venv.join("bin/moto_server");
    if server.is_file() {
        return Ok(server);
    }
    let run = |cmd: &mut Command| -> Result<(), String> {
        let out = cmd.output().map_err(|e| format!("{cmd:?}: {e}"))?;
        match out.status.success() {
            true => Ok(()),
            false => Err(format!(
                "{cmd:?} failed: {}",
                String::from_utf8_lossy(&out.stderr)
            )),
        }
    };
    let staging = venv.with_extension(format!("tmp{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&staging);
    run(Command::new("python3").arg("-m").arg("venv").arg(&staging))?;
    run(Command::new(staging.join("bin/pip")).args(["install", "-q", "moto[server]>=5,<6"]))?;
    // Another test process may have won the race: either venv works.
    if std::fs::rename(&staging, &venv).is_err() {
        let _ = std::fs::remove_dir_all(&staging);
    }
    Ok(server)
}

/// Starts the server from a thread that lives as long as the process:
/// `PR_SET_PDEATHSIG` fires when the thread that forked the child ends,
/// and test threads end early.
fn start_kept() -> Result<Moto, String> {
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(start());
        loop {
            std::thread::park();
        }
    });
    rx.recv().map_err(|e| e.to_string())?
}

fn start() -> Result<Moto, String> {
    let server = moto_server()?;
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map_err(|e| e.to_string())?
        .port();
    let mut command = Command::new(&server);
    command
        .args(["-H", "127.0.0.1", "-p", &port.to_string()])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    #[cfg(target_os = "linux")]
    unsafe {
        use std::os::unix::process::CommandExt;
        command.pre_exec(|| {
            libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL);
            Ok(())
        });
    }
    let mut child = command
        .spawn()
        .map_err(|e| format!("{}: {e}", server.display()))?;
    // Ready when it says it runs (werkzeug's banner on stderr).
    let stderr = child.stderr.take().expect("piped stderr");
    let mut lines = BufReader::new(stderr).lines();
    let mut said = String::new();
    loop {
        match lines.next() {
            Some(Ok(line)) => {
                let ready = line.contains("Running on");
                said.push_str(&line);
                said.push('\n');
                if ready {
                    break;
                }
            }
            _ => return Err(format!("moto_server exited: {said}")),
        }
    }
    // Keep reading its log so it never blocks on a full pipe.
    std::thread::spawn(move || for _ in lines {});
    std::mem::forget(child);
    Ok(Moto { port })
}

impl Moto {
    /// `http://127.0.0.1:PORT`.
    pub fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// The environment a pixmill run needs to reach this server, as the
    /// AWS CLI would read it (and nothing from the user's own setup).
    pub fn env(&self) -> Vec<(&'static str, String)> {
        vec![
            ("AWS_ENDPOINT_URL", self.endpoint()),
            ("AWS_ACCESS_KEY_ID", "testing".into()),
            ("AWS_SECRET_ACCESS_KEY", "testing-secret-key".into()),
            ("AWS_REGION", "us-east-1".into()),
            ("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent".into()),
            ("AWS_CONFIG_FILE", "/nonexistent".into()),
        ]
    }

    /// A new, empty bucket with a name no other test uses.
    pub fn bucket(&self, hint: &str) -> String {
        static N: AtomicU32 = AtomicU32::new(0);
        let name = format!(
            "{}-{}-{}",
            hint.to_ascii_lowercase().replace('_', "-"),
            std::process::id(),
            N.fetch_add(1, Ordering::SeqCst)
        );
        let (status, body) = self.request("PUT", &format!("/{name}"), b"");
        assert_eq!(status, 200, "cannot make bucket {name}: {body}");
        name
    }

    /// A signed client for `bucket` (objects are private: moto answers
    /// unsigned reads 403).
    pub fn client(&self, bucket: &str) -> pixmill_objects::Bucket {
        let env: std::collections::HashMap<_, _> = self.env().into_iter().collect();
        let settings =
            pixmill_objects::config::resolve_with(&|k| env.get(k).cloned(), None).unwrap();
        pixmill_objects::Bucket::with(bucket, &settings).unwrap()
    }

    /// Stores `data` under `bucket/key`.
    pub fn put(&self, bucket: &str, key: &str, data: &[u8]) {
        self.client(bucket)
            .put(key, data.to_vec())
            .unwrap_or_else(|e| panic!("cannot put {bucket}/{key}: {e}"));
    }

    /// The object `bucket/key`, or `None`.
    pub fn get(&self, bucket: &str, key: &str) -> Option<Vec<u8>> {
        match self.client(bucket).get(key) {
            Ok(data) => Some(data),
            Err(e) if e.not_found => None,
            Err(e) => panic!("cannot get {bucket}/{key}: {e}"),
        }
    }

    /// Every key in `bucket`, sorted.
    pub fn keys(&self, bucket: &str) -> Vec<String> {
        let mut keys = Vec::new();
        let mut after = String::new();
        loop {
            let query = match after.is_empty() {
                true => "?list-type=2".to_string(),
                false => format!("?list-type=2&continuation-token={}", encode(&after)),
            };
            let (status, body) = self.request("GET", &format!("/{bucket}{query}"), b"");
            assert_eq!(status, 200, "cannot list {bucket}: {body}");
            keys.extend(tags(&body, "Key").into_iter().map(|k| unescape(&k)));
            match tags(&body, "NextContinuationToken").into_iter().next() {
                Some(token) => after = unescape(&token),
                None => break,
            }
        }
        keys.sort();
        keys
    }

    /// The multipart uploads open in `bucket` (their keys).
    pub fn open_uploads(&self, bucket: &str) -> Vec<String> {
        let (status, body) = self.request("GET", &format!("/{bucket}?uploads"), b"");
        assert_eq!(status, 200, "cannot list uploads of {bucket}: {body}");
        tags(&body, "Key")
            .into_iter()
            .map(|k| unescape(&k))
            .collect()
    }

    /// Starts a multipart upload to `bucket/key` and leaves it open; its id.
    pub fn start_upload(&self, bucket: &str, key: &str) -> String {
        let (status, body) = self.request("POST", &format!("/{bucket}/{key}?uploads"), b"");
        assert_eq!(status, 200, "cannot start an upload: {body}");
        tags(&body, "UploadId")
            .into_iter()
            .next()
            .expect("an upload id")
    }

    #[allow(dead_code)]
    fn request(&self, method: &str, target: &str, body: &[u8]) -> (u16, String) {
        let (status, bytes) = self.request_bytes(method, target, body);
        (status, String::from_utf8_lossy(&bytes).into_owned())
    }

    /// One unsigned request (moto does not check signatures).
    fn request_bytes(&self, method: &str, target: &str, body: &[u8]) -> (u16, Vec<u8>) {
        let mut stream = TcpStream::connect(("127.0.0.1", self.port)).expect("connect to moto");
        let head = format!(
            "{method} {target} HTTP/1.1\r\nHost: 127.0.0.1:{}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
            self.port,
            body.len()
        );
        stream.write_all(head.as_bytes()).unwrap();
        stream.write_all(body).unwrap();
        let mut answer = Vec::new();
        stream.read_to_end(&mut answer).unwrap();
        let split = answer
            .windows(4)
            .position(|w| w == b"\r\n\r\n")
            .expect("an HTTP answer");
        let head = String::from_utf8_lossy(&answer[..split]).into_owned();
        let status = head
            .split_whitespace()
            .nth(1)
            .and_then(|s| s.parse().ok())
            .unwrap_or(0);
        let mut body = answer[split + 4..].to_vec();
        if head
            .to_ascii_lowercase()
            .contains("transfer-encoding: chunked")
        {
            body = dechunk(&body);
        }
        (status, body)
    }
}

fn dechunk(mut data: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    while let Some(end) = data.windows(2).position(|w| w == b"\r\n") {
        let size =
            usize::from_str_radix(String::from_utf8_lossy(&data[..end]).trim(), 16).unwrap_or(0);
        if size == 0 {
            break;
        }
        out.extend_from_slice(&data[end + 2..end + 2 + size]);
        data = &data[end + 2 + size + 2..];
    }
    out
}

/// The texts of every `<tag>…</tag>` in `xml`.
fn tags(xml: &str, tag: &str) -> Vec<String> {
    let (open, close) = (format!("<{tag}>"), format!("</{tag}>"));
    let mut found = Vec::new();
    let mut rest = xml;
    while let Some(at) = rest.find(&open) {
        let after = &rest[at + open.len()..];
        let Some(end) = after.find(&close) else { break };
        found.push(after[..end].to_string());
        rest = &after[end..];
    }
    found
}

fn unescape(text: &str) -> String {
    text.replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&quot;", "\"")
        .replace("&apos;", "'")
        .replace("&amp;", "&")
}

fn encode(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// A fault-injecting proxy in front of moto: answers the first `slow_down`
/// PUTs `503 SlowDown` (as S3 does when throttling), and with `hold_parts`
/// keeps multipart part uploads waiting until [`Proxy::release`]. Only a
/// connection's first request is looked at: faults answer with
/// `Connection: close`, so a retry comes on a new connection.
pub struct Proxy {
    port: u16,
    state: std::sync::Arc<ProxyState>,
}

#[derive(Default)]
struct ProxyState {
    slow_down: AtomicU32,
    served_503: AtomicU32,
    hold_parts: std::sync::atomic::AtomicBool,
    held: std::sync::Mutex<u32>,
    changed: std::sync::Condvar,
}

impl Proxy {
    /// A proxy to `moto` on 127.0.0.1.
    pub fn start(moto: &Moto, slow_down: u32, hold_parts: bool) -> Proxy {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let state = std::sync::Arc::new(ProxyState::default());
        state.slow_down.store(slow_down, Ordering::SeqCst);
        state.hold_parts.store(hold_parts, Ordering::SeqCst);
        let (target, shared) = (moto.port, state.clone());
        std::thread::spawn(move || {
            for client in listener.incoming().flatten() {
                let state = shared.clone();
                std::thread::spawn(move || serve(client, target, &state));
            }
        });
        Proxy { port, state }
    }

    /// `http://127.0.0.1:PORT`.
    pub fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// How many `503 SlowDown` answers went out.
    pub fn served_503(&self) -> u32 {
        self.state.served_503.load(Ordering::SeqCst)
    }

    /// Blocks until `n` part uploads are held (panics after `limit`).
    pub fn wait_held(&self, n: u32, limit: std::time::Duration) {
        let held = self.state.held.lock().unwrap();
        let (held, timeout) = self
            .state
            .changed
            .wait_timeout_while(held, limit, |h| *h < n)
            .unwrap();
        assert!(!timeout.timed_out(), "only {} of {n} parts held", *held);
    }

    /// Lets held part uploads through, and holds no more.
    pub fn release(&self) {
        self.state.hold_parts.store(false, Ordering::SeqCst);
        self.state.changed.notify_all();
    }
}

fn serve(mut client: TcpStream, target: u16, state: &ProxyState) {
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        match client.read(&mut byte) {
            Ok(1) => head.push(byte[0]),
            _ => return,
        }
    }
    let line = String::from_utf8_lossy(&head)
        .lines()
        .next()
        .unwrap_or_default()
        .to_string();
    let put = line.starts_with("PUT ");
    if put
        && state
            .slow_down
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
            .is_ok()
    {
        state.served_503.fetch_add(1, Ordering::SeqCst);
        let body = "<?xml version=\"1.0\" encoding=\"UTF-8\"?><Error><Code>SlowDown</Code><Message>Please reduce your request rate.</Message></Error>";
        let answer = format!(
            "HTTP/1.1 503 Slow Down\r\nContent-Type: application/xml\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        );
        let _ = client.write_all(answer.as_bytes());
        return;
    }
    if put && line.contains("partNumber=") && state.hold_parts.load(Ordering::SeqCst) {
        let mut held = state.held.lock().unwrap();
        *held += 1;
        state.changed.notify_all();
        let _unused = state
            .changed
            .wait_while(held, |_| state.hold_parts.load(Ordering::SeqCst))
            .unwrap();
    }
    let Ok(mut upstream) = TcpStream::connect(("127.0.0.1", target)) else {
        return;
    };
    if upstream.write_all(&head).is_err() {
        return;
    }
    let (mut client_read, mut upstream_write) =
        (client.try_clone().unwrap(), upstream.try_clone().unwrap());
    let up = std::thread::spawn(move || {
        let _ = std::io::copy(&mut client_read, &mut upstream_write);
        let _ = upstream_write.shutdown(std::net::Shutdown::Write);
    });
    let _ = std::io::copy(&mut upstream, &mut client);
    let _ = client.shutdown(std::net::Shutdown::Write);
    let _ = up.join();
}
