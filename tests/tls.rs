//! TLS end to end: natter-server's TLS port beside its plaintext one, and
//! natter-client's certificate checks. Every certificate is made at test
//! time with rcgen in a temporary directory. No timing assertions: waits are
//! bounded only so a broken build fails instead of hanging.

#[path = "common/e2e.rs"]
mod e2e;

use e2e::{
    count, python_irc_client_available, server_options, start_with, temp_dir, Client, READ_TIMEOUT,
};
use natter::client::tls::{handshake, TlsReader, TlsWriter, Trust};
use natter::net::{NetError, RunningServer, ServerOptions, TlsOptions};
use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, SystemTime};

const CLIENT: &str = env!("CARGO_BIN_EXE_natter-client");
const DAY: Duration = Duration::from_secs(24 * 3600);

// ----- certificates ---------------------------------------------------------

/// A certificate and key written as PEM files, with the leaf's fingerprint.
struct CertFiles {
    cert: PathBuf,
    key: PathBuf,
    fingerprint: [u8; 32],
}

fn params(names: &[&str], valid_from: SystemTime, valid_to: SystemTime) -> CertificateParams {
    let names: Vec<String> = names.iter().map(|s| s.to_string()).collect();
    let mut params = CertificateParams::new(names).expect("valid names");
    params
        .distinguished_name
        .push(DnType::CommonName, "natter test");
    params.not_before = valid_from.into();
    params.not_after = valid_to.into();
    params
}

fn valid_now(names: &[&str]) -> CertificateParams {
    let now = SystemTime::now();
    params(names, now - DAY, now + 30 * DAY)
}

fn write_pair(dir: &Path, stem: &str, cert_pem: &str, key: &KeyPair, leaf_der: &[u8]) -> CertFiles {
    let cert = dir.join(format!("{stem}-cert.pem"));
    let key_path = dir.join(format!("{stem}-key.pem"));
    std::fs::write(&cert, cert_pem).expect("write cert");
    std::fs::write(&key_path, key.serialize_pem()).expect("write key");
    CertFiles {
        cert,
        key: key_path,
        fingerprint: natter::fingerprint::sha256(leaf_der),
    }
}

/// A self-signed certificate for `names`, with a key of the given kind.
fn self_signed_with(dir: &Path, stem: &str, names: &[&str], key: KeyPair) -> CertFiles {
    let cert = valid_now(names).self_signed(&key).expect("self-sign");
    write_pair(dir, stem, &cert.pem(), &key, cert.der())
}

fn self_signed(dir: &Path, stem: &str, names: &[&str]) -> CertFiles {
    self_signed_with(dir, stem, names, KeyPair::generate().expect("key"))
}

/// A private certificate authority that signs server certificates.
struct TestCa {
    file: PathBuf,
    params: CertificateParams,
    key: KeyPair,
}

impl TestCa {
    fn new(dir: &Path) -> TestCa {
        let mut params = valid_now(&[]);
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        let key = KeyPair::generate().expect("CA key");
        let cert = params.self_signed(&key).expect("CA cert");
        let file = dir.join("ca.pem");
        std::fs::write(&file, cert.pem()).expect("write CA");
        TestCa { file, params, key }
    }

    /// A server certificate for `params`; its file holds the chain (leaf, CA).
    fn issue(&self, dir: &Path, stem: &str, params: CertificateParams) -> CertFiles {
        let key = KeyPair::generate().expect("leaf key");
        let issuer = Issuer::from_params(&self.params, &self.key);
        let leaf = params.signed_by(&key, &issuer).expect("sign leaf");
        let ca_pem = std::fs::read_to_string(&self.file).expect("read CA");
        let chain = format!("{}{}", leaf.pem(), ca_pem);
        write_pair(dir, stem, &chain, &key, leaf.der())
    }
}

// ----- servers and clients --------------------------------------------------

fn tls_options(files: &CertFiles) -> ServerOptions {
    ServerOptions {
        tls: Some(TlsOptions {
            port: 0,
            ..TlsOptions::new(&files.cert, &files.key)
        }),
        ..server_options(1 << 20, None)
    }
}

fn start_tls(files: &CertFiles) -> RunningServer {
    start_with(tls_options(files))
}

