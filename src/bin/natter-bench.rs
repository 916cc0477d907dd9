//! natter-bench: drive an IRC server on this machine with many plain-IRC
//! clients and measure deliveries per second, latency, loss and memory.
//! Clap and output only; the generator is `natter::bench`.

use std::net::{SocketAddr, ToSocketAddrs};
use std::process::ExitCode;
use std::time::Duration;

use clap::{Args, Parser, Subcommand};
use natter::bench::{
    run_community, run_connect, run_fanout, run_idle, run_rooms, BenchError, Common,
    CommunityConfig, ConnectConfig, FanoutConfig, IdleConfig, Report, RoomsConfig,
};

/// Load generator for any IRC server on this machine (loopback only).
///
/// Clients speak plain IRC (NICK, USER, JOIN, PART, QUIT, PRIVMSG; no capabilities), so the
/// same run drives natter-server, ngircd or InspIRCd. Each PRIVMSG carries
/// "SENDER SEQ SEND_TIME_NS"; every receiver checks it got every message
/// exactly once and in each sender's order, and records delivery latency.
/// A message that arrives after a later one from the same sender counts once,
/// as reordered (not also as lost).
/// Connections are opened with at most --concurrency handshakes in flight, and
/// every client has registered (001) and joined (366) before anyone sends.
///
/// With --rate, latency is measured from each message's SCHEDULED send time,
/// not from when the sender got to write it, so a stall in natter-bench or the
/// server counts as latency instead of dropping out (coordinated omission
/// corrected, as wrk2 does); the uncorrected figure is printed beside it.
/// Without --rate, latency is from the write, and each sender's window only
/// moves as the SLOWEST receiver in its room gets its messages.
/// Deliveries per second = messages in per second x (room size - 1).
///
/// With --pid, the server's CPU is also read after the measured phase, the
/// clients still connected, until it goes idle (less than 2 ms of CPU in
/// 300 ms, at most 30 s): "server CPU until idle" is the measured phase plus
/// that after-work, so work a server puts off until the clock stops still
/// counts, and CPU per delivery is made from it.
///
/// Exit status: 0 clean run, 1 the run failed (see the error), 2 the run
/// finished but lost, reordered or duplicated messages, or hit --timeout.
#[derive(Parser, Debug)]
#[command(
    name = "natter-bench",
    version,
    after_help = "Examples:
  natter-bench -s 127.0.0.1:6667 fanout -n 500 --senders 10 -m 1000
  natter-bench --pid $(pidof ngircd) -c 10 idle -n 10000 --room-size 10
  natter-bench -c 2000 connect -n 5000        (InspIRCd: many handshakes in flight)
  natter-bench --tls -s 127.0.0.1:6697 fanout -n 100   (over TLS; certificate not verified)
  natter-bench --ws -s 127.0.0.1:8080 fanout -n 100    (IRC over WebSocket, natter's --web-port)
  natter-bench --json fanout -n 100 -m 1000 --rate 1000   (fixed offered load, for latency)
  natter-bench --pid $(pidof natter-server) community   (2,000 clients, 300 rooms, churn, 60 s)
  bench/compare.sh --quick                    (every scenario against every server)"
)]
struct Cli {
    #[command(flatten)]
    common: CommonArgs,
    #[command(subcommand)]
    scenario: Scenario,
}

#[derive(Args, Debug)]
struct CommonArgs {
    /// Server address (host:port); must be loopback (127.0.0.1, ::1 or
    /// localhost). Several, comma-separated (the nodes of a natter
    /// cluster), spread the clients over them, round robin.
    #[arg(long, short = 's', global = true, default_value = "127.0.0.1:6667")]
    server: String,
    /// Handshakes (connect + register + join) in flight at once. ngircd's
    /// listen backlog is 10; InspIRCd registers on a 1 s tick, so it wants many.
    #[arg(long, short = 'c', global = true, default_value_t = 50)]
    concurrency: usize,
    /// Hard limit for the whole run, in seconds; the run always ends by then
    /// and reports what was lost.
    #[arg(long, global = true, default_value_t = 120.0)]
    timeout: f64,
    /// The server's process id: report its CPU seconds and RSS (from /proc).
    #[arg(long, global = true)]
    pid: Option<u32>,
    /// Print the report as JSON on stdout instead of a table.
    #[arg(long, global = true)]
    json: bool,
    /// No progress bar (it is also hidden when stderr is not a terminal).
    #[arg(long, short = 'q', global = true)]
    quiet: bool,
    /// Connect over TLS (point --server at the TLS port, e.g. natter-server's
    /// --tls-port). The server's certificate is NOT verified: any certificate
    /// is accepted, so self-signed servers on this machine can be measured.
    /// For loopback benchmarking only; never a trust decision.
    #[arg(long, global = true)]
    tls: bool,
    /// Speak IRC over WebSocket (point --server at natter-server's
    /// --web-port; with --tls, its --web-tls-port): one line per message,
    /// subprotocol text.ircv3.net.
    #[arg(long, global = true)]
    ws: bool,
}

