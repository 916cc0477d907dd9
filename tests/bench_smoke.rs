//! natter-bench smoke runs: a few seconds of fanout and rooms, asserting that
//! every message arrived exactly once and in order.
//!
//! Owns: the short, bounded runs of `natter::bench` that belong in the test
//! suite (the full comparison is `bench/compare.sh`, never a test).
//! Must never: connect anywhere but 127.0.0.1, or run without a timeout.
//!
//! The same runs drive natter in-process and a tiny in-test relay
//! (`relay::start`) that is correct by construction, so a failure says
//! whether the generator's bookkeeping or the server is at fault; and natter
//! again over TLS (`--tls`), with a self-signed certificate made at test time.
//! The community run (clients leaving and rejoining rooms, reconnecting)
//! drives natter only: the relay knows no PART or QUIT.

use natter::net::{RunningServer, ServerOptions, TlsOptions};
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::time::Duration;

use natter::bench::{
    run_community, run_fanout, run_rooms, BenchError, Common, CommunityConfig, FanoutConfig,
    Report, RoomsConfig,
};

fn common(addr: SocketAddr) -> Common {
    Common {
        addr,
        more: Vec::new(),
        concurrency: 10,
        timeout: Duration::from_secs(20),
        pid: None,
        progress: false,
        tls: false,
        ws: false,
    }
}

/// The same settings, connecting with TLS (any certificate accepted).
fn common_tls(addr: SocketAddr) -> Common {
    Common {
        tls: true,
        ..common(addr)
    }
}

fn assert_clean(r: &Report) {
    assert!(
        r.is_clean(),
        "lost {} reordered {} dup {} misrouted {} timed out {}\n{}",
        r.lost,
        r.reordered,
        r.duplicated,
        r.misrouted,
        r.timed_out,
        r.table()
    );
    assert_eq!(r.deliveries, r.expected_deliveries);
}

/// A few-second fanout: every member gets every message once, in order.
fn fanout_smoke(common: Common) -> Report {
    let r = run_fanout(&FanoutConfig {
        common,
        members: 20,
        senders: 3,
        messages: 300,
        rate: None,
        window: 50,
    })
    .expect("fanout smoke run");
    assert_eq!(r.expected_deliveries, 3 * 300 * 19);
    assert_clean(&r);
    assert_eq!(
        r.latency_from,
        Some("written"),
        "unpaced latency is from the write"
    );
    assert!(r.latency_uncorrected.is_none());
    assert_throughput_identity(&r);
    r
}

/// The report's identity: deliveries/s = messages in/s × (room size − 1).
fn assert_throughput_identity(r: &Report) {
    let receivers = (r.members_per_room - 1) as f64;
    let diff = (r.deliveries_per_sec - r.messages_per_sec * receivers).abs();
    assert!(
        diff <= 1e-6 * r.deliveries_per_sec.max(1.0),
        "{}",
        r.table()
    );
    assert!(
        r.table().contains("messages in/s x"),
        "the table says how deliveries/s is made up:\n{}",
        r.table()
    );
}

/// Paced rooms: every room's members hear each other and nobody else.
fn rooms_smoke(common: Common) -> Report {
    let r = run_rooms(&RoomsConfig {
        common,
        rooms: 4,
        members: 3,
        messages: 20,
        rate: Some(400.0),
        window: 0,
    })
    .expect("rooms smoke run");
    assert_eq!(r.expected_deliveries, 4 * 3 * 20 * 2);
    assert_clean(&r);
    assert_paced_latency_is_from_the_schedule(&r);
    assert_throughput_identity(&r);
    r
}

/// Paced runs report latency from each message's scheduled send time, with
/// the uncorrected (from-the-write) figure beside it, never below it.
fn assert_paced_latency_is_from_the_schedule(r: &Report) {
    assert_eq!(r.latency_from, Some("scheduled"));
    let corrected = r.latency.as_ref().expect("paced run has latency");
    let uncorrected = r
        .latency_uncorrected
        .as_ref()
        .expect("and the uncorrected one");
    assert_eq!(corrected.samples, uncorrected.samples);
    // Each message is written at or after it was due, so the corrected
    // latency is never the smaller (a histogram bucket of slack allowed).
    assert!(
        corrected.max_ms * 1.01 + 0.002 >= uncorrected.max_ms,
        "{}",
        r.table()
    );
    assert!(
        r.table().contains("latency (from schedule)"),
        "{}",
        r.table()
    );
}

