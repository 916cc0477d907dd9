//! `natter-server`: the command line around [`natter::net`].
//!
//! Owns argument parsing and wiring only: merges `--config FILE` under the
//! command line ([`natter::settings`]), reads the MOTD file, raises the
//! open-files limit, starts the server, reloads on SIGHUP (the file, the
//! MOTD, limits, flood settings, operators and the TLS certificate),
//! writes a self-signed certificate for `--tls-self-signed`, hashes
//! an operator password for `--hash-password`, and
//! shuts it down on Ctrl-C or SIGTERM. Must never contain chat rules or
//! socket handling.

use clap::{CommandFactory, FromArgMatches, Parser};
use futures_lite::{FutureExt, StreamExt};
use natter::core::{LiveSettings, ServerConfig};
use natter::net::{
    self, limits, tls, Cidr, LimitSettings, LogOptions, RunningServer, ServerOptions, StoreOptions,
    TlsOptions,
};
use natter::proto::casefold;
use natter::settings::{self, ConfigFile};
use std::collections::BTreeSet;
use std::ffi::OsString;
use std::net::IpAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

/// mimalloc instead of glibc's malloc: the server makes about ten small
/// allocations per message (the parsed line, the shared line, the history
/// record, the log entry), and mimalloc's are cheaper. Callgrind, rooms
/// (`natter-bench rooms --rooms 100 -n 5 -m 100`): 11% fewer instructions,
/// durable (658M → 586M) and `--no-persist` alike. Built without
/// transparent huge pages (`no_thp`): with them each new 2 MiB page was
/// zeroed on first touch, and idle connections would hold more memory.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// A small, fast IRC chat server. Connect with `natter-client NAME HOST PORT`
/// or any IRC client (irssi, WeeChat, HexChat); everyone lands in #lobby.
#[derive(Parser, Debug, Clone)]
#[command(name = "natter-server", version)]
struct Args {
    /// A TOML file of settings: each key is a long option with underscores
    /// (`max_conns_per_ip = 16`); options on the command line win. SIGHUP
    /// reloads it. See docs/natter.example.toml.
    #[arg(long, value_name = "FILE")]
    config: Option<PathBuf>,

    /// TCP port to listen on.
    #[arg(default_value_t = 6667)]
    port: u16,

    /// Address to listen on: 0.0.0.0 for every IPv4 interface, :: for IPv4
    /// and IPv6, 127.0.0.1 for this machine only.
    #[arg(long, value_name = "ADDR", default_value = "0.0.0.0")]
    bind: IpAddr,

    /// Where to write the chat log (appended to if it exists).
    #[arg(long, value_name = "PATH", default_value = "server.log")]
    log_file: PathBuf,

    /// Rotate the log once it passes this many bytes (the current file then
    /// becomes NAME_rCURRENT.log, older ones NAME_r00000.log, ...).
    #[arg(long, value_name = "BYTES")]
    log_rotate_size: Option<u64>,

    /// How many rotated log files to keep.
    #[arg(long, value_name = "N", default_value_t = 5)]
    log_keep: usize,

    /// A text file whose lines are shown to each client as the message of the day.
    #[arg(long, value_name = "FILE")]
    motd: Option<PathBuf>,

    /// A password every client must send (PASS) before it may register.
    #[arg(long, value_name = "PASS")]
    password: Option<String>,

    /// Most bytes queued for one client; a client that falls this far behind
    /// is disconnected with "SendQ exceeded" so it never slows anyone else.
    #[arg(long, value_name = "BYTES", default_value_t = net::DEFAULT_SENDQ)]
    sendq: usize,

