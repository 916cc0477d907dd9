//! natter-client's TLS: whom to trust, the handshake, and blocking
//! read/write halves that two threads can use at once.
//!
//! Owns certificate verification (system roots, a CA file, a pinned SHA-256
//! fingerprint, or — only when asked — nothing) and turning every failure
//! into a [`ClientError`] that says what failed and how to fix it. Must never
//! trust a certificate the person did not ask it to trust, and never decide
//! anything about the chat.

use super::ClientError;
use crate::fingerprint;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{CertificateError, ClientConnection, DigitallySignedStruct, SignatureScheme};
use std::io::{self, Read, Write};
use std::net::TcpStream;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

/// Whom natter-client trusts for `--tls`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Trust {
    /// The system's trusted roots (`/etc/ssl/certs` on Debian).
    System,
    /// Certificates issued by the CA(s) in this PEM file.
    CaFile(PathBuf),
    /// Exactly the certificate with this SHA-256 (a self-signed server).
    Fingerprint([u8; 32]),
    /// Any certificate at all (`--insecure`): encrypted, not authenticated.
    Insecure,
}

/// The last server certificate seen, so an error can show its fingerprint.
type Seen = Arc<Mutex<Option<String>>>;

fn remember(seen: &Seen, leaf: &CertificateDer<'_>) {
    *seen.lock().unwrap_or_else(|p| p.into_inner()) = Some(fingerprint::sha256_hex(leaf));
}

/// Checks the chain with webpki, remembering the leaf's fingerprint.
#[derive(Debug)]
struct Recording {
    inner: Arc<rustls::client::WebPkiServerVerifier>,
    seen: Seen,
}

impl ServerCertVerifier for Recording {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        remember(&self.seen, end_entity);
        self.inner
            .verify_server_cert(end_entity, intermediates, server_name, ocsp_response, now)
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.inner.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.inner.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.inner.supported_verify_schemes()
    }
}

/// Accepts exactly one leaf certificate (`pinned`), or any (`None`, for
/// `--insecure`); handshake signatures are still checked either way.
#[derive(Debug)]
struct Pinned {
    pinned: Option<[u8; 32]>,
    provider: Arc<CryptoProvider>,
    seen: Seen,
}

impl ServerCertVerifier for Pinned {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        remember(&self.seen, end_entity);
        match self.pinned {
            Some(want) if fingerprint::sha256(end_entity) != want => Err(
                rustls::Error::InvalidCertificate(CertificateError::ApplicationVerificationFailure),
            ),
            _ => Ok(ServerCertVerified::assertion()),
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.provider
            .signature_verification_algorithms
            .supported_schemes()
    }
}

fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

fn roots(trust: &Trust) -> Result<rustls::RootCertStore, ClientError> {
    let mut roots = rustls::RootCertStore::empty();
    match trust {
        Trust::CaFile(path) => {
            let bad = |reason: String| ClientError::TlsCaFile {
                path: path.display().to_string(),
                reason,
            };
            let certs = CertificateDer::pem_file_iter(path)
                .map_err(|e| bad(e.to_string()))?
                .collect::<Result<Vec<_>, _>>()
                .map_err(|e| bad(e.to_string()))?;
            let (added, _) = roots.add_parsable_certificates(certs);
            if added == 0 {
                return Err(bad("it holds no usable PEM certificate".to_string()));
            }
        }
        _ => {
            let found = rustls_native_certs::load_native_certs();
            roots.add_parsable_certificates(found.certs);
            if roots.is_empty() {
                return Err(ClientError::NoSystemRoots);
            }
        }
    }
    Ok(roots)
}

/// A TLS client certificate to present: its chain (leaf first) and key.
/// The server's fingerprint of the leaf is what `NickServ CERT ADD` stores
/// and SASL EXTERNAL logs in with.
pub struct ClientIdentity {
    pub chain: Vec<CertificateDer<'static>>,
    pub key: rustls::pki_types::PrivateKeyDer<'static>,
}

/// The rustls client configuration for `trust` (TLS 1.2 and 1.3 only), and
/// where its verifier records the server certificate's fingerprint.
fn client_config(trust: &Trust) -> Result<(Arc<rustls::ClientConfig>, Seen), ClientError> {
    client_config_as(trust, None)
}

/// As [`client_config`], presenting `identity` when the server asks for a
/// client certificate.
fn client_config_as(
    trust: &Trust,
    identity: Option<ClientIdentity>,
) -> Result<(Arc<rustls::ClientConfig>, Seen), ClientError> {
    let provider = provider();
    let seen: Seen = Arc::new(Mutex::new(None));
    let verifier: Arc<dyn ServerCertVerifier> = match trust {
        Trust::System | Trust::CaFile(_) => {
            let inner = rustls::client::WebPkiServerVerifier::builder_with_provider(
                Arc::new(roots(trust)?),
                provider.clone(),
            )
            .build()
            .map_err(|e| ClientError::Tls {
                addr: String::new(),
                reason: e.to_string(),
            })?;
            Arc::new(Recording {
                inner,
                seen: seen.clone(),
            })
        }
        Trust::Fingerprint(want) => Arc::new(Pinned {
            pinned: Some(*want),
            provider: provider.clone(),
            seen: seen.clone(),
        }),
        Trust::Insecure => Arc::new(Pinned {
            pinned: None,
            provider: provider.clone(),
            seen: seen.clone(),
        }),
    };
    let tls_error = |e: rustls::Error| ClientError::Tls {
        addr: String::new(),
        reason: e.to_string(),
    };
    let builder = rustls::ClientConfig::builder_with_provider(provider)
        .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])
        .map_err(tls_error)?
        .dangerous()
        .with_custom_certificate_verifier(verifier);
    let config = match identity {
        None => builder.with_no_client_auth(),
        Some(id) => builder
            .with_client_auth_cert(id.chain, id.key)
            .map_err(tls_error)?,
    };
    Ok((Arc::new(config), seen))
}