#[test]
fn fanout_against_a_relay_delivers_every_message_once_in_order() {
    let _ = fanout_smoke(common(relay::start()));
}

#[test]
fn rooms_against_a_relay_keep_rooms_apart_and_lose_nothing() {
    let _ = rooms_smoke(common(relay::start()));
}

#[test]
fn paced_fanout_against_a_relay_measures_latency_from_the_schedule() {
    let r = run_fanout(&FanoutConfig {
        common: common(relay::start()),
        members: 5,
        senders: 2,
        messages: 50,
        rate: Some(500.0),
        window: 0,
    })
    .expect("paced fanout smoke run");
    assert_clean(&r);
    assert_paced_latency_is_from_the_schedule(&r);
}

#[test]
fn swapped_messages_count_once_as_reordered_and_never_as_lost() {
    // The relay swaps each sender's messages in pairs: 1,0,3,2,...
    let r = run_fanout(&FanoutConfig {
        common: common(relay::start_swapping()),
        members: 4,
        senders: 2,
        messages: 40,
        rate: None,
        window: 10,
    })
    .expect("fanout through a swapping relay");
    assert_eq!(r.expected_deliveries, 2 * 40 * 3);
    assert_eq!(r.deliveries, r.expected_deliveries, "{}", r.table());
    assert_eq!(r.lost, 0, "{}", r.table());
    assert_eq!(r.duplicated, 0, "{}", r.table());
    // Half of each sender's messages arrive after their successor.
    assert_eq!(r.reordered, 2 * 20 * 3, "{}", r.table());
    assert!(!r.is_clean());
}

#[test]
fn a_server_that_is_not_there_is_a_clear_connect_error() {
    // Bind then drop, so the port is (very likely) closed.
    let addr = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("bind a loopback port");
    let err = run_fanout(&FanoutConfig {
        common: common(addr),
        members: 2,
        senders: 1,
        messages: 1,
        rate: None,
        window: 1,
    })
    .expect_err("nothing listens there");
    assert!(err.to_string().contains("could not connect"), "{err}");
}

/// natter-server in-process on an ephemeral port of 127.0.0.1, with flood
/// protection off (a load generator floods on purpose, as with the peers).
fn start_natter() -> RunningServer {
    let mut options = ServerOptions {
        bind: IpAddr::V4(Ipv4Addr::LOCALHOST),
        port: 0,
        ..ServerOptions::default()
    };
    options.config.flood_lines_per_sec = 0;
    RunningServer::start(options).expect("natter server starts on an ephemeral port")
}

#[test]
fn fanout_against_natter_delivers_every_message_once_in_order() {
    let server = start_natter();
    let r = fanout_smoke(common(server.local_addr()));
    assert!(!r.tls);
}

#[test]
fn rooms_against_natter_keep_rooms_apart_and_lose_nothing() {
    let server = start_natter();
    let _ = rooms_smoke(common(server.local_addr()));
}

#[test]
fn a_community_with_churn_against_natter_loses_nothing_and_counts_no_replay_twice() {
    let server = start_natter();
    let r = run_community(&CommunityConfig {
        common: common(server.local_addr()),
        clients: 60,
        rooms: 12,
        duration: Duration::from_secs(3),
        rate: 300.0,
        churn: 8.0,
        seed: 7,
    })
    .expect("community smoke run");
    let c = r.community.as_ref().expect("community stats");
    assert!(r.deliveries > 0, "{}", r.table());
    assert_clean(&r);
    assert_eq!(r.lost, 0, "{}", r.table());
    assert_eq!(r.duplicated, 0, "{}", r.table());
    assert!(c.churn_done > 0, "some churn completed:\n{}", r.table());
    assert!(
        c.rejoins > 0 && c.reconnects > 0,
        "both kinds of churn:\n{}",
        r.table()
    );
    assert_eq!(r.latency_from, Some("scheduled"));
    assert!(r.table().contains("churn done"), "{}", r.table());
    // The other members were told of the churn, and how fast is measured.
    let told = c
        .announcement_latency
        .as_ref()
        .expect("announcements of the churn reached other members");
    assert!(told.samples > 0 && told.p99_ms > 0.0, "{}", r.table());
    assert!(r.table().contains("announcement latency"), "{}", r.table());
}

