//! Real `redis-server` processes for the tests that need Redis: one server on a free loopback
//! port (optionally persisting every write, so a restart keeps what was written), and a Redis
//! Cluster of three such servers. Every process is killed (and reaped) and its data directory
//! removed when dropped.
//!
//! Needs `redis-server` (and `redis-cli` for a cluster) on `PATH`: a test that starts one is
//! `#[ignore = "needs redis-server; ./scripts/test.sh runs it"]`, and run by hand without it,
//! it FAILS with that instruction; it never passes silently.
#![allow(dead_code)]

use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc;
use std::time::{Duration, Instant};

pub const SETUP_HINT: &str = "`redis-server` or `redis-cli` is not installed: run \
    scripts/test.sh, which installs them (apt-get install redis-server), or install them \
    yourself before `cargo test`";
/// How long `redis-server` may take to say it is ready, and a cluster to agree on its slots
/// (a hang guard: both take well under a second).
const STARTUP_TIMEOUT: Duration = Duration::from_secs(20);

/// A free loopback port (one another process grabs first makes the start fail, and is retried).
fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// A scratch directory of its own, removed when dropped.
struct DataDir(PathBuf);

impl DataDir {
    fn new() -> DataDir {
        static NEXT: AtomicUsize = AtomicUsize::new(0);
        let name = format!(
            "jwt-layer-redis-{}-{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        );
        let path = std::env::temp_dir().join(name);
        std::fs::create_dir_all(&path).unwrap();
        DataDir(path)
    }
}

impl Drop for DataDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A `redis-server` on `127.0.0.1`, killed (and reaped) when dropped.
pub struct Redis {
    pub port: u16,
    child: Option<Child>,
    /// The options it was started with beyond port and directory, for a restart.
    options: Vec<String>,
    dir: DataDir,
}

impl Redis {
    /// Starts a server on a free port, without persistence.
    pub fn start() -> Redis {
        Redis::start_with(&[])
    }

    /// Starts a server on a free port that writes every change to its append-only file before
    /// answering, so that [`Redis::restart`] finds everything written before a [`Redis::stop`].
    pub fn start_persistent() -> Redis {
        Redis::start_with(&["--appendonly", "yes", "--appendfsync", "always"])
    }

    /// Starts a server on a free port with more `options`.
    fn start_with(options: &[&str]) -> Redis {
        let options: Vec<String> = options.iter().map(|&option| option.to_owned()).collect();
        let mut last = String::new();
        for _ in 0..5 {
            let mut redis = Redis {
                port: free_port(),
                child: None,
                options: options.clone(),
                dir: DataDir::new(),
            };
            match redis.spawn() {
                Ok(()) => return redis,
                Err(err) => last = err,
            }
        }
        panic!("redis-server did not start: {last}");
    }

    /// Starts a server on `port` (a restart after [`Redis::stop`] of another instance).
    pub fn start_on(port: u16) -> Redis {
        let mut redis = Redis { port, child: None, options: Vec::new(), dir: DataDir::new() };
        redis.spawn().unwrap_or_else(|err| panic!("redis-server did not start: {err}"));
        redis
    }

    /// Starts this server again after [`Redis::stop`]: same port, options and directory.
    pub fn restart(&mut self) {
        assert!(self.child.is_none(), "stop it first");
        self.spawn().unwrap_or_else(|err| panic!("redis-server did not restart: {err}"));
    }

    /// Starts `redis-server` and waits for its log line saying it accepts connections (no
    /// polling: the line is read as it is written).
    fn spawn(&mut self) -> Result<(), String> {
        let port = self.port;
        let spawned = Command::new("redis-server")
            .args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
            .args(["--save", "", "--appendonly", "no", "--loglevel", "notice", "--logfile", ""])
            .arg("--dir")
            .arg(&self.dir.0)
            .args(&self.options)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn();
        let mut child = match spawned {
            Ok(child) => child,
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => panic!("{SETUP_HINT}"),
            Err(err) => panic!("cannot run redis-server: {err}"),
        };
        let stdout = child.stdout.take().unwrap();
        self.child = Some(child);
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            let mut lines = BufReader::new(stdout);
            let mut log = String::new();
            let mut line = String::new();
            while matches!(lines.read_line(&mut line), Ok(n) if n > 0) {
                log.push_str(&line);
                if line.contains("Ready to accept connections") {
                    let _ = tx.send(Ok(()));
                    // Keep draining, so the server never blocks on a full pipe.
                    let _ = std::io::copy(&mut lines, &mut std::io::sink());
                    return;
                }
                line.clear();
            }
            let _ = tx.send(Err(log));
        });
        match rx.recv_timeout(STARTUP_TIMEOUT) {
            Ok(Ok(())) => Ok(()),
            Ok(Err(log)) => {
                self.stop();
                Err(format!("exited on port {port} (taken?):\n{log}"))
            }
            Err(_) => {
                self.stop();
                Err(format!("not ready on port {port} within {STARTUP_TIMEOUT:?}"))
            }
        }
    }

    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}/", self.port)
    }

    /// Kills the server; its port stays reserved for a restart.
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// One command over a fresh connection (RESP), answering the reply's first line: `+PONG`,
    /// `:123`, `$-1`… Enough for PING and integer replies; the crate under test is not used.
    pub fn command(&self, args: &[&str]) -> std::io::Result<String> {
        let mut stream = TcpStream::connect(("127.0.0.1", self.port))?;
        stream.set_read_timeout(Some(Duration::from_secs(2)))?;
        let mut request = format!("*{}\r\n", args.len());
        for arg in args {
            request.push_str(&format!("${}\r\n{arg}\r\n", arg.len()));
        }
        stream.write_all(request.as_bytes())?;
        let mut line = String::new();
        BufReader::new(stream).read_line(&mut line)?;
        Ok(line.trim_end().to_owned())
    }

    /// Makes `key` reach its expiry now, as if its time had passed (Redis deletes a key whose
    /// expiry is in the past).
    pub fn expire_now(&self, key: &str) {
        assert_eq!(self.integer(&["PEXPIREAT", key, "1"]), 1, "{key} does not exist");
        assert_eq!(self.integer(&["EXISTS", key]), 0, "{key} outlived its expiry");
    }

    /// An integer reply (`PEXPIRETIME`, `EXISTS`, …).
    pub fn integer(&self, args: &[&str]) -> i64 {
        let reply = self.command(args).unwrap();
        reply
            .strip_prefix(':')
            .and_then(|n| n.parse().ok())
            .unwrap_or_else(|| panic!("{args:?} answered {reply:?}"))
    }

    /// `redis-cli` against this server; its output.
    fn cli(&self, args: &[&str]) -> String {
        cli(&[&["-p", &self.port.to_string()], args].concat())
    }
}

