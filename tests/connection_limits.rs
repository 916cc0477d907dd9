//! Connection limits end to end over real sockets: clients connect from
//! chosen loopback addresses (Linux routes all of 127.0.0.0/8 to `lo`, so a
//! client socket bound to 127.0.0.2 is a second machine as far as the
//! server can tell), and the limits are applied to loopback for the test.
#[path = "common/e2e.rs"]
mod e2e;

use e2e::{server_options, start_with, strip_timestamp, temp_dir, Client};
use natter::net::{Cidr, ConnRate, LimitSettings, RunningServer};
use std::net::{IpAddr, SocketAddr, TcpStream};
use std::path::Path;
use std::time::{Duration, Instant};

/// Limits that apply to loopback, with nothing else set.
fn limits() -> LimitSettings {
    LimitSettings {
        max_per_ip: 0,
        max_per_net: 0,
        rate: None,
        exempt_loopback: false,
        exempt: Vec::new(),
    }
}

fn start(limits: LimitSettings, log: &Path) -> RunningServer {
    let mut options = server_options(1 << 20, Some(log.to_path_buf()));
    options.limits = limits;
    start_with(options)
}

/// A TCP connection to `addr` from the source address `from`.
fn connect_from(from: &str, addr: SocketAddr) -> TcpStream {
    use socket2::{Domain, Socket, Type};
    let source: IpAddr = from.parse().expect("a source address");
    let socket = Socket::new(Domain::IPV4, Type::STREAM, None).expect("a TCP socket");
    socket
        .bind(&SocketAddr::new(source, 0).into())
        .unwrap_or_else(|e| panic!("bind {from}: {e} (is 127.0.0.0/8 routed to lo?)"));
    socket
        .connect(&addr.into())
        .expect("the server accepts the connection");
    socket.into()
}

/// Connects from `from` and registers as `nick`.
fn register_from(from: &str, addr: SocketAddr, nick: &str) -> Client {
    let mut client = Client::over(connect_from(from, addr), nick);
    client.send(&format!("NICK {nick}"));
    client.send(&format!("USER {} 0 * :{nick}", nick.to_lowercase()));
    client.read_until(|l| l.contains(" 376 ") || l.contains(" 422 "));
    client
}

/// Connects from `from` and returns everything the server sent before
/// closing the connection (a refused client's one line).
fn refused_from(from: &str, addr: SocketAddr) -> Vec<String> {
    let mut client = Client::over(connect_from(from, addr), "refused");
    client.read_to_end()
}