    /// Milliseconds a line to a client that is only listening may wait to
    /// go out with the lines after it: in a busy room each such client then
    /// costs one write per interval, not one per line (a client that has
    /// just sent something is always answered at once). 0 sends every line
    /// the moment it is ready.
    #[arg(long, value_name = "MS", default_value_t = net::DEFAULT_COALESCE.as_millis() as u64,
          value_parser = clap::value_parser!(u64).range(0..=1000))]
    coalesce_ms: u64,

    /// Threads for the connections' reads and writes and the chat core
    /// (durable history adds three of its own: journal, indexer,
    /// checkpoints). Default: half the CPUs, 1 to 4.
    #[arg(long, value_name = "N", default_value_t = net::default_threads() as u16,
          value_parser = clap::value_parser!(u16).range(1..=256))]
    threads: u16,

    /// Sustained lines per second one client may send; lines past the
    /// burst are delayed to this rate, not refused (operators never are).
    /// 0 turns flood protection off.
    #[arg(long, value_name = "N", default_value_t = ServerConfig::default().flood_lines_per_sec)]
    flood_rate: u64,

    /// How many lines beyond the sustained rate a client may send at once
    /// before the next are delayed.
    #[arg(long, value_name = "N", default_value_t = ServerConfig::default().flood_burst_lines)]
    flood_burst: u64,

    /// How many delayed lines one client may have waiting; one more closes
    /// it for "Excess Flood".
    #[arg(long, value_name = "N", default_value_t = ServerConfig::default().flood_queue_lines)]
    flood_queue: usize,

    /// The most bytes of delayed lines one client may have waiting; past
    /// them it is closed for "Excess Flood".
    #[arg(long, value_name = "BYTES", default_value_t = ServerConfig::default().flood_queue_bytes)]
    flood_queue_bytes: usize,

    /// The name this server gives itself in replies.
    #[arg(long, value_name = "NAME", default_value = "natter")]
    server_name: String,

    /// PEM certificate (chain) for TLS; with --tls-key turns on the TLS port.
    /// SIGHUP reloads it (and the key) for new connections.
    #[arg(long, value_name = "FILE", requires = "tls_key")]
    tls_cert: Option<PathBuf>,

    /// PEM private key (RSA, ECDSA or Ed25519) for --tls-cert.
    #[arg(long, value_name = "FILE", requires = "tls_cert")]
    tls_key: Option<PathBuf>,

    /// The TLS port, beside the plaintext PORT.
    #[arg(long, value_name = "PORT", default_value_t = tls::DEFAULT_TLS_PORT)]
    tls_port: u16,

    /// Turn the plaintext port off (TLS only).
    #[arg(long, requires = "tls_cert")]
    no_plaintext: bool,

    /// Seconds a client gets to finish the TLS handshake before it is closed.
    #[arg(long, value_name = "SECS", default_value_t = tls::DEFAULT_HANDSHAKE_TIMEOUT.as_secs(),
          value_parser = clap::value_parser!(u64).range(1..=3600))]
    tls_handshake_timeout: u64,

    /// Most TLS handshakes under way at once; more connections wait in the
    /// kernel's listen queue until one finishes or times out.
    #[arg(long, value_name = "N", default_value_t = tls::DEFAULT_MAX_HANDSHAKES as u64,
          value_parser = clap::value_parser!(u64).range(1..=1_000_000))]
    tls_max_handshakes: u64,

    /// How long (seconds) clients that support IRCv3 STS must keep using TLS
    /// once they have connected securely; 0 withdraws an earlier policy.
    #[arg(long, value_name = "SECS", default_value_t = tls::DEFAULT_STS_DURATION_SECS)]
    sts_duration: u64,

    /// Do not advertise the IRCv3 `sts` capability.
    #[arg(long)]
    no_sts: bool,

    /// Write a self-signed certificate and key for HOSTNAME (to
    /// natter-cert.pem and natter-key.pem, or the --tls-cert/--tls-key
    /// paths), print its fingerprint and the natter-client command, and exit.
    #[arg(long, value_name = "HOSTNAME")]
    tls_self_signed: Option<String>,
    /// Where the databases (history.sqlite3, state.sqlite3) live; created on first
    /// start. Default: the directory of --log-file.
    #[arg(long, value_name = "DIR")]
    data_dir: Option<PathBuf>,

    /// Keep history in memory only: nothing survives a restart, and lines
    /// are sent without waiting for the disk.
    #[arg(long)]
    no_persist: bool,

    /// Wait for the disk (fdatasync) after every history journal write, so
    /// that what clients were sent survives a power cut too. Without it,
    /// history survives the server being killed at any moment (kill -9);
    /// a power cut may lose the last ~30 s the kernel had not written back.
    #[arg(long, conflicts_with = "no_persist")]
    fsync: bool,

    /// How many of a room's latest messages a client gets when it joins.
    #[arg(long, value_name = "N", default_value_t = ServerConfig::default().history_on_join)]
    history_on_join: usize,

    /// Most messages kept per room.
    #[arg(long, value_name = "N", default_value_t = ServerConfig::default().history_max_messages,
          value_parser = clap::builder::RangedU64ValueParser::<usize>::new().range(1..))]
    history_max_messages: usize,

    /// Forget messages older than this: seconds, or with a unit (90m, 12h, 30d).
    /// Default: keep them until --history-max-messages pushes them out.
    #[arg(long, value_name = "AGE", value_parser = parse_age)]
    history_max_age: Option<u64>,

    /// A server operator: its NAME for `OPER NAME password`, and the argon2id
    /// HASH of the password (from --hash-password; quote it, it holds `$`).
    /// Repeat for more operators.
    #[arg(long = "oper", value_name = "NAME:HASH", value_parser = parse_oper)]
    opers: Vec<(String, String)>,

    /// An account whose users are server operators while logged in to it
    /// (381 and +o on logging in, -o on logging out), besides --oper.
    /// Repeat for more.
    #[arg(long = "oper-account", value_name = "ACCOUNT", value_parser = parse_account)]
    oper_accounts: Vec<String>,

    /// An account whose users flood control never slows down while logged
    /// in to it (a bot, a bridge). Repeat for more.
    #[arg(long = "flood-exempt-account", value_name = "ACCOUNT", value_parser = parse_account)]
    flood_exempt_accounts: Vec<String>,

    /// Read a password from standard input, print its argon2id hash (for
    /// --oper), and exit.
    #[arg(long)]
    hash_password: bool,

    /// Most simultaneous connections from one IP address; more are refused
    /// with an ERROR saying why. 0: no limit.
    #[arg(long, value_name = "N", default_value_t = limits::DEFAULT_MAX_PER_IP)]
    max_conns_per_ip: u32,

    /// Most simultaneous connections from one network (an IPv4 /24 or an
    /// IPv6 /64). 0: no limit.
    #[arg(long, value_name = "N", default_value_t = limits::DEFAULT_MAX_PER_NET)]
    max_conns_per_net: u32,

    /// Most new connections one address (IPv6: one /64) may open per
    /// window, as N/SECS; 0 turns the throttle off.
    #[arg(long, value_name = "N/SECS", default_value_t = limits::DEFAULT_RATE.to_string(),
          value_parser = parse_conn_rate)]
    conn_rate: String,

    /// An address or network (CIDR) exempt from the connection limits,
    /// e.g. a bouncer or web gateway. Repeat for more.
    #[arg(long = "limit-exempt", value_name = "CIDR", value_parser = parse_cidr)]
    limit_exempt: Vec<Cidr>,

    /// Apply the connection limits to loopback (127.0.0.0/8, ::1) too;
    /// by default this machine's own connections are exempt.
    #[arg(long)]
    limit_loopback: bool,

    /// Seconds someone may hold a registered nick without logging in to
    /// its account before being renamed to a guest nick.
    #[arg(long, value_name = "SECS", default_value_t = ServerConfig::default().nick_grace_secs)]
    nick_grace: u64,

    /// Offer SASL PLAIN on plaintext connections from other machines too
    /// (by default only over TLS or loopback: PLAIN sends the password as is).
    #[arg(long)]
    sasl_plain_without_tls: bool,

    /// Serve the web chat page on this port: open http://HOST:PORT/ in a
    /// browser. The same port carries IRC over WebSocket (IRCv3
    /// `text.ircv3.net` and `binary.ircv3.net`) for any web client.
    #[arg(long, value_name = "PORT")]
    web_port: Option<u16>,

    /// The web page over HTTPS (and `wss://`) on this port, with the IRC
    /// TLS port's certificate (--tls-cert and --tls-key).
    #[arg(long, value_name = "PORT", requires = "tls_cert")]
    web_tls_port: Option<u16>,

    /// A web origin (`https://chat.example.com`) whose pages may open
    /// WebSockets here, besides natter's own page; `*` allows every site.
    /// Repeat for more.
    #[arg(long = "web-origin", value_name = "ORIGIN", value_parser = parse_origin)]
    web_origins: Vec<String>,

    /// Run as one node of a cluster: the NATS server (with JetStream) that
    /// holds the cluster's log, e.g. `nats://127.0.0.1:4222`. Repeat for
    /// the other NATS servers of a NATS cluster (failover). The log in
    /// JetStream is then the durable store: no local history database.
    #[arg(long = "cluster", value_name = "NATS_URL")]
    cluster: Vec<String>,

    /// This node's name in the cluster, unique among its nodes
    /// (default: the server name).
    #[arg(long, value_name = "NAME", requires = "cluster")]
    node_name: Option<String>,

    /// Copies of the cluster's log that JetStream keeps (3 survives the
    /// loss of any one NATS server of three; 1 for a single NATS server).
    #[arg(long, value_name = "N", default_value_t = 3,
          value_parser = clap::value_parser!(u8).range(1..=5))]
    cluster_replicas: u8,

    /// Seconds a node may go unheard before the others declare it down
    /// and its users leave (they reconnect to another node).
    #[arg(long, value_name = "SECS", default_value_t = 10,
          value_parser = clap::value_parser!(u64).range(2..=3600))]
    cluster_lease: u64,

    /// Entries of the cluster's log between two snapshots of the whole
    /// replicated state: a starting node reads the newest snapshot and the
    /// entries after it, and the log is trimmed behind the older of the
    /// newest two (0: never snapshot, keep the whole log).
    #[arg(long, value_name = "ENTRIES", default_value_t = 100_000)]
    cluster_snapshot_every: u64,
}