#[derive(Subcommand, Debug)]
enum Scenario {
    /// N clients in one room; S of them send M messages each. Measures
    /// deliveries per second and send-to-delivery latency.
    Fanout {
        /// Clients in the room.
        #[arg(long, short = 'n', default_value_t = 100)]
        members: usize,
        /// How many of them send (capped at --members).
        #[arg(long, default_value_t = 10)]
        senders: usize,
        /// Messages per sender.
        #[arg(long, short = 'm', default_value_t = 1000)]
        messages: u32,
        #[command(flatten)]
        load: Load,
    },
    /// Many small rooms; every member of every room talks.
    Rooms {
        /// Number of rooms.
        #[arg(long, default_value_t = 100)]
        rooms: usize,
        /// Members per room (every one sends).
        #[arg(long, short = 'n', default_value_t = 5)]
        members: usize,
        /// Messages per member.
        #[arg(long, short = 'm', default_value_t = 200)]
        messages: u32,
        #[command(flatten)]
        load: Load,
    },
    /// C connections registered and joined, then held: with --pid, reports the
    /// server's resident memory per connection (VmRSS after minus before, / C).
    Idle {
        /// Connections to open and hold.
        #[arg(long, short = 'n', default_value_t = 1000)]
        clients: usize,
        /// Members per room (clients are spread over rooms of this size).
        #[arg(long, default_value_t = 10)]
        room_size: usize,
        /// Seconds to hold every connection before measuring.
        #[arg(long, default_value_t = 5.0)]
        hold: f64,
    },
    /// Registrations per second (connect, NICK/USER, wait for 001) until C
    /// clients are in; also connect-to-001 latency.
    Connect {
        /// Clients to register (they stay connected until all are in).
        #[arg(long, short = 'n', default_value_t = 1000)]
        clients: usize,
    },
    /// A community: C clients in R rooms whose sizes follow Zipf's law (most
    /// of 2-10 members, a few of hundreds; every client in one or more
    /// rooms), drawn from --seed. For --duration seconds, --rate messages per
    /// second over all talkers on a fixed schedule (big rooms are busier;
    /// latency is from each message's scheduled send time), while --churn
    /// events per second make a client PART a room and re-JOIN it, or QUIT
    /// and reconnect with the same nick. A receiver is owed only what was
    /// sent while it was in the room: history a server replays on JOIN, and
    /// messages sent before its JOIN was confirmed, are neither deliveries
    /// nor duplicates ("not expected").
    Community {
        /// Connections (each joins one or more rooms).
        #[arg(long, short = 'n', default_value_t = 2000)]
        clients: usize,
        /// Number of rooms.
        #[arg(long, default_value_t = 300)]
        rooms: usize,
        /// Seconds of scheduled traffic and churn.
        #[arg(long, default_value_t = 60.0)]
        duration: f64,
        /// Messages per second, all talkers together (the default, about
        /// 51,000 deliveries/s with the default rooms, leaves ngircd, the
        /// slowest peer, headroom on 2 cores beside natter-bench and churn).
        #[arg(long, default_value_t = 1000.0)]
        rate: f64,
        /// Churn events per second (PART + re-JOIN, or QUIT + reconnect).
        #[arg(long, default_value_t = 20.0)]
        churn: f64,
        /// Seed for the rooms, the talkers and the churn.
        #[arg(long, default_value_t = 1)]
        seed: u64,
    },
}

#[derive(Args, Debug)]
struct Load {
    /// Offered load in messages per second, all senders together, on a fixed
    /// schedule; reported latency percentiles are from each message's
    /// scheduled send time (coordinated omission corrected). Without it
    /// senders go as fast as the server takes messages, each keeping at most
    /// --window messages not yet received by every member of the room.
    #[arg(long)]
    rate: Option<f64>,
    /// Messages in flight per sender when --rate is not given: a message
    /// stays in flight until the slowest receiver in the room has it.
    #[arg(long, short = 'w', default_value_t = 100)]
    window: u32,
}