/// A TLS server whose TLS options `adjust` has changed.
fn start_tls_adjusted(files: &CertFiles, adjust: impl FnOnce(&mut TlsOptions)) -> RunningServer {
    let mut options = tls_options(files);
    if let Some(tls) = options.tls.as_mut() {
        adjust(tls);
    }
    start_with(options)
}

fn tls_addr(server: &RunningServer) -> SocketAddr {
    server.tls_addr().expect("TLS is on")
}

/// An IRC client over TLS (natter's own TLS halves), pinned to one certificate.
struct TlsClient {
    nick: String,
    reader: BufReader<TlsReader>,
    writer: TlsWriter,
}

impl TlsClient {
    fn connect(addr: SocketAddr, trust: &Trust, nick: &str) -> Result<TlsClient, String> {
        let socket = TcpStream::connect(addr).expect("TLS port accepts connections");
        socket
            .set_read_timeout(Some(READ_TIMEOUT))
            .expect("set read timeout");
        let halves =
            handshake(socket, "127.0.0.1", &addr.to_string(), trust).map_err(|e| e.to_string())?;
        Ok(TlsClient {
            nick: nick.to_string(),
            reader: BufReader::new(halves.reader),
            writer: halves.writer,
        })
    }

    fn joined(addr: SocketAddr, trust: &Trust, nick: &str) -> TlsClient {
        let mut client = TlsClient::connect(addr, trust, nick).expect("TLS handshake");
        client.send(&format!("NICK {nick}"));
        client.send(&format!("USER {} 0 * :{nick}", nick.to_lowercase()));
        client.send("JOIN #lobby");
        client.read_until(|l| l.contains(" 366 "));
        client
    }

    fn send(&mut self, line: &str) {
        self.writer
            .write_all(format!("{line}\r\n").as_bytes())
            .expect("write over TLS");
    }

    fn read_until(&mut self, done: impl Fn(&str) -> bool) -> Vec<String> {
        let mut lines = Vec::new();
        loop {
            let mut line = String::new();
            match self.reader.read_line(&mut line) {
                Ok(0) => panic!("{}: TLS connection ended; got {lines:#?}", self.nick),
                Ok(_) => {}
                Err(e) => panic!(
                    "{}: reading over TLS failed: {e}; got {lines:#?}",
                    self.nick
                ),
            }
            let line = line.trim_end().to_string();
            let hit = done(&line);
            lines.push(line);
            if hit {
                return lines;
            }
        }
    }
}

fn pin(files: &CertFiles) -> Trust {
    Trust::Fingerprint(files.fingerprint)
}