/// `scheme://host[:port]` (or `*`) for --web-origin, as browsers send it.
fn parse_origin(text: &str) -> Result<String, String> {
    let text = text.trim().trim_end_matches('/');
    let well_formed = text == "*"
        || text.split_once("://").is_some_and(|(scheme, host)| {
            matches!(scheme, "http" | "https") && !host.is_empty() && !host.contains('/')
        });
    if well_formed {
        Ok(text.to_string())
    } else {
        Err(format!(
            "{text:?} is not an origin: write it as the browser shows it, \
             e.g. https://chat.example.com or http://localhost:8080 (no path)"
        ))
    }
}

/// `N/SECS` or `0` for --conn-rate, checked here and kept as text (clap
/// shows the default as text).
fn parse_conn_rate(text: &str) -> Result<String, String> {
    limits::ConnRate::parse(text)
        .map(|_| text.trim().to_string())
        .map_err(|e| e.to_string())
}

fn parse_cidr(text: &str) -> Result<Cidr, String> {
    text.parse().map_err(|e: limits::LimitError| e.to_string())
}

impl Args {
    /// The operator and flood-exempt accounts, case-folded.
    fn account_sets(&self) -> (BTreeSet<String>, BTreeSet<String>) {
        let fold = |names: &[String]| names.iter().map(|n| casefold(n)).collect();
        (fold(&self.oper_accounts), fold(&self.flood_exempt_accounts))
    }