fn loopback(server: &str) -> Result<SocketAddr, String> {
    let addrs: Vec<SocketAddr> = server
        .to_socket_addrs()
        .map_err(|e| format!("cannot resolve --server {server}: {e}; use host:port"))?
        .collect();
    addrs
        .iter()
        .find(|a| a.is_ipv4() && a.ip().is_loopback())
        .or_else(|| addrs.iter().find(|a| a.ip().is_loopback()))
        .copied()
        .ok_or_else(|| {
            format!("--server {server} is not a loopback address; natter-bench only drives servers on this machine (127.0.0.1)")
        })
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let c = &cli.common;
    let addrs: Result<Vec<SocketAddr>, String> = c.server.split(',').map(loopback).collect();
    let (addr, more) = match addrs {
        Ok(addrs) if !addrs.is_empty() => (addrs[0], addrs[1..].to_vec()),
        Ok(_) => {
            eprintln!("natter-bench: --server names no server");
            return ExitCode::from(1);
        }
        Err(e) => {
            eprintln!("natter-bench: {e}");
            return ExitCode::from(1);
        }
    };
    if !(c.timeout.is_finite() && c.timeout > 0.0) {
        eprintln!("natter-bench: --timeout must be a positive number of seconds");
        return ExitCode::from(1);
    }
    let common = Common {
        addr,
        more,
        concurrency: c.concurrency.max(1),
        timeout: Duration::from_secs_f64(c.timeout),
        pid: c.pid,
        progress: !c.quiet,
        tls: c.tls,
        ws: c.ws,
    };
    let (name, result): (&str, Result<Report, BenchError>) = match cli.scenario {
        Scenario::Fanout {
            members,
            senders,
            messages,
            load,
        } => (
            "fanout",
            run_fanout(&FanoutConfig {
                common,
                members,
                senders: senders.min(members),
                messages,
                rate: load.rate,
                window: load.window,
            }),
        ),
        Scenario::Rooms {
            rooms,
            members,
            messages,
            load,
        } => (
            "rooms",
            run_rooms(&RoomsConfig {
                common,
                rooms,
                members,
                messages,
                rate: load.rate,
                window: load.window,
            }),
        ),
        Scenario::Idle {
            clients,
            room_size,
            hold,
        } => (
            "idle",
            run_idle(&IdleConfig {
                common,
                clients,
                room_size,
                hold: Duration::from_secs_f64(hold.clamp(0.0, 3600.0)),
            }),
        ),
        Scenario::Connect { clients } => {
            ("connect", run_connect(&ConnectConfig { common, clients }))
        }
        Scenario::Community {
            clients,
            rooms,
            duration,
            rate,
            churn,
            seed,
        } => (
            "community",
            if duration.is_finite() && duration > 0.0 && duration <= 86_400.0 {
                run_community(&CommunityConfig {
                    common,
                    clients,
                    rooms,
                    duration: Duration::from_secs_f64(duration),
                    rate,
                    churn,
                    seed,
                })
            } else {
                Err(BenchError::Config(
                    "--duration must be a positive number of seconds (at most a day)".into(),
                ))
            },
        ),
    };
    match result {
        Ok(report) => {
            if c.json {
                match serde_json::to_string_pretty(&report) {
                    Ok(s) => println!("{s}"),
                    Err(e) => {
                        eprintln!("natter-bench: cannot write JSON: {e}");
                        return ExitCode::from(1);
                    }
                }
            } else {
                print!("{}", report.table());
            }
            if report.is_clean() {
                ExitCode::SUCCESS
            } else {
                eprintln!(
                    "natter-bench: NOT CLEAN: {} lost, {} reordered, {} duplicated{}",
                    report.lost,
                    report.reordered,
                    report.duplicated,
                    if report.timed_out {
                        " (hit --timeout: messages still undelivered count as lost; if \
                         deliveries stalled, the server may be delaying senders with flood \
                         control or fake lag: lift it, or lower --rate / --window)"
                    } else {
                        ""
                    }
                );
                ExitCode::from(2)
            }
        }
        Err(e) => {
            eprintln!("natter-bench: {e}");
            if c.json {
                let v = serde_json::json!({ "scenario": name, "server": addr.to_string(), "tls": c.tls, "error": e.to_string() });
                println!("{v}");
            }
            ExitCode::from(1)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn the_command_line_is_well_formed() {
        Cli::command().debug_assert();
    }

    #[test]
    fn help_says_paced_latency_is_from_the_scheduled_send_time() {
        let help = Cli::command().render_long_help().to_string();
        assert!(help.contains("SCHEDULED send time"), "{help}");
        assert!(help.contains("coordinated omission"), "{help}");
        assert!(help.contains("SLOWEST receiver"), "{help}");
        assert!(
            help.contains("messages in per second x (room size - 1)"),
            "{help}"
        );
        let fanout = Cli::command()
            .find_subcommand_mut("fanout")
            .expect("fanout exists")
            .render_long_help()
            .to_string();
        assert!(fanout.contains("scheduled send time"), "{fanout}");
        assert!(fanout.contains("slowest receiver"), "{fanout}");
    }

    #[test]
    fn community_help_says_what_is_not_counted() {
        let help = Cli::command()
            .find_subcommand_mut("community")
            .expect("community exists")
            .render_long_help()
            .to_string();
        assert!(help.contains("replays on JOIN"), "{help}");
        assert!(help.contains("scheduled send time"), "{help}");
    }

    #[test]
    fn help_says_server_cpu_counts_the_work_after_the_run() {
        let top = Cli::command().render_long_help().to_string();
        assert!(top.contains("server CPU until idle"), "{top}");
    }

    #[test]
    fn only_loopback_servers_are_accepted() {
        assert!(loopback("127.0.0.1:6667").is_ok());
        assert!(loopback("192.0.2.1:6667").is_err());
    }
}
