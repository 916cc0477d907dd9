//! natter-client's options and configuration file, through the real binary
//! in a pipe: the file's nick, server, port and rooms are used, the command
//! line wins, and mistakes are usage errors (status 2) that say what to do.

#[path = "common/client_process.rs"]
mod client_process;

use client_process::CLIENT;
use natter::net::{RunningServer, ServerOptions};
use std::io::Write;
use std::net::{IpAddr, Ipv4Addr};
use std::path::PathBuf;
use std::process::{Command, Output, Stdio};

fn client(args: &[&str], home: &std::path::Path, input: &str) -> Output {
    let mut child = Command::new(CLIENT)
        .args(args)
        .env("HOME", home)
        .env("XDG_CONFIG_HOME", home.join(".config"))
        .env_remove("NATTER_PASSWORD")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start natter-client");
    if let Some(mut stdin) = child.stdin.take() {
        let _ = stdin.write_all(input.as_bytes());
    }
    child.wait_with_output().expect("natter-client runs")
}

/// An empty home directory of the test's own.
fn home(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("natter-options-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(dir.join(".config/natter")).expect("make a home");
    dir
}

#[test]
fn the_configuration_file_gives_nick_server_port_and_rooms() {
    let server = RunningServer::start(ServerOptions {
        bind: IpAddr::V4(Ipv4Addr::LOCALHOST),
        port: 0,
        ..ServerOptions::default()
    })
    .expect("natter server starts");
    let port = server.local_addr().port();
    let home = home("file");
    std::fs::write(
        home.join(".config/natter/client.toml"),
        format!("nick = \"fromfile\"\nserver = \"127.0.0.1\"\nport = {port}\nrooms = [\"#one\", \"#two\"]\n"),
    )
    .expect("write the file");
    let out = client(&[], &home, "hello\n");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("*** You joined #one"), "{stdout}");
    assert!(stdout.contains("*** You joined #two"), "{stdout}");
    assert!(stdout.contains("fromfile"), "{stdout}");

    // The command line wins over the file.
    let out = client(
        &["other", "127.0.0.1", &port.to_string(), "--room", "#three"],
        &home,
        "",
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("*** You joined #three"), "{stdout}");
    assert!(!stdout.contains("#one"), "{stdout}");
    let _ = std::fs::remove_dir_all(&home);
}

#[test]
fn mistakes_in_options_and_the_file_are_usage_errors_that_say_what_to_do() {
    let home = home("mistakes");
    let cases: &[(&[&str], &str)] = &[
        (
            &["a", "127.0.0.1", "1", "--timestamp-format", "%H:%Q"],
            "not a strftime format",
        ),
        (
            &["a", "127.0.0.1", "1", "--nick-color", "plaid"],
            "expected hash, off, or a colour",
        ),
        (
            &[
                "a",
                "127.0.0.1",
                "1",
                "--config",
                "/nonexistent/client.toml",
            ],
            "cannot read",
        ),
        (&[], "give USERNAME HOST PORT"),
    ];
    for (args, says) in cases {
        let out = client(args, &home, "");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {stderr}");
        assert!(stderr.contains(says), "{args:?}: {stderr}");
    }

    let file = home.join(".config/natter/client.toml");
    std::fs::write(&file, "nick = \"a\"\n\nnik = \"typo\"\n").expect("write");
    let out = client(&[], &home, "");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("nik") && stderr.contains("line 3"),
        "{stderr}"
    );

    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::write(&file, "password = \"hunter2\"\n").expect("write");
        let _ = std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o644));
        let out = client(&["a", "127.0.0.1", "1"], &home, "");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{stderr}");
        assert!(stderr.contains("chmod 600"), "{stderr}");
    }
    let _ = std::fs::remove_dir_all(&home);
}