    /// The connection limits the options ask for.
    fn limits(&self) -> LimitSettings {
        LimitSettings {
            max_per_ip: self.max_conns_per_ip,
            max_per_net: self.max_conns_per_net,
            // Checked by parse_conn_rate.
            rate: limits::ConnRate::parse(&self.conn_rate).unwrap_or(None),
            exempt_loopback: !self.limit_loopback,
            exempt: self.limit_exempt.clone(),
        }
    }
}

/// An account name for --oper-account and --flood-exempt-account: one that
/// could be registered (a valid nickname).
fn parse_account(text: &str) -> Result<String, String> {
    if natter::core::is_valid_account_name(text) {
        Ok(text.to_string())
    } else {
        Err(format!(
            "{text:?} cannot be an account name: give the account's name as registered \
             (a valid nickname, e.g. alice)"
        ))
    }
}

/// `NAME:HASH` for --oper: a name OPER can carry (one word) and an argon2id
/// PHC string.
fn parse_oper(text: &str) -> Result<(String, String), String> {
    let Some((name, hash)) = text.split_once(':') else {
        return Err(format!(
            "{text:?} is not NAME:HASH: e.g. --oper 'alice:$argon2id$v=19$…' \
             (make the hash with --hash-password)"
        ));
    };
    let word = |c: char| !c.is_whitespace() && !c.is_control() && c != ',';
    if name.is_empty() || name.starts_with(':') || !name.chars().all(word) || name.len() > 64 {
        return Err(format!(
            "operator name {name:?} must be one word of at most 64 bytes (no spaces or commas)"
        ));
    }
    natter::net::password::check_hash(hash).map_err(|e| format!("--oper {name}: {e}"))?;
    Ok((name.to_string(), hash.to_string()))
}