impl Drop for Redis {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Runs `redis-cli` (on `127.0.0.1`); its standard output, or a panic with what it said.
fn cli(args: &[&str]) -> String {
    let output = match Command::new("redis-cli").arg("-h").arg("127.0.0.1").args(args).output() {
        Ok(output) => output,
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => panic!("{SETUP_HINT}"),
        Err(err) => panic!("cannot run redis-cli: {err}"),
    };
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    assert!(
        output.status.success(),
        "redis-cli {args:?}: {stdout}{}",
        String::from_utf8_lossy(&output.stderr)
    );
    stdout
}

/// A Redis Cluster of three primaries (no replicas) on free loopback ports, each with its own
/// cluster bus port and directory (its `nodes.conf`, so a restart rejoins the same cluster).
pub struct RedisCluster {
    pub nodes: Vec<Redis>,
}

impl RedisCluster {
    pub fn start() -> RedisCluster {
        let nodes: Vec<Redis> = (0..3)
            .map(|_| {
                let bus = free_port().to_string();
                Redis::start_with(&[
                    "--cluster-enabled",
                    "yes",
                    "--cluster-config-file",
                    "nodes.conf",
                    "--cluster-port",
                    &bus,
                    // A stopped node is noticed quickly, so the outage test need not wait long.
                    "--cluster-node-timeout",
                    "2000",
                ])
            })
            .collect();
        let addresses: Vec<String> =
            nodes.iter().map(|node| format!("127.0.0.1:{}", node.port)).collect();
        let addresses: Vec<&str> = addresses.iter().map(String::as_str).collect();
        let create = [
            &["--cluster", "create"],
            &addresses[..],
            &["--cluster-replicas", "0", "--cluster-yes"],
        ]
        .concat();
        cli(&create);
        let cluster = RedisCluster { nodes };
        cluster.wait_until_ok();
        cluster
    }

    /// Every node's URL.
    pub fn urls(&self) -> Vec<String> {
        self.nodes.iter().map(Redis::url).collect()
    }

    /// Kills every node.
    pub fn stop(&mut self) {
        self.nodes.iter_mut().for_each(Redis::stop);
    }

    /// Restarts every node on its port, from its `nodes.conf`, and waits until the cluster is
    /// whole again.
    pub fn restart(&mut self) {
        self.nodes.iter_mut().for_each(Redis::restart);
        self.wait_until_ok();
    }

    /// One command through `redis-cli -c`, which follows the cluster's redirections to the
    /// node holding the key; its output, trimmed.
    pub fn command(&self, args: &[&str]) -> String {
        self.nodes[0].cli(&[&["-c"], args].concat()).trim().to_owned()
    }

    /// An integer reply (`PEXPIRETIME`, `EXISTS`, `CLUSTER KEYSLOT`, …).
    pub fn integer(&self, args: &[&str]) -> i64 {
        let reply = self.command(args);
        reply.parse().unwrap_or_else(|_| panic!("{args:?} answered {reply:?}"))
    }

    /// Polls (a readiness wait, bounded by the hang guard) until every node reports
    /// `cluster_state:ok` and sees the whole cluster.
    fn wait_until_ok(&self) {
        let deadline = Instant::now() + STARTUP_TIMEOUT;
        for node in &self.nodes {
            loop {
                let info = node.cli(&["CLUSTER", "INFO"]);
                if info.contains("cluster_state:ok") && info.contains("cluster_known_nodes:3") {
                    break;
                }
                assert!(Instant::now() < deadline, "cluster not ready: {info}");
                std::thread::sleep(Duration::from_millis(50));
            }
        }
    }
}