/// Runs `natter-client ARGS` with `hello` on stdin; its status, stdout, stderr.
fn natter_client(args: &[&str]) -> (std::process::ExitStatus, String, String) {
    let mut child = Command::new(CLIENT)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start natter-client");
    if let Some(mut stdin) = child.stdin.take() {
        let _ = stdin.write_all(b"hello over tls\n");
    }
    let deadline = std::time::Instant::now() + READ_TIMEOUT;
    while child.try_wait().expect("wait").is_none() {
        if std::time::Instant::now() > deadline {
            let _ = child.kill();
            panic!("natter-client {args:?} did not finish");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let output = child.wait_with_output().expect("client output");
    (
        output.status,
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

fn hex(fingerprint: &[u8; 32]) -> String {
    natter::fingerprint::show(fingerprint)
}

// ----- the server -----------------------------------------------------------

#[test]
fn a_tls_client_and_a_plaintext_client_in_one_room_see_each_others_messages() {
    let dir = temp_dir("tls-mixed");
    let files = self_signed(&dir, "server", &["127.0.0.1"]);
    let server = start_tls(&files);
    let mut secure = TlsClient::joined(tls_addr(&server), &pin(&files), "Secure");
    let mut plain = Client::joined(server.local_addr(), "Plain", "#lobby");
    secure.read_until(|l| l.starts_with(":Plain!") && l.contains(" JOIN "));

    secure.send("PRIVMSG #lobby :hello from TLS");
    plain.read_until(|l| l.starts_with(":Secure!") && l.ends_with(" :hello from TLS"));
    plain.send("PRIVMSG #lobby :hello from plaintext");
    secure.read_until(|l| l.starts_with(":Plain!") && l.ends_with(" :hello from plaintext"));
}

#[test]
fn certificates_with_rsa_ecdsa_and_ed25519_keys_all_serve_tls() {
    let dir = temp_dir("tls-keys");
    let rsa_pem = include_str!("fixtures/rsa-test-key.pem");
    let keys = [
        ("rsa", KeyPair::from_pem(rsa_pem).expect("fixture RSA key")),
        (
            "p384",
            KeyPair::generate_for(&rcgen::PKCS_ECDSA_P384_SHA384).expect("P-384 key"),
        ),
        (
            "ed25519",
            KeyPair::generate_for(&rcgen::PKCS_ED25519).expect("Ed25519 key"),
        ),
    ];
    for (kind, key) in keys {
        let files = self_signed_with(&dir, kind, &["127.0.0.1"], key);
        let server = start_tls(&files);
        let mut client = TlsClient::joined(tls_addr(&server), &pin(&files), "Keys");
        client.send("PING :still-here");
        client.read_until(|l| l.contains("PONG") && l.ends_with("still-here"));
    }
}

#[test]
fn the_plaintext_port_tells_cap_302_clients_to_upgrade_and_the_tls_port_sets_the_policy() {
    let dir = temp_dir("tls-sts");
    let files = self_signed(&dir, "server", &["127.0.0.1"]);
    let server = start_tls(&files);
    let tls_port = tls_addr(&server).port();

    let mut plain = Client::connect(server.local_addr(), "Plain");
    plain.send("CAP LS 302");
    let ls = plain.read_until(|l| l.contains(" LS "));
    assert!(
        ls[ls.len() - 1].ends_with(&format!("sts=port={tls_port}")),
        "{ls:?}"
    );

    let mut secure =
        TlsClient::connect(tls_addr(&server), &pin(&files), "Secure").expect("TLS handshake");
    secure.send("CAP LS 302");
    let ls = secure.read_until(|l| l.contains(" LS "));
    assert!(ls[ls.len() - 1].ends_with("sts=duration=300"), "{ls:?}");
}

#[test]
fn plaintext_and_garbage_on_the_tls_port_are_closed_without_disturbing_anyone() {
    let dir = temp_dir("tls-garbage");
    let files = self_signed(&dir, "server", &["127.0.0.1"]);
    let server = start_tls(&files);
    let mut secure = TlsClient::joined(tls_addr(&server), &pin(&files), "Secure");
    let mut plain = Client::joined(server.local_addr(), "Plain", "#lobby");

    for junk in [
        &b"NICK Intruder\r\nUSER i 0 * :i\r\nJOIN #lobby\r\n"[..],
        &[0x16, 0x03, 0x01, 0xff, 0xff, 0x00, 0x13, 0x37][..],
        &[0u8; 3000][..],
    ] {
        let mut raw = TcpStream::connect(tls_addr(&server)).expect("connect");
        raw.set_read_timeout(Some(READ_TIMEOUT)).expect("timeout");
        let _ = raw.write_all(junk);
        let mut reply = Vec::new();
        // Ends at EOF or reset: the server hung up (after at most an alert).
        let _ = raw.read_to_end(&mut reply);
        assert!(!String::from_utf8_lossy(&reply).contains(" 001 "));
    }

    secure.send("PRIVMSG #lobby :still here");
    let seen = plain.read_until(|l| l.ends_with(" :still here"));
    assert_eq!(count(&seen, "Intruder"), 0, "{seen:?}");
    plain.send("PRIVMSG #lobby :me too");
    secure.read_until(|l| l.ends_with(" :me too"));
}

#[test]
fn a_handshake_that_never_finishes_is_timed_out_and_closed() {
    let dir = temp_dir("tls-slowloris");
    let files = self_signed(&dir, "server", &["127.0.0.1"]);
    let server = start_tls_adjusted(&files, |tls| {
        tls.handshake_timeout = Duration::from_millis(200)
    });
    let mut silent = TcpStream::connect(tls_addr(&server)).expect("connect");
    silent
        .set_read_timeout(Some(READ_TIMEOUT))
        .expect("timeout");
    let mut buf = [0u8; 64];
    // Zero bytes means the server closed it; a read timeout fails the test.
    let n = silent
        .read(&mut buf)
        .expect("server closes, not the read timeout");
    assert_eq!(n, 0);
    // And the port still works for everyone else.
    TlsClient::joined(tls_addr(&server), &pin(&files), "After");
}

#[test]
fn unfinished_handshakes_past_the_limit_wait_in_the_listen_queue_and_plaintext_carries_on() {
    let dir = temp_dir("tls-max-handshakes");
    let files = self_signed(&dir, "server", &["127.0.0.1"]);
    let server = start_tls_adjusted(&files, |tls| tls.max_handshakes = 2);
    let addr = tls_addr(&server);
    // Two connections that never say a word hold both handshake slots.
    let silent: Vec<TcpStream> = (0..2)
        .map(|_| TcpStream::connect(addr).expect("connect"))
        .collect();

    // A third waits in the listen queue: its handshake gets no answer.
    let probe = TcpStream::connect(addr).expect("the kernel queues it");
    probe
        .set_read_timeout(Some(Duration::from_millis(300)))
        .expect("timeout");
    assert!(
        handshake(probe, "127.0.0.1", &addr.to_string(), &pin(&files)).is_err(),
        "a third handshake went ahead with both slots taken"
    );
    // The plaintext port is not held up meanwhile.
    let mut plain = Client::joined(server.local_addr(), "Plain", "#lobby");

    // The silent connections go away: their slots free, and TLS works again.
    drop(silent);
    let mut secure = TlsClient::joined(addr, &pin(&files), "Secure");
    plain.read_until(|l| l.starts_with(":Secure!") && l.contains(" JOIN "));
    secure.send("PRIVMSG #lobby :made it");
    plain.read_until(|l| l.ends_with(" :made it") || l.ends_with(" made it"));
}

#[test]
fn a_reload_serves_the_new_certificate_to_new_connections_while_old_ones_carry_on() {
    let dir = temp_dir("tls-reload");
    let old = self_signed(&dir, "server", &["127.0.0.1"]);
    let server = start_tls(&old);
    let mut before = TlsClient::joined(tls_addr(&server), &pin(&old), "Before");

    let new = self_signed(&dir, "server", &["127.0.0.1"]); // same paths, new files
    assert_ne!(old.fingerprint, new.fingerprint);
    server.reload_tls().expect("the new files load");

    let refused = TlsClient::connect(tls_addr(&server), &pin(&old), "Stale");
    assert!(refused.is_err(), "the old certificate is still served");
    let mut after = TlsClient::joined(tls_addr(&server), &pin(&new), "After");
    before.read_until(|l| l.starts_with(":After!") && l.contains(" JOIN "));
    before.send("PRIVMSG #lobby :I was here before the reload");
    after.read_until(|l| l.ends_with(" :I was here before the reload"));

    // A broken file on reload: an error naming it, and the current certificate stays.
    std::fs::write(&new.cert, "not a certificate").expect("break the cert");
    let error = server.reload_tls().expect_err("a broken file is refused");
    assert!(error.to_string().contains("server-cert.pem"), "{error}");
    TlsClient::joined(tls_addr(&server), &pin(&new), "Later");
}

#[test]
fn unusable_certificate_or_key_files_stop_the_server_with_the_file_and_the_problem() {
    let dir = temp_dir("tls-bad-files");
    let good = self_signed(&dir, "good", &["127.0.0.1"]);
    let other = self_signed(&dir, "other", &["127.0.0.1"]);
    let garbage = dir.join("garbage.pem");
    std::fs::write(&garbage, "hello, I am not PEM\n").expect("write");
    let missing = dir.join("missing.pem");

    let start = |cert: &Path, key: &Path| -> String {
        let files = CertFiles {
            cert: cert.to_path_buf(),
            key: key.to_path_buf(),
            fingerprint: [0; 32],
        };
        match RunningServer::start(tls_options(&files)) {
            Ok(_) => panic!("started with {cert:?} and {key:?}"),
            Err(e) => {
                assert!(matches!(e, NetError::Tls(_)), "{e:?}");
                e.to_string()
            }
        }
    };
    let e = start(&missing, &good.key);
    assert!(
        e.contains("missing.pem") && e.contains("cannot read"),
        "{e}"
    );
    let e = start(&garbage, &good.key);
    assert!(
        e.contains("garbage.pem") && e.contains("no certificate"),
        "{e}"
    );
    let e = start(&good.cert, &garbage);
    assert!(
        e.contains("garbage.pem") && e.contains("no private key"),
        "{e}"
    );
    let e = start(&good.cert, &other.key);
    assert!(
        e.contains("other-key.pem") && e.contains("good-cert.pem"),
        "{e}"
    );
}

#[test]
fn without_plaintext_only_the_tls_port_listens() {
    let dir = temp_dir("tls-only");
    let files = self_signed(&dir, "server", &["127.0.0.1"]);
    let mut options = tls_options(&files);
    options.plaintext = false;
    let server = start_with(options);
    assert_eq!(server.plaintext_addr(), None);
    TlsClient::joined(tls_addr(&server), &pin(&files), "Only");

    let refused = RunningServer::start(ServerOptions {
        plaintext: false,
        ..server_options(1 << 20, None)
    });
    assert!(matches!(refused, Err(NetError::NoListener)));
}

// ----- natter-client --------------------------------------------------------

#[test]
fn natter_client_refuses_a_self_signed_server_without_a_pin_and_says_which_pin_to_use() {
    let dir = temp_dir("tls-cli-unpinned");
    let files = self_signed(&dir, "server", &["127.0.0.1"]);
    let server = start_tls(&files);
    let port = tls_addr(&server).port().to_string();
    let (status, stdout, stderr) = natter_client(&["--tls", "bob", "127.0.0.1", &port]);
    assert!(!status.success());
    assert!(!stdout.contains("You joined"), "{stdout}");
    assert!(stderr.contains("not issued by an authority"), "{stderr}");
    let advice = format!("--tls-fingerprint {}", hex(&files.fingerprint));
    assert!(stderr.contains(&advice), "{stderr}");
}

#[test]
fn natter_client_accepts_a_self_signed_server_pinned_by_fingerprint_with_or_without_colons() {
    let dir = temp_dir("tls-cli-pinned");
    let files = self_signed(&dir, "server", &["127.0.0.1"]);
    let server = start_tls(&files);
    let port = tls_addr(&server).port().to_string();
    let shown = hex(&files.fingerprint);
    for fingerprint in [shown.clone(), shown.replace(':', "").to_lowercase()] {
        let (status, stdout, stderr) = natter_client(&[
            "--tls",
            "--tls-fingerprint",
            &fingerprint,
            "bob",
            "127.0.0.1",
            &port,
        ]);
        assert!(status.success(), "{stderr}");
        assert!(stdout.contains("You joined #lobby"), "{stdout}");
        assert!(stdout.contains("hello over tls"), "{stdout}");
    }
}

#[test]
fn natter_client_refuses_a_certificate_pinned_to_another_fingerprint() {
    let dir = temp_dir("tls-cli-mismatch");
    let files = self_signed(&dir, "server", &["127.0.0.1"]);
    let server = start_tls(&files);
    let port = tls_addr(&server).port().to_string();
    let wrong = hex(&[0xAB; 32]);
    let (status, _, stderr) = natter_client(&[
        "--tls",
        "--tls-fingerprint",
        &wrong,
        "bob",
        "127.0.0.1",
        &port,
    ]);
    assert!(!status.success());
    assert!(stderr.contains(&hex(&files.fingerprint)), "{stderr}");
    assert!(stderr.contains("not the one given"), "{stderr}");
}

#[test]
fn natter_client_trusts_a_private_ca_given_with_tls_ca_and_the_server_sends_the_chain() {
    let dir = temp_dir("tls-cli-ca");
    let ca = TestCa::new(&dir);
    let files = ca.issue(&dir, "server", valid_now(&["127.0.0.1"]));
    let server = start_tls(&files);
    let port = tls_addr(&server).port().to_string();
    let ca_file = ca.file.to_string_lossy().into_owned();
    let (status, stdout, stderr) =
        natter_client(&["--tls", "--tls-ca", &ca_file, "bob", "127.0.0.1", &port]);
    assert!(status.success(), "{stderr}");
    assert!(stdout.contains("You joined #lobby"), "{stdout}");
}

#[test]
fn natter_client_refuses_a_certificate_for_another_name_and_names_both() {
    let dir = temp_dir("tls-cli-name");
    let ca = TestCa::new(&dir);
    let files = ca.issue(&dir, "server", valid_now(&["chat.example.org"]));
    let server = start_tls(&files);
    let port = tls_addr(&server).port().to_string();
    let ca_file = ca.file.to_string_lossy().into_owned();
    let (status, _, stderr) =
        natter_client(&["--tls", "--tls-ca", &ca_file, "bob", "127.0.0.1", &port]);
    assert!(!status.success());
    assert!(
        stderr.contains("chat.example.org") && stderr.contains("\"127.0.0.1\""),
        "{stderr}"
    );
}

#[test]
fn natter_client_refuses_an_expired_certificate_and_says_it_expired() {
    let dir = temp_dir("tls-cli-expired");
    let ca = TestCa::new(&dir);
    let now = SystemTime::now();
    let expired = params(&["127.0.0.1"], now - 60 * DAY, now - 30 * DAY);
    let files = ca.issue(&dir, "server", expired);
    let server = start_tls(&files);
    let port = tls_addr(&server).port().to_string();
    let ca_file = ca.file.to_string_lossy().into_owned();
    let (status, _, stderr) =
        natter_client(&["--tls", "--tls-ca", &ca_file, "bob", "127.0.0.1", &port]);
    assert!(!status.success());
    assert!(stderr.contains("has expired"), "{stderr}");
}

#[test]
fn natter_client_insecure_connects_but_warns_every_time() {
    let dir = temp_dir("tls-cli-insecure");
    let files = self_signed(&dir, "server", &["127.0.0.1"]);
    let server = start_tls(&files);
    let port = tls_addr(&server).port().to_string();
    let (status, stdout, stderr) =
        natter_client(&["--tls", "--insecure", "bob", "127.0.0.1", &port]);
    assert!(status.success(), "{stderr}");
    assert!(stdout.contains("You joined #lobby"), "{stdout}");
    assert!(stderr.contains("WARNING: --insecure"), "{stderr}");
}

#[test]
fn natter_client_with_tls_on_a_plaintext_port_says_to_use_the_tls_port() {
    let dir = temp_dir("tls-cli-wrong-port");
    let files = self_signed(&dir, "server", &["127.0.0.1"]);
    let server = start_tls(&files);
    let port = server.local_addr().port().to_string();
    let fingerprint = hex(&files.fingerprint);
    let (status, _, stderr) = natter_client(&[
        "--tls",
        "--tls-fingerprint",
        &fingerprint,
        "bob",
        "127.0.0.1",
        &port,
    ]);
    assert!(!status.success());
    assert!(stderr.contains("TLS port"), "{stderr}");
}

/// The natter-server binary with TLS, its stderr lines arriving on a channel.
struct TlsServerProcess {
    child: std::process::Child,
    stderr: std::sync::mpsc::Receiver<String>,
    tls: SocketAddr,
}

impl TlsServerProcess {
    fn start(files: &CertFiles) -> TlsServerProcess {
        let mut child = Command::new(env!("CARGO_BIN_EXE_natter-server"))
            .args(["0", "--bind", "127.0.0.1", "--tls-port", "0", "--log-file"])
            .arg(files.cert.with_file_name("server.log"))
            .arg("--tls-cert")
            .arg(&files.cert)
            .arg("--tls-key")
            .arg(&files.key)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("natter-server starts");
        let pipe = child.stderr.take().expect("piped stderr");
        let (tx, stderr) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(pipe).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    return;
                }
            }
        });
        let mut server = TlsServerProcess {
            child,
            stderr,
            tls: SocketAddr::from(([127, 0, 0, 1], 0)),
        };
        let line = server.wait_for("natter-server listening for TLS on ");
        server.tls = line
            .trim_start_matches("natter-server listening for TLS on ")
            .parse()
            .expect("a TLS address");
        server
    }

    fn wait_for(&self, prefix: &str) -> String {
        loop {
            match self.stderr.recv_timeout(READ_TIMEOUT) {
                Ok(line) if line.starts_with(prefix) => return line,
                Ok(_) => {}
                Err(_) => panic!("natter-server never said {prefix:?}"),
            }
        }
    }

    fn signal(&self, name: &str) {
        let status = Command::new("kill")
            .args([name, &self.child.id().to_string()])
            .status()
            .expect("run kill");
        assert!(status.success());
    }
}