/// `--hash-password`: reads one line (the password) from standard input and
/// prints its hash; the password itself is never printed.
fn hash_password_from_stdin() -> Result<(), String> {
    let mut line = String::new();
    std::io::stdin()
        .read_line(&mut line)
        .map_err(|e| format!("cannot read the password from standard input: {e}"))?;
    let password = line.strip_suffix('\n').unwrap_or(&line);
    let password = password.strip_suffix('\r').unwrap_or(password);
    if password.is_empty() {
        return Err(
            "no password on standard input: e.g. `read -rs PW; echo \"$PW\" | \
                    natter-server --hash-password`"
                .to_string(),
        );
    }
    let hash = natter::net::password::hash_password(password).map_err(|e| e.to_string())?;
    println!("{hash}");
    Ok(())
}

/// `90`, `90s`, `15m`, `12h`, `30d` as seconds.
fn parse_age(text: &str) -> Result<u64, String> {
    let (digits, unit) = match text.find(|c: char| !c.is_ascii_digit()) {
        Some(i) => text.split_at(i),
        None => (text, "s"),
    };
    let n: u64 = digits
        .parse()
        .map_err(|_| format!("{text:?} is not an age: use e.g. 3600, 90m, 12h or 30d"))?;
    let unit = match unit {
        "s" => 1,
        "m" => 60,
        "h" => 3600,
        "d" => 86_400,
        _ => {
            return Err(format!(
                "unknown unit in {text:?}: use s, m, h or d (e.g. 30d)"
            ))
        }
    };
    Ok(n.saturating_mul(unit))
}

fn read_motd(path: &PathBuf) -> Result<Vec<String>, String> {
    std::fs::read_to_string(path)
        .map(|text| text.lines().map(str::to_string).collect())
        .map_err(|e| {
            format!(
                "cannot read the MOTD file {}: {e}; check the path given to --motd",
                path.display()
            )
        })
}

/// `--tls-self-signed`: writes the files (never over existing ones) and says
/// how to use them.
fn self_signed(hostname: &str, args: &Args) -> Result<(), String> {
    let cert = args
        .tls_cert
        .clone()
        .unwrap_or_else(|| PathBuf::from("natter-cert.pem"));
    let key = args
        .tls_key
        .clone()
        .unwrap_or_else(|| PathBuf::from("natter-key.pem"));
    for path in [&cert, &key] {
        if path.exists() {
            return Err(format!(
                "{} already exists: delete it first, or choose other files with \
                 --tls-cert/--tls-key (clients that pinned the old certificate \
                 would need the new fingerprint)",
                path.display()
            ));
        }
    }
    let fingerprint = tls::write_self_signed(hostname, &cert, &key).map_err(|e| e.to_string())?;
    let port = args.tls_port;
    println!(
        "Wrote a self-signed certificate for {hostname} to {} and its key to {}.",
        cert.display(),
        key.display()
    );
    println!("SHA-256 fingerprint: {fingerprint}");
    println!("Start the server with:");
    let port_arg = match port {
        tls::DEFAULT_TLS_PORT => String::new(),
        other => format!(" --tls-port {other}"),
    };
    println!(
        "  natter-server --tls-cert {} --tls-key {}{port_arg}",
        cert.display(),
        key.display()
    );
    println!("Connect with:");
    println!("  natter-client --tls --tls-fingerprint {fingerprint} USERNAME {hostname} {port}");
    Ok(())
}

/// Options that are one-off actions or the file itself: no file keys.
const NOT_SETTINGS: &[&str] = &["config", "hash_password", "tls_self_signed"];

/// The options: the command line `cli`, over the `--config` file if it
/// names one (read afresh on every call, so SIGHUP sees edits).
fn parse_args(cli: &[OsString]) -> Result<Args, String> {
    // Help, version and command-line mistakes exit here, as clap does.
    let args = Args::parse_from(cli);
    let Some(path) = &args.config else {
        return Ok(args);
    };
    let file = ConfigFile::read(path).map_err(|e| e.to_string())?;
    let matches = settings::merge(Args::command(), cli, Some(&file), NOT_SETTINGS)
        .map_err(|e| e.to_string())?;
    Args::from_arg_matches(&matches).map_err(|e| e.to_string())
}

