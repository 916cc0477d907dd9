//! `natter-server --config natter.toml` end to end: the built binary, a real
//! file, real sockets and a real SIGHUP.
#[path = "common/e2e.rs"]
mod e2e;

use e2e::{run_server_expecting_exit, temp_dir, Client, ServerProcess};
use std::net::SocketAddr;
use std::path::Path;
use std::time::{Duration, Instant};

fn path_str(path: &Path) -> &str {
    path.to_str().expect("a UTF-8 temp path")
}

/// Registers and returns the MOTD text lines (372) it was sent, or `None`
/// when the server refused the connection with an ERROR line.
fn motd_of(addr: SocketAddr, nick: &str) -> Option<(Client, Vec<String>)> {
    let mut client = Client::connect(addr, nick);
    // A refused connection may be closed before these arrive.
    let register = format!(
        "NICK {nick}\r\nUSER {} 0 * :{nick}\r\n",
        nick.to_lowercase()
    );
    let _ = client.try_send_raw(register.as_bytes());
    let mut lines = Vec::new();
    loop {
        let line = client.read_line()?;
        if line.starts_with("ERROR") {
            return None;
        }
        if line.contains(" 372 ") {
            let text = line.rsplit(" :- ").next().unwrap_or_default();
            lines.push(text.to_string());
        }
        if line.contains(" 376 ") || line.contains(" 422 ") {
            return Some((client, lines));
        }
    }
}

fn sighup(server: &ServerProcess) {
    let status = std::process::Command::new("kill")
        .args(["-HUP", &server.child.id().to_string()])
        .status()
        .expect("run kill");
    assert!(status.success());
}

#[test]
fn an_unknown_key_stops_startup_naming_the_file_line_and_key() {
    let dir = temp_dir("config-unknown-key");
    let config = dir.join("natter.toml");
    std::fs::write(&config, "# limits\nmax_conns_per_host = 3\n").expect("write config");
    let (status, stderr) = run_server_expecting_exit(&["--config", path_str(&config)]);
    assert!(!status.success());
    let want = format!(
        "natter-server: {} line 2: unknown key `max_conns_per_host`",
        config.display()
    );
    assert!(stderr.starts_with(&want), "{stderr}");
}

#[test]
fn a_bad_value_stops_startup_saying_what_the_key_wants() {
    let dir = temp_dir("config-bad-value");
    let config = dir.join("natter.toml");
    std::fs::write(&config, "conn_rate = \"lots\"\n").expect("write config");
    let (status, stderr) = run_server_expecting_exit(&["--config", path_str(&config)]);
    assert!(!status.success());
    assert!(
        stderr.contains("line 1: bad value for `conn_rate`"),
        "{stderr}"
    );
    assert!(stderr.contains("N/SECS"), "{stderr}");
}

#[test]
fn sighup_reloads_the_motd_and_limits_from_the_file_and_keeps_them_if_it_is_broken() {
    let dir = temp_dir("config-sighup");
    let config = dir.join("natter.toml");
    let motd = dir.join("motd.txt");
    let log = dir.join("server.log");
    std::fs::write(&motd, "Welcome one\n").expect("write motd");
    let settings = |max: u32| {
        format!(
            "motd = {:?}\nmax_conns_per_ip = {max}\nlimit_loopback = true\n",
            path_str(&motd)
        )
    };
    std::fs::write(&config, settings(1)).expect("write config");
    let server = ServerProcess::start(&[
        "--config",
        path_str(&config),
        "--log-file",
        path_str(&log),
        "--no-persist",
    ]);
    let addr = server.addr;

    let (mut first, said) = motd_of(addr, "First").expect("the first connection is taken");
    assert_eq!(said, ["Welcome one"]);
    assert!(
        motd_of(addr, "Refused").is_none(),
        "the file's limit of 1 holds"
    );

    std::fs::write(&motd, "Welcome two\n").expect("rewrite motd");
    std::fs::write(&config, settings(2)).expect("rewrite config");
    sighup(&server);
    let deadline = Instant::now() + Duration::from_secs(10);
    let (_second, said) = loop {
        if let Some(joined) = motd_of(addr, "Second") {
            break joined;
        }
        assert!(Instant::now() < deadline, "the new limit never came");
        std::thread::sleep(Duration::from_millis(50));
    };
    assert_eq!(said, ["Welcome two"]);
    first.sync(); // the reload disturbed no one

    std::fs::write(&config, "max_conns_per_ip = \"many\"\n").expect("break config");
    sighup(&server);
    assert!(motd_of(addr, "Third").is_none(), "the old limit of 2 stays");
    first.sync();
    // SIGHUP and SIGTERM are separate streams: let the reload be reported
    // before asking the server to stop.
    std::thread::sleep(Duration::from_millis(300));

    let (_, stderr) = server.terminate();
    let said = stderr.join("\n");
    assert!(
        said.contains("natter-server: SIGHUP: reloaded the connection limits"),
        "{said}"
    );
    assert!(
        said.contains("natter-server: SIGHUP: kept the old configuration: ")
            && said.contains("line 1: bad value for `max_conns_per_ip`"),
        "{said}"
    );
}