/// The log's lines without their timestamps, once `wanted` is among them.
fn log_lines_once(log: &Path, wanted: &str) -> Vec<String> {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let text = std::fs::read_to_string(log).unwrap_or_default();
        let lines: Vec<String> = text
            .lines()
            .map(|l| strip_timestamp(l).to_string())
            .collect();
        if lines.iter().any(|l| l.contains(wanted)) || Instant::now() > deadline {
            return lines;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn a_connection_past_the_per_address_limit_is_told_why_and_closed() {
    let dir = temp_dir("limits-per-ip");
    let log = dir.join("server.log");
    let server = start(
        LimitSettings {
            max_per_ip: 3,
            ..limits()
        },
        &log,
    );
    let addr = server.local_addr();
    let _held: Vec<Client> = (1..=3)
        .map(|i| register_from("127.0.0.2", addr, &format!("Held{i}")))
        .collect();

    let told = refused_from("127.0.0.2", addr);
    assert_eq!(
        told,
        [
            "ERROR :Closing Link: 127.0.0.2 (Too many connections from your IP address: \
          at most 3; try again later)"
        ]
    );
    // Another address is not affected.
    let _other = register_from("127.0.0.3", addr, "Other");

    server.shutdown();
    let lines = log_lines_once(&log, "refused");
    let refused: Vec<&String> = lines.iter().filter(|l| l.contains("refused")).collect();
    assert_eq!(refused.len(), 1, "{lines:#?}");
    assert!(
        refused[0].starts_with("Connection from 127.0.0.2:")
            && refused[0].ends_with(
                " refused (Too many connections from your IP address: at most 3; \
                 try again later)"
            ),
        "{lines:#?}"
    );
    // The refused connection never reached the core as a connection.
    assert!(
        !lines
            .iter()
            .any(|l| l.contains("closed before registering")),
        "{lines:#?}"
    );
}

#[test]
fn a_slot_frees_up_when_a_connection_closes() {
    let dir = temp_dir("limits-release");
    let server = start(
        LimitSettings {
            max_per_ip: 1,
            ..limits()
        },
        &dir.join("server.log"),
    );
    let addr = server.local_addr();
    let mut first = register_from("127.0.0.4", addr, "First");
    assert_eq!(refused_from("127.0.0.4", addr).len(), 1);

    first.send("QUIT :bye");
    first.read_to_end();
    // The slot comes back once the server has finished closing the first
    // connection: a moment after the client sees it end.
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let mut client = Client::over(connect_from("127.0.0.4", addr), "Second");
        // A refused connection may be closed before these arrive.
        let _ = client.try_send_raw(b"NICK Second\r\nUSER second 0 * :Second\r\n");
        let first_line = client.read_line().unwrap_or_default();
        if !first_line.starts_with("ERROR") {
            client.read_until(|l| l.contains(" 376 ") || l.contains(" 422 "));
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the slot never came back: {first_line}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn the_network_limit_counts_every_address_of_a_24() {
    let dir = temp_dir("limits-per-net");
    let server = start(
        LimitSettings {
            max_per_net: 2,
            ..limits()
        },
        &dir.join("server.log"),
    );
    let addr = server.local_addr();
    let _a = register_from("127.0.0.5", addr, "Alpha");
    let _b = register_from("127.0.0.6", addr, "Beta");
    assert_eq!(
        refused_from("127.0.0.7", addr),
        [
            "ERROR :Closing Link: 127.0.0.7 (Too many connections from your network \
          127.0.0.0/24: at most 2; try again later)"
        ]
    );
    let _other_net = register_from("127.0.1.5", addr, "Gamma");
}

#[test]
fn a_burst_of_new_connections_from_one_address_is_throttled() {
    let dir = temp_dir("limits-throttle");
    let server = start(
        LimitSettings {
            rate: Some(ConnRate {
                count: 2,
                window: Duration::from_secs(60),
            }),
            ..limits()
        },
        &dir.join("server.log"),
    );
    let addr = server.local_addr();
    for i in 0..2 {
        let mut client = register_from("127.0.0.9", addr, &format!("Quick{i}"));
        client.send("QUIT");
        client.read_to_end();
    }
    let told = refused_from("127.0.0.9", addr);
    assert_eq!(told.len(), 1, "{told:?}");
    assert!(
        told[0].starts_with(
            "ERROR :Closing Link: 127.0.0.9 (Too many new connections from your IP address: \
             at most 2 in 60 seconds; try again in "
        ),
        "{told:?}"
    );
}

#[test]
fn exempt_networks_and_by_default_loopback_are_not_limited() {
    let dir = temp_dir("limits-exempt");
    let exempt: Cidr = "127.0.0.10/32".parse().expect("a CIDR");
    let server = start(
        LimitSettings {
            max_per_ip: 1,
            exempt: vec![exempt],
            ..limits()
        },
        &dir.join("server.log"),
    );
    let addr = server.local_addr();
    let _many: Vec<Client> = (0..3)
        .map(|i| register_from("127.0.0.10", addr, &format!("Bouncer{i}")))
        .collect();
    let _single = register_from("127.0.0.11", addr, "Single");
    assert_eq!(refused_from("127.0.0.11", addr).len(), 1, "not exempt");
    server.shutdown();

    // The defaults: loopback is exempt, however low the limit.
    let server = start(
        LimitSettings {
            max_per_ip: 1,
            ..LimitSettings::default()
        },
        &dir.join("server2.log"),
    );
    let addr = server.local_addr();
    let _local: Vec<Client> = (0..3)
        .map(|i| register_from("127.0.0.12", addr, &format!("Local{i}")))
        .collect();
}

#[test]
fn new_limits_apply_to_new_connections_and_spare_open_ones() {
    let dir = temp_dir("limits-reload");
    let server = start(limits(), &dir.join("server.log"));
    let addr = server.local_addr();
    let mut open: Vec<Client> = (0..2)
        .map(|i| register_from("127.0.0.13", addr, &format!("Open{i}")))
        .collect();
    server.set_limits(LimitSettings {
        max_per_ip: 1,
        ..limits()
    });
    assert_eq!(refused_from("127.0.0.13", addr).len(), 1);
    for client in &mut open {
        client.sync();
    }
}
