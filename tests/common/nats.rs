//! A real NATS cluster for tests: `nats-server` processes with JetStream
//! and cluster routes on free loopback ports, each with its own store
//! directory, config file and server name, started, killed (SIGKILL) and
//! restarted by the test, all killed when the cluster is dropped.
//!
//! Readiness is polled on each server's monitoring port (`/healthz` and
//! `/jsz`'s meta leader) with a deadline; there are no fixed sleeps.
//! Without `nats-server` installed, [`NatsCluster::start`] returns `None`
//! (the test prints why and passes), except under CI (`CI` set), where a
//! missing server is a failure: `.ci/run` installs it.
#![allow(dead_code)]

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

/// How long a cluster (or one restarted server) may take to be ready.
pub const READY_DEADLINE: Duration = Duration::from_secs(30);

/// One `nats-server` of the cluster.
struct Server {
    name: String,
    client_port: u16,
    http_port: u16,
    config: PathBuf,
    log: PathBuf,
    child: Option<Child>,
}

/// Three (or any number of) `nats-server`s clustered on loopback.
pub struct NatsCluster {
    binary: PathBuf,
    dir: PathBuf,
    servers: Vec<Server>,
}

/// Where `nats-server` is: Debian puts it in /usr/sbin, which is not on
/// every user's PATH.
fn find_binary() -> Option<PathBuf> {
    let sbin = PathBuf::from("/usr/sbin/nats-server");
    if sbin.is_file() {
        return Some(sbin);
    }
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|dir| dir.join("nats-server"))
        .find(|candidate| candidate.is_file())
}

/// A loopback port nothing listens on (as far as the OS knows right now).
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .expect("a free loopback port")
        .port()
}

impl NatsCluster {
    /// Starts `size` servers and waits until JetStream is ready on all of
    /// them (a meta leader elected and known to each). `None`, after
    /// printing why, if `nats-server` is not installed.
    pub fn start(size: usize) -> Option<NatsCluster> {
        let Some(binary) = find_binary() else {
            if std::env::var_os("CI").is_some() {
                panic!("nats-server is missing: .ci/run installs it (apt-get install nats-server)");
            }
            eprintln!(
                "skipping: nats-server is not installed (apt-get install nats-server; \
                 .ci/run installs it)"
            );
            return None;
        };
        static COUNTER: AtomicUsize = AtomicUsize::new(0);
        let dir = std::env::temp_dir().join(format!(
            "natter-nats-{}-{}",
            std::process::id(),
            COUNTER.fetch_add(1, Ordering::Relaxed)
        ));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("temp dir is writable");

        // Hold every port until all are chosen, so no two are the same.
        let listeners: Vec<TcpListener> = (0..size * 3)
            .map(|_| TcpListener::bind("127.0.0.1:0").expect("a free loopback port"))
            .collect();
        let ports: Vec<u16> = listeners
            .iter()
            .map(|l| l.local_addr().expect("bound").port())
            .collect();
        drop(listeners);
        let route_ports: Vec<u16> = (0..size).map(|i| ports[i * 3 + 1]).collect();
        let routes = route_ports
            .iter()
            .map(|port| format!("nats-route://127.0.0.1:{port}"))
            .collect::<Vec<_>>()
            .join(", ");

        let servers = (0..size)
            .map(|i| {
                let name = format!("n{i}");
                let (client_port, route_port, http_port) =
                    (ports[i * 3], ports[i * 3 + 1], ports[i * 3 + 2]);
                let store = dir.join(format!("{name}-store"));
                let cluster = if size > 1 {
                    format!(
                        "cluster {{\n  name: natter-test\n  listen: 127.0.0.1:{route_port}\n  \
                         routes: [ {routes} ]\n}}\n"
                    )
                } else {
                    String::new()
                };
                let text = format!(
                    "server_name: {name}\nlisten: 127.0.0.1:{client_port}\n\
                     http: 127.0.0.1:{http_port}\n\
                     jetstream {{\n  store_dir: {store:?}\n}}\n{cluster}"
                );
                let config = dir.join(format!("{name}.conf"));
                std::fs::write(&config, text).expect("config file is writable");
                Server {
                    log: dir.join(format!("{name}.log")),
                    name,
                    client_port,
                    http_port,
                    config,
                    child: None,
                }
            })
            .collect();
        let mut cluster = NatsCluster {
            binary,
            dir,
            servers,
        };
        for i in 0..size {
            cluster.spawn(i);
        }
        cluster.wait_ready();
        Some(cluster)
    }