fn main() -> ExitCode {
    let cli: Vec<OsString> = std::env::args_os().collect();
    let result = parse_args(&cli).and_then(|args| match &args.tls_self_signed {
        _ if args.hash_password => hash_password_from_stdin(),
        Some(hostname) => self_signed(hostname, &args),
        None => run(args, &cli),
    });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("natter-server: {message}");
            ExitCode::FAILURE
        }
    }
}

/// What a reload must not change without a restart: (key, value) pairs.
fn restart_only(args: &Args) -> Vec<(&'static str, String)> {
    vec![
        ("port", args.port.to_string()),
        ("bind", args.bind.to_string()),
        ("tls_port", args.tls_port.to_string()),
        ("no_plaintext", args.no_plaintext.to_string()),
        (
            "tls_cert/tls_key (turning TLS on or off)",
            args.tls_cert.is_some().to_string(),
        ),
        ("log_file", format!("{:?}", args.log_file)),
        ("data_dir", format!("{:?}", args.data_dir)),
        ("no_persist", args.no_persist.to_string()),
        ("fsync", args.fsync.to_string()),
        ("threads", args.threads.to_string()),
        ("server_name", args.server_name.clone()),
        ("password", format!("{:?}", args.password)),
        ("sendq", args.sendq.to_string()),
        ("coalesce_ms", args.coalesce_ms.to_string()),
        (
            "history_max_messages",
            args.history_max_messages.to_string(),
        ),
        ("history_max_age", format!("{:?}", args.history_max_age)),
        ("history_on_join", args.history_on_join.to_string()),
        ("web_port", format!("{:?}", args.web_port)),
        ("web_tls_port", format!("{:?}", args.web_tls_port)),
        ("web_origin", format!("{:?}", args.web_origins)),
        ("cluster", format!("{:?}", args.cluster)),
        ("node_name", format!("{:?}", args.node_name)),
        ("cluster_replicas", args.cluster_replicas.to_string()),
        ("cluster_lease", args.cluster_lease.to_string()),
        (
            "cluster_snapshot_every",
            args.cluster_snapshot_every.to_string(),
        ),
    ]
}

/// SIGHUP: reads the configuration again and applies what can change while
/// running. Everything is checked before anything changes: on any error
/// the old configuration stays whole. Returns what was reloaded.
fn reload(server: &RunningServer, started: &Args, cli: &[OsString]) -> Result<String, String> {
    let kept = |e: String| format!("kept the old configuration: {e}");
    if !started.cluster.is_empty() {
        // Every node's core must run the same rules from the same point
        // of the log; a reload on one node would set it apart.
        return Err(kept(
            "a cluster node is not reloaded: restart the nodes one by one with the new settings"
                .into(),
        ));
    }
    let args = parse_args(cli).map_err(kept)?;
    let motd = match &args.motd {
        Some(path) => read_motd(path).map_err(kept)?,
        None => Vec::new(),
    };
    if let (Some(cert), Some(key)) = (&args.tls_cert, &args.tls_key) {
        server.reload_tls_from(cert, key).map_err(|e| {
            format!(
                "kept the old TLS certificate (and the old configuration), \
                 the new one is unusable: {e}"
            )
        })?;
    }
    server.set_limits(args.limits());
    let (oper_accounts, flood_exempt_accounts) = args.account_sets();
    server.reconfigure(LiveSettings {
        motd,
        opers: args.opers.iter().cloned().collect(),
        flood_lines_per_sec: args.flood_rate,
        flood_burst_lines: args.flood_burst,
        oper_accounts,
        flood_exempt_accounts,
    });
    let before = restart_only(started);
    let unchanged: Vec<&str> = restart_only(&args)
        .iter()
        .zip(&before)
        .filter(|(now, then)| now != then)
        .map(|((key, _), _)| *key)
        .collect();
    let mut done =
        "reloaded the connection limits, flood settings, operators, operator and flood-exempt \
         accounts, MOTD"
            .to_string();
    if args.tls_cert.is_some() {
        done.push_str(" and TLS certificate");
    }
    if !unchanged.is_empty() {
        done.push_str(&format!(
            "; not changed until a restart: {}",
            unchanged.join(", ")
        ));
    }
    Ok(done)
}