impl Drop for TlsServerProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn sighup_reloads_the_certificate_for_new_connections_and_keeps_the_old_one_if_broken() {
    let dir = temp_dir("tls-sighup");
    let old = self_signed(&dir, "server", &["127.0.0.1"]);
    let server = TlsServerProcess::start(&old);
    let mut before = TlsClient::joined(server.tls, &pin(&old), "Before");

    let new = self_signed(&dir, "server", &["127.0.0.1"]);
    server.signal("-HUP");
    server.wait_for("natter-server: SIGHUP: reloaded");
    let mut after = TlsClient::joined(server.tls, &pin(&new), "After");
    before.send("PRIVMSG #lobby :still connected");
    after.read_until(|l| l.ends_with(" :still connected"));

    std::fs::write(&new.key, "not a key").expect("break the key");
    server.signal("-HUP");
    let said = server.wait_for("natter-server: SIGHUP: kept the old TLS certificate");
    assert!(said.contains("server-key.pem"), "{said}");
    TlsClient::joined(server.tls, &pin(&new), "Later");
    server.signal("-TERM");
    server.wait_for("natter-server: Term received");
}

// ----- natter-server --tls-self-signed --------------------------------------

#[test]
fn tls_self_signed_writes_a_pair_and_prints_the_fingerprint_and_client_command() {
    let dir = temp_dir("tls-self-signed");
    let cert = dir.join("c.pem");
    let key = dir.join("k.pem");
    let output = Command::new(env!("CARGO_BIN_EXE_natter-server"))
        .args(["--tls-self-signed", "127.0.0.1", "--tls-cert"])
        .arg(&cert)
        .arg("--tls-key")
        .arg(&key)
        .output()
        .expect("natter-server runs");
    assert!(output.status.success());
    let stdout = String::from_utf8_lossy(&output.stdout);
    let written = natter::net::tls::certificate_fingerprint(&cert).expect("a real certificate");
    assert!(
        stdout.contains(&format!(
            "natter-client --tls --tls-fingerprint {written} USERNAME 127.0.0.1 6697"
        )),
        "{stdout}"
    );
    natter::net::tls::load_server_config(&cert, &key).expect("the pair works");

    // Run again: it refuses to overwrite what clients may have pinned.
    let again = Command::new(env!("CARGO_BIN_EXE_natter-server"))
        .args(["--tls-self-signed", "127.0.0.1", "--tls-cert"])
        .arg(&cert)
        .arg("--tls-key")
        .arg(&key)
        .output()
        .expect("natter-server runs");
    assert!(!again.status.success());
    assert!(String::from_utf8_lossy(&again.stderr).contains("already exists"));
}