    fn spawn(&mut self, i: usize) {
        let server = &mut self.servers[i];
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&server.log)
            .expect("log file is writable");
        let child = Command::new(&self.binary)
            .arg("-c")
            .arg(&server.config)
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("log file handle"))
            .stderr(log)
            .spawn()
            .expect("nats-server starts");
        server.child = Some(child);
    }

    /// `nats://127.0.0.1:PORT` of every server, in order.
    pub fn urls(&self) -> Vec<String> {
        (0..self.servers.len()).map(|i| self.url(i)).collect()
    }

    /// The client URL of server `i`.
    pub fn url(&self, i: usize) -> String {
        format!("nats://127.0.0.1:{}", self.servers[i].client_port)
    }

    /// SIGKILLs server `i` (no goodbye to its clients or peers).
    pub fn kill(&mut self, i: usize) {
        if let Some(mut child) = self.servers[i].child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Starts server `i` again (same ports, store and name) without
    /// waiting: for bringing back several, then [`NatsCluster::wait_ready`]
    /// (one alone has no JetStream quorum).
    pub fn start_again(&mut self, i: usize) {
        self.kill(i);
        self.spawn(i);
    }

    /// Starts server `i` again (same ports, store and name) and waits
    /// until it is back in the cluster with JetStream ready.
    pub fn restart(&mut self, i: usize) {
        self.kill(i);
        self.spawn(i);
        self.wait_ready();
    }

    /// Waits until every running server answers `/healthz` and reports
    /// the same JetStream meta leader; panics (with the servers' logs)
    /// after [`READY_DEADLINE`].
    pub fn wait_ready(&self) {
        let deadline = Instant::now() + READY_DEADLINE;
        loop {
            let last = match self.readiness() {
                Ok(()) => return,
                Err(why) => why,
            };
            if Instant::now() >= deadline {
                panic!(
                    "the NATS cluster was not ready after {READY_DEADLINE:?}: {last}\n{}",
                    self.logs()
                );
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    fn readiness(&self) -> Result<(), String> {
        let running: Vec<&Server> = self.servers.iter().filter(|s| s.child.is_some()).collect();
        let mut leaders = Vec::new();
        for server in &running {
            let (status, _) = http_get(server.http_port, "/healthz")
                .map_err(|err| format!("{}: /healthz: {err}", server.name))?;
            if status != 200 {
                return Err(format!("{}: /healthz answered {status}", server.name));
            }
            if self.servers.len() == 1 {
                continue;
            }
            let (_, body) = http_get(server.http_port, "/jsz")
                .map_err(|err| format!("{}: /jsz: {err}", server.name))?;
            let jsz: serde_json::Value = serde_json::from_str(&body)
                .map_err(|err| format!("{}: /jsz is not JSON: {err}", server.name))?;
            let leader = jsz["meta_cluster"]["leader"].as_str().unwrap_or_default();
            if leader.is_empty() {
                return Err(format!("{}: no JetStream meta leader yet", server.name));
            }
            leaders.push(leader.to_string());
        }
        leaders.dedup();
        if leaders.len() > 1 {
            return Err(format!("servers disagree on the meta leader: {leaders:?}"));
        }
        Ok(())
    }

    /// Every server's log, for a failure message.
    pub fn logs(&self) -> String {
        self.servers
            .iter()
            .map(|s| {
                let text = std::fs::read_to_string(&s.log).unwrap_or_default();
                let tail: Vec<&str> = text.lines().rev().take(40).collect();
                let tail: Vec<&str> = tail.into_iter().rev().collect();
                format!(
                    "--- {} ({}) ---\n{}",
                    s.name,
                    s.log.display(),
                    tail.join("\n")
                )
            })
            .collect::<Vec<_>>()
            .join("\n")
    }

    /// The directory holding the configs, logs and stores.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Runs `work` with a JetStream context on NATS server `i`, on a tokio
    /// runtime of its own (the tests are not async).
    pub fn with_jetstream<F, T>(
        &self,
        i: usize,
        work: impl FnOnce(async_nats::jetstream::Context) -> F,
    ) -> T
    where
        F: std::future::Future<Output = T>,
    {
        let url = self.url(i);
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("a tokio runtime")
            .block_on(async move {
                let client = async_nats::connect(url).await.expect("NATS answers");
                work(async_nats::jetstream::new(client)).await
            })
    }

    /// The first entry natter's log still holds (1 until it is trimmed
    /// behind a snapshot), as JetStream tells it.
    pub fn log_starts_at(&self) -> u64 {
        self.with_jetstream(0, |js| async move {
            let mut stream = js.get_stream("NATTER_LOG").await.expect("the log exists");
            stream.info().await.expect("its info").state.first_sequence
        })
    }
}

/// One `nats-server` with JetStream off (the operator's usual mistake),
/// killed when dropped.
pub struct PlainNats {
    child: Child,
    port: u16,
}

impl PlainNats {
    /// Starts it and waits until it accepts connections; `None` (after
    /// printing why) without nats-server, as [`NatsCluster::start`].
    pub fn start() -> Option<PlainNats> {
        let binary = match find_binary() {
            Some(binary) => binary,
            None if std::env::var_os("CI").is_some() => {
                panic!("nats-server is missing: .ci/run installs it (apt-get install nats-server)")
            }
            None => {
                eprintln!("skipping: nats-server is not installed (apt-get install nats-server)");
                return None;
            }
        };
        let port = free_port();
        let child = Command::new(binary)
            .args(["-a", "127.0.0.1", "-p", &port.to_string()])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("nats-server starts");
        let server = PlainNats { child, port };
        let deadline = Instant::now() + READY_DEADLINE;
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                Instant::now() < deadline,
                "nats-server did not listen within {READY_DEADLINE:?}"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        Some(server)
    }

    pub fn url(&self) -> String {
        format!("nats://127.0.0.1:{}", self.port)
    }
}

impl Drop for PlainNats {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for NatsCluster {
    fn drop(&mut self) {
        for i in 0..self.servers.len() {
            self.kill(i);
        }
        if !std::thread::panicking() {
            let _ = std::fs::remove_dir_all(&self.dir);
        }
    }
}

/// A plain HTTP/1.0 GET on the loopback monitoring port: status and body.
fn http_get(port: u16, path: &str) -> std::io::Result<(u16, String)> {
    let mut stream = TcpStream::connect(("127.0.0.1", port))?;
    stream.set_read_timeout(Some(Duration::from_secs(2)))?;
    write!(stream, "GET {path} HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n")?;
    let mut response = String::new();
    stream.read_to_string(&mut response)?;
    let status = response
        .split(' ')
        .nth(1)
        .and_then(|code| code.parse().ok())
        .unwrap_or(0);
    let body = response
        .split_once("\r\n\r\n")
        .map(|(_, body)| body.to_string())
        .unwrap_or_default();
    Ok((status, body))
}