/// The rustls client configuration for `trust` (TLS 1.2 and 1.3, the `ring`
/// provider), for callers that run their own handshake (natter-bench's
/// `--tls` uses [`Trust::Insecure`]: loopback load against self-signed
/// servers, where nothing is trusted with anything).
///
/// ```
/// use natter::client::tls::{rustls_config, Trust};
/// let config = rustls_config(&Trust::Insecure).expect("a valid configuration");
/// assert!(config.alpn_protocols.is_empty());
/// ```
pub fn rustls_config(trust: &Trust) -> Result<Arc<rustls::ClientConfig>, ClientError> {
    client_config(trust).map(|(config, _)| config)
}

/// The two halves of a TLS connection, usable from two threads at once.
pub struct TlsHalves {
    pub reader: TlsReader,
    pub writer: TlsWriter,
}

/// Runs the handshake with `host` over `socket`, checking the certificate
/// as `trust` says; `addr` is `host:port`, for messages.
pub fn handshake(
    socket: TcpStream,
    host: &str,
    addr: &str,
    trust: &Trust,
) -> Result<TlsHalves, ClientError> {
    handshake_as(socket, host, addr, trust, None)
}

/// As [`handshake`], presenting the client certificate `identity` if the
/// server asks for one (natter-server's TLS port does, optionally, for
/// SASL EXTERNAL).
pub fn handshake_as(
    socket: TcpStream,
    host: &str,
    addr: &str,
    trust: &Trust,
    identity: Option<ClientIdentity>,
) -> Result<TlsHalves, ClientError> {
    let (config, seen) = client_config_as(trust, identity)?;
    let name = ServerName::try_from(host.to_string()).map_err(|_| ClientError::Tls {
        addr: addr.to_string(),
        reason: format!("{host:?} is not a valid host name for TLS"),
    })?;
    let mut conn = ClientConnection::new(config, name).map_err(|e| ClientError::Tls {
        addr: addr.to_string(),
        reason: e.to_string(),
    })?;
    let mut sock = &socket;
    while conn.is_handshaking() {
        if let Err(e) = conn.complete_io(&mut sock) {
            let seen = seen.lock().unwrap_or_else(|p| p.into_inner()).clone();
            return Err(handshake_error(e, addr, host, trust, seen));
        }
    }
    let reader_socket = socket.try_clone().map_err(|e| ClientError::Connect {
        addr: addr.to_string(),
        reason: e.to_string(),
    })?;
    let conn = Arc::new(Mutex::new(conn));
    Ok(TlsHalves {
        reader: TlsReader {
            conn: conn.clone(),
            socket: reader_socket,
        },
        writer: TlsWriter { conn, socket },
    })
}

fn handshake_error(
    e: io::Error,
    addr: &str,
    host: &str,
    trust: &Trust,
    seen: Option<String>,
) -> ClientError {
    let Some(tls) = e
        .get_ref()
        .and_then(|inner| inner.downcast_ref::<rustls::Error>())
    else {
        return ClientError::Tls {
            addr: addr.to_string(),
            reason: format!("{e} (is this the server's TLS port? natter-server's is usually 6697)"),
        };
    };
    let addr = addr.to_string();
    let fingerprint = seen.unwrap_or_default();
    let problem = match tls {
        rustls::Error::InvalidCertificate(cert) => match cert {
            CertificateError::Expired | CertificateError::ExpiredContext { .. } => {
                CertProblem::Expired
            }
            CertificateError::NotValidYet | CertificateError::NotValidYetContext { .. } => {
                CertProblem::NotValidYet
            }
            CertificateError::NotValidForName => CertProblem::WrongName {
                host: host.to_string(),
                presented: Vec::new(),
            },
            CertificateError::NotValidForNameContext { presented, .. } => CertProblem::WrongName {
                host: host.to_string(),
                presented: presented.iter().map(|name| bare_name(name)).collect(),
            },
            // A signature no trusted root can vouch for is, to the person,
            // the same as no trusted root at all.
            CertificateError::UnknownIssuer
            | CertificateError::BadSignature
            | CertificateError::UnsupportedSignatureAlgorithmContext { .. }
            | CertificateError::UnsupportedSignatureAlgorithmForPublicKeyContext { .. } => {
                CertProblem::UnknownIssuer { fingerprint }
            }
            CertificateError::ApplicationVerificationFailure
                if matches!(trust, Trust::Fingerprint(_)) =>
            {
                CertProblem::FingerprintMismatch { fingerprint }
            }
            other => CertProblem::Other(format!("{other:?}")),
        },
        rustls::Error::InvalidMessage(_) => {
            return ClientError::Tls {
                addr,
                reason: format!(
                    "{tls}: the server does not speak TLS there; use its TLS port \
                     (natter-server's is usually 6697), or drop --tls for a plaintext port"
                ),
            }
        }
        other => {
            return ClientError::Tls {
                addr,
                reason: other.to_string(),
            }
        }
    };
    ClientError::Certificate { addr, problem }
}