// ----- a third-party client -------------------------------------------------

#[test]
fn a_third_party_irc_client_chats_over_tls() {
    if !python_irc_client_available("the TLS interop test") {
        return;
    }
    let dir = temp_dir("tls-python");
    let files = self_signed(&dir, "server", &["127.0.0.1"]);
    let server = start_tls(&files);
    let mut john = Client::joined(server.local_addr(), "John", "#lobby");
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/interop/irc_client.py");
    let mut python = Command::new("python3")
        .arg(script)
        .arg("--tls")
        .arg(&files.cert)
        .args(["127.0.0.1", &tls_addr(&server).port().to_string(), "Pyth"])
        .args(["hello over tls from python", "hello from rust"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("python3 runs");
    john.read_until(|l| l.starts_with(":Pyth!") && l.ends_with(" :hello over tls from python"));
    john.send("PRIVMSG #lobby :hello from rust");
    let deadline = std::time::Instant::now() + READ_TIMEOUT;
    while python.try_wait().expect("wait").is_none() {
        if std::time::Instant::now() > deadline {
            let _ = python.kill();
            panic!("the python client did not finish");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let output = python.wait_with_output().expect("python output");
    let out = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "python irc client failed: {out} {}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(out.contains("GOT John hello from rust"), "{out}");
}