/// A fresh, empty directory under the system's temp dir, removed on drop.
struct TempDir(PathBuf);

impl TempDir {
    fn new(name: &str) -> TempDir {
        let dir =
            std::env::temp_dir().join(format!("natter-bench-smoke-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("temp dir is writable");
        TempDir(dir)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// natter in-process with TLS on an ephemeral port too, its self-signed
/// certificate (for 127.0.0.1) written into `dir`; flood protection off.
fn start_natter_tls(dir: &TempDir) -> RunningServer {
    let cert = dir.0.join("cert.pem");
    let key = dir.0.join("key.pem");
    natter::net::tls::write_self_signed("127.0.0.1", &cert, &key)
        .expect("a self-signed certificate is written");
    let mut options = ServerOptions {
        bind: IpAddr::V4(Ipv4Addr::LOCALHOST),
        port: 0,
        tls: Some(TlsOptions {
            port: 0,
            ..TlsOptions::new(cert, key)
        }),
        ..ServerOptions::default()
    };
    options.config.flood_lines_per_sec = 0;
    RunningServer::start(options).expect("natter server starts with TLS on ephemeral ports")
}

#[test]
fn fanout_over_tls_against_natter_delivers_every_message_once_in_order() {
    let dir = TempDir::new("fanout-tls");
    let server = start_natter_tls(&dir);
    let addr = server.tls_addr().expect("TLS is on");
    let r = fanout_smoke(common_tls(addr));
    assert!(r.tls, "the report says the run was over TLS");
    assert!(r.table().contains("over TLS"), "{}", r.table());
}

#[test]
fn rooms_over_tls_against_natter_keep_rooms_apart_and_lose_nothing() {
    let dir = TempDir::new("rooms-tls");
    let server = start_natter_tls(&dir);
    let _ = rooms_smoke(common_tls(server.tls_addr().expect("TLS is on")));
}

#[test]
fn fanout_over_websocket_against_natter_delivers_every_message_once_in_order() {
    let mut options = ServerOptions {
        bind: IpAddr::V4(Ipv4Addr::LOCALHOST),
        port: 0,
        web: natter::net::WebOptions {
            port: Some(0),
            ..Default::default()
        },
        ..ServerOptions::default()
    };
    options.config.flood_lines_per_sec = 0;
    let server = RunningServer::start(options).expect("natter starts with its web port");
    let addr = server.web_addr().expect("the web port is on");
    let r = fanout_smoke(Common {
        ws: true,
        ..common(addr)
    });
    assert!(r.ws, "the report says the run was over WebSocket");
    assert!(r.table().contains("over WebSocket"), "{}", r.table());
}

#[test]
fn websocket_to_an_irc_port_is_a_clear_websocket_error() {
    let server = start_natter();
    let err = run_fanout(&FanoutConfig {
        common: Common {
            ws: true,
            ..common(server.local_addr())
        },
        members: 2,
        senders: 1,
        messages: 1,
        rate: None,
        window: 1,
    })
    .expect_err("an IRC port is not a web port");
    assert!(matches!(err, BenchError::WebSocket { .. }), "{err}");
    assert!(err.to_string().contains("--web-port"), "{err}");
}

#[test]
fn tls_to_a_plaintext_server_is_a_clear_tls_error() {
    // A plaintext IRC server that greets first, as many do: the bytes are
    // not a TLS record, so the handshake fails at once.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind loopback");
    let addr = listener.local_addr().expect("local addr");
    std::thread::spawn(move || {
        use std::io::Write;
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            let _ = stream.write_all(b":plain NOTICE * :*** Looking up your hostname\r\n");
            // Hold it open: the client, not the server, must give up.
            std::thread::spawn(move || {
                let _ = std::io::copy(&mut stream, &mut std::io::sink());
            });
        }
    });
    let err = run_fanout(&FanoutConfig {
        common: common_tls(addr),
        members: 2,
        senders: 1,
        messages: 1,
        rate: None,
        window: 1,
    })
    .expect_err("a plaintext server cannot complete a TLS handshake");
    assert!(matches!(err, BenchError::Tls { .. }), "{err:?}");
    assert!(err.to_string().contains("TLS port"), "{err}");
}

/// The smallest IRC relay that natter-bench can drive: NICK/USER → 001,
/// JOIN → JOIN echo + 366, PRIVMSG → every other member of the room, in one
/// total order per room (all under one lock). Threads, blocking I/O, test only.
/// `start_swapping` relays each client's PRIVMSGs in swapped pairs (the
/// second before the first), a deliberately misordering server.
mod relay {
    use std::collections::HashMap;
    use std::io::{BufRead, BufReader, Write};
    use std::net::{SocketAddr, TcpListener, TcpStream};
    use std::sync::{Arc, Mutex};

    type Rooms = Arc<Mutex<HashMap<String, Vec<(usize, TcpStream)>>>>;

    pub fn start() -> SocketAddr {
        start_with(false)
    }

    pub fn start_swapping() -> SocketAddr {
        start_with(true)
    }

    fn start_with(swap: bool) -> SocketAddr {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind loopback");
        let addr = listener.local_addr().expect("local addr");
        let rooms: Rooms = Arc::default();
        std::thread::spawn(move || {
            for (id, stream) in listener.incoming().enumerate() {
                let Ok(stream) = stream else { continue };
                let rooms = rooms.clone();
                std::thread::spawn(move || {
                    let _ = client(id, stream, rooms, swap);
                });
            }
        });
        addr
    }

    fn client(id: usize, stream: TcpStream, rooms: Rooms, swap: bool) -> std::io::Result<()> {
        stream.set_nodelay(true)?;
        let mut out = stream.try_clone()?;
        let mut nick = String::from("*");
        let mut held: Option<(String, String)> = None;
        for line in BufReader::new(stream.try_clone()?).lines() {
            let line = line?;
            let (cmd, rest) = line.split_once(' ').unwrap_or((line.as_str(), ""));
            match cmd {
                "NICK" => nick = rest.trim_start_matches(':').to_string(),
                "USER" => write!(out, ":relay 001 {nick} :Welcome\r\n")?,
                "PING" => write!(out, "PONG {rest}\r\n")?,
                "JOIN" => {
                    let chan = rest.trim_start_matches(':').to_string();
                    let mut rooms = rooms.lock().expect("relay lock");
                    let members = rooms.entry(chan.clone()).or_default();
                    members.push((id, stream.try_clone()?));
                    for (_, m) in members.iter_mut() {
                        let _ = write!(m, ":{nick}!u@h JOIN {chan}\r\n");
                    }
                    write!(out, ":relay 366 {nick} {chan} :End of /NAMES list.\r\n")?;
                }
                "PRIVMSG" => {
                    let Some((chan, text)) = rest.split_once(' ') else {
                        continue;
                    };
                    let msg = format!(":{nick}!u@h PRIVMSG {chan} {text}\r\n");
                    let mut batch = vec![(chan.to_string(), msg)];
                    if swap {
                        match held.take() {
                            None => {
                                held = batch.pop();
                                continue;
                            }
                            Some(first) => batch.push(first),
                        }
                    }
                    let mut rooms = rooms.lock().expect("relay lock");
                    for (chan, msg) in batch {
                        for (mid, m) in rooms.entry(chan).or_default().iter_mut() {
                            if *mid != id {
                                let _ = m.write_all(msg.as_bytes());
                            }
                        }
                    }
                }
                _ => {}
            }
        }
        Ok(())
    }
}