/// `DnsName("example.org")` (how webpki lists names) as `example.org`.
fn bare_name(name: &str) -> String {
    match (name.find('"'), name.rfind('"')) {
        (Some(start), Some(end)) if end > start => name[start + 1..end].to_string(),
        _ => name.to_string(),
    }
}

/// What was wrong with the server's certificate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CertProblem {
    /// Its validity ended.
    Expired,
    /// Its validity has not begun.
    NotValidYet,
    /// It is for other names than the one connected to.
    WrongName {
        host: String,
        presented: Vec<String>,
    },
    /// No trusted authority issued it (self-signed, or a private CA).
    UnknownIssuer { fingerprint: String },
    /// It is not the pinned certificate.
    FingerprintMismatch { fingerprint: String },
    /// Anything else the verifier refused.
    Other(String),
}

impl std::fmt::Display for CertProblem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            CertProblem::Expired => write!(
                f,
                "the certificate has expired: the server's operator must renew it \
                 (then `kill -HUP` natter-server to load it)"
            ),
            CertProblem::NotValidYet => write!(
                f,
                "the certificate is not valid yet: check this computer's clock"
            ),
            CertProblem::WrongName { host, presented } if presented.is_empty() => write!(
                f,
                "the certificate is not for {host:?}: connect with the host name it was made for"
            ),
            CertProblem::WrongName { host, presented } => write!(
                f,
                "the certificate is for {} but you connected to {host:?}: \
                 connect with one of those names",
                presented.join(", ")
            ),
            CertProblem::UnknownIssuer { fingerprint } => write!(
                f,
                "the certificate is not issued by an authority this computer trusts \
                 (self-signed?): if the server's operator confirms its SHA-256 fingerprint \
                 is {fingerprint}, use --tls-fingerprint {fingerprint} to trust this \
                 self-signed certificate, or --tls-ca FILE for a private CA"
            ),
            CertProblem::FingerprintMismatch { fingerprint } => write!(
                f,
                "the certificate's SHA-256 fingerprint is {fingerprint}, not the one given \
                 to --tls-fingerprint: someone may be intercepting the connection, or the \
                 server got a new certificate; ask its operator for the current fingerprint"
            ),
            CertProblem::Other(what) => write!(f, "the certificate was refused: {what}"),
        }
    }
}

fn tls_io(e: rustls::Error) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, e)
}

/// The reading half: waits on the socket without holding the connection,
/// so the writing half is never blocked by a quiet server.
pub struct TlsReader {
    conn: Arc<Mutex<ClientConnection>>,
    socket: TcpStream,
}

impl Read for TlsReader {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let mut raw = [0u8; 4096];
        loop {
            {
                let mut conn = self.conn.lock().unwrap_or_else(|p| p.into_inner());
                match conn.reader().read(buf) {
                    Ok(n) => return Ok(n),
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                    Err(e) => return Err(e),
                }
            }
            let n = self.socket.read(&mut raw)?;
            if n == 0 {
                return Ok(0);
            }
            let mut conn = self.conn.lock().unwrap_or_else(|p| p.into_inner());
            let mut fed = &raw[..n];
            while !fed.is_empty() {
                conn.read_tls(&mut fed)?;
                conn.process_new_packets().map_err(tls_io)?;
            }
            while conn.wants_write() {
                conn.write_tls(&mut self.socket)?;
            }
        }
    }
}

/// The writing half.
pub struct TlsWriter {
    conn: Arc<Mutex<ClientConnection>>,
    socket: TcpStream,
}

impl Write for TlsWriter {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let mut conn = self.conn.lock().unwrap_or_else(|p| p.into_inner());
        let n = conn.writer().write(buf)?;
        while conn.wants_write() {
            conn.write_tls(&mut self.socket)?;
        }
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        let mut conn = self.conn.lock().unwrap_or_else(|p| p.into_inner());
        conn.writer().flush()?;
        while conn.wants_write() {
            conn.write_tls(&mut self.socket)?;
        }
        Ok(())
    }
}

impl TlsWriter {
    /// Says goodbye to the server (TLS close_notify), best effort.
    pub fn close_notify(&mut self) {
        let mut conn = self.conn.lock().unwrap_or_else(|p| p.into_inner());
        conn.send_close_notify();
        while conn.wants_write() {
            if conn.write_tls(&mut self.socket).is_err() {
                return;
            }
        }
    }
}