fn run(args: Args, cli: &[OsString]) -> Result<(), String> {
    let started = args.clone();
    let limits = args.limits();
    let motd = match &args.motd {
        Some(path) => read_motd(path)?,
        None => Vec::new(),
    };
    if let Err(e) = net::raise_open_files_limit() {
        eprintln!("natter-server: could not raise the open-files limit: {e}");
    }
    let _file_size_limit = net::survive_file_size_limit()
        .map_err(|e| eprintln!("natter-server: could not catch SIGXFSZ: {e}"))
        .ok();
    let mut signals =
        net::shutdown_signals().map_err(|e| format!("cannot listen for Ctrl-C/SIGTERM: {e}"))?;
    let (oper_accounts, flood_exempt_accounts) = args.account_sets();
    let config = ServerConfig {
        server_name: args.server_name,
        password: args.password,
        motd,
        flood_lines_per_sec: args.flood_rate,
        flood_burst_lines: args.flood_burst,
        flood_queue_lines: args.flood_queue,
        flood_queue_bytes: args.flood_queue_bytes,
        created: chrono::Local::now().format("%Y-%m-%d %H:%M:%S").to_string(),
        history_on_join: args.history_on_join,
        history_max_messages: args.history_max_messages,
        history_max_age_secs: args.history_max_age.unwrap_or(0),
        // server.log's zone, for history replayed as plain text.
        utc_offset_secs: chrono::Local::now().offset().local_minus_utc(),
        opers: args.opers.iter().cloned().collect(),
        nick_grace_secs: args.nick_grace,
        sasl_plain_without_tls: args.sasl_plain_without_tls,
        oper_accounts,
        flood_exempt_accounts,
        ..ServerConfig::default()
    };
    let tls = match (&args.tls_cert, &args.tls_key) {
        (Some(cert), Some(key)) => Some(TlsOptions {
            port: args.tls_port,
            handshake_timeout: Duration::from_secs(args.tls_handshake_timeout),
            max_handshakes: usize::try_from(args.tls_max_handshakes).unwrap_or(usize::MAX),
            sts_duration_secs: (!args.no_sts).then_some(args.sts_duration),
            ..TlsOptions::new(cert, key)
        }),
        _ => None,
    };
    // Registered before starting, so an early SIGHUP reloads instead of killing.
    let mut reloads =
        Some(net::reload_signals().map_err(|e| format!("cannot listen for SIGHUP: {e}"))?);
    let data_dir = args
        .data_dir
        .clone()
        .unwrap_or_else(|| match args.log_file.parent() {
            Some(dir) if !dir.as_os_str().is_empty() => dir.to_path_buf(),
            _ => PathBuf::from("."),
        });
    let cluster = (!args.cluster.is_empty()).then(|| net::ClusterOptions {
        urls: args.cluster.clone(),
        node_name: args
            .node_name
            .clone()
            .unwrap_or_else(|| config.server_name.clone()),
        replicas: usize::from(args.cluster_replicas),
        lease_secs: args.cluster_lease,
        snapshot_every: args.cluster_snapshot_every,
    });
    // A cluster's durable store is its log in JetStream.
    let store = (!args.no_persist && cluster.is_none()).then(|| StoreOptions {
        data_dir,
        max_messages: args.history_max_messages,
        max_age_secs: args.history_max_age.unwrap_or(0),
        fsync: args.fsync,
    });
    let options = ServerOptions {
        bind: args.bind,
        port: args.port,
        plaintext: !args.no_plaintext,
        tls,
        sendq_bytes: args.sendq,
        coalesce: Duration::from_millis(args.coalesce_ms),
        threads: usize::from(args.threads),
        log: Some(LogOptions {
            path: args.log_file,
            rotate_size: args.log_rotate_size,
            keep_files: args.log_keep,
        }),
        limits,
        config,
        store,
        web: net::WebOptions {
            port: args.web_port,
            tls_port: args.web_tls_port,
            origins: args.web_origins.clone(),
        },
        cluster,
    };
    let server = RunningServer::start(options).map_err(|e| e.to_string())?;
    if let Some(addr) = server.plaintext_addr() {
        eprintln!("natter-server listening on {addr}");
    }
    if let Some(addr) = server.tls_addr() {
        eprintln!("natter-server listening for TLS on {addr}");
    }
    if let Some(addr) = server.web_addr() {
        eprintln!("natter-server serving the web chat on http://{addr}/");
    }
    if let Some(addr) = server.web_tls_addr() {
        eprintln!("natter-server serving the web chat on https://{addr}/");
    }
    loop {
        let stop = async { Some(signals.next().await) };
        let hup = async {
            match reloads.as_mut() {
                Some(reloads) => {
                    reloads.next().await;
                    None
                }
                None => std::future::pending().await,
            }
        };
        // A cluster node stops by itself when it cannot join (it said why).
        let stopped = async {
            while !server.has_stopped() {
                smol::Timer::after(Duration::from_millis(250)).await;
            }
            Some(None)
        };
        match smol::block_on(stop.or(hup).or(stopped)) {
            Some(None) if server.has_stopped() => {
                return Err("stopped: see above".into());
            }
            Some(signal) => {
                if let Some(Ok(signal)) = signal {
                    eprintln!("natter-server: {signal:?} received, shutting down");
                }
                break;
            }
            None => match reload(&server, &started, cli) {
                Ok(done) => eprintln!("natter-server: SIGHUP: {done}"),
                Err(e) => eprintln!("natter-server: SIGHUP: {e}"),
            },
        }
    }
    server.shutdown();
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const EXAMPLE: &str = include_str!("../../docs/natter.example.toml");

    /// The example with every `# key = value` line (and the lines of a
    /// commented list) uncommented.
    fn uncommented(text: &str) -> String {
        let mut out = String::new();
        let mut in_list = false;
        for line in text.lines() {
            let bare = line.strip_prefix("# ").unwrap_or(line);
            let is_setting = line.starts_with("# ")
                && bare.split_once(" = ").is_some_and(|(key, _)| {
                    key.chars().all(|c| c.is_ascii_lowercase() || c == '_')
                });
            if is_setting || (in_list && line.starts_with('#')) {
                in_list = bare.trim_end().ends_with('[') || (in_list && bare.trim() != "]");
                out.push_str(bare);
            } else {
                out.push_str(line);
            }
            out.push('\n');
        }
        out
    }

    fn merged(text: &str) -> Result<Args, String> {
        let file = ConfigFile::new("docs/natter.example.toml", text);
        let matches = settings::merge(
            Args::command(),
            ["natter-server"],
            Some(&file),
            NOT_SETTINGS,
        )
        .map_err(|e| e.to_string())?;
        Args::from_arg_matches(&matches).map_err(|e| e.to_string())
    }

    #[test]
    fn every_command_line_option_has_a_key_in_the_example_file() {
        let command = Args::command();
        for arg in command.get_arguments() {
            let id = arg.get_id().as_str();
            if NOT_SETTINGS.contains(&id) || matches!(id, "help" | "version") {
                continue;
            }
            let key = settings::key_of(arg);
            assert!(
                EXAMPLE.contains(&format!("\n# {key} = "))
                    || EXAMPLE.contains(&format!("\n{key} = ")),
                "docs/natter.example.toml does not document `{key}`"
            );
        }
    }

    #[test]
    fn the_example_file_parses_as_shipped_and_with_every_line_uncommented() {
        let args = merged(EXAMPLE).expect("the example as shipped");
        assert_eq!(args.max_conns_per_ip, limits::DEFAULT_MAX_PER_IP);
        let all = uncommented(EXAMPLE);
        let args = merged(&all).unwrap_or_else(|e| panic!("{e}\n{all}"));
        assert_eq!(args.opers.len(), 1);
        assert_eq!(args.limit_exempt.len(), 3);
        assert_eq!(args.history_max_age, Some(30 * 86_400));
        assert_eq!(args.tls_cert, Some(PathBuf::from("natter-cert.pem")));
    }

    #[test]
    fn the_command_line_wins_over_the_file() {
        let file = ConfigFile::new("n.toml", "max_conns_per_ip = 4\nflood_rate = 7\n");
        let cli = ["natter-server", "--max-conns-per-ip", "9"];
        let matches =
            settings::merge(Args::command(), cli, Some(&file), NOT_SETTINGS).expect("a good file");
        let args = Args::from_arg_matches(&matches).expect("args");
        assert_eq!((args.max_conns_per_ip, args.flood_rate), (9, 7));
    }

    #[test]
    fn a_bad_cidr_in_the_file_names_the_line_and_says_what_to_write() {
        let error = merged("\n\nlimit_exempt = [\"10.1.2.3/8\"]\n").expect_err("host bits");
        assert!(
            error.contains("line 3: bad value for `limit_exempt`"),
            "{error}"
        );
        assert!(error.contains("did you mean 10.0.0.0/8?"), "{error}");
    }
}
