//! The server's TLS: loading certificates and keys, reloading them, and
//! making self-signed ones for a first run.
//!
//! Owns the rustls configuration (TLS 1.2 and 1.3 only, the `ring`
//! provider) behind a [`TlsAcceptor`] that new connections read and a
//! reload swaps, so a reload never touches a connection already made.
//! Must never make a chat decision, and never hand a half-read or invalid
//! certificate to rustls: a bad file is an error that names the file.

use crate::fingerprint;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use std::fmt;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// The default TLS port for IRC.
pub const DEFAULT_TLS_PORT: u16 = 6697;
/// How long a client gets to finish the TLS handshake.
pub const DEFAULT_HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);
/// Handshakes under way at once by default (each holds rustls's buffers,
/// tens of KB, until it finishes).
pub const DEFAULT_MAX_HANDSHAKES: usize = 1024;
/// The default `sts` persistence duration: short, as a safety precaution
/// while an operator tries TLS out (InspIRCd picks the same).
pub const DEFAULT_STS_DURATION_SECS: u64 = 300;

/// Where the certificate and key are, and how the TLS listener behaves.
///
/// ```
/// let tls = natter::net::TlsOptions::new("natter-cert.pem", "natter-key.pem");
/// assert_eq!(tls.port, 6697);
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsOptions {
    /// PEM certificate chain, the server's own certificate first.
    pub cert: PathBuf,
    /// PEM private key (PKCS#8, PKCS#1 RSA or SEC1 EC).
    pub key: PathBuf,
    /// Port of the TLS listener; 0 picks a free one.
    pub port: u16,
    /// How long a handshake may take before the connection is closed.
    pub handshake_timeout: Duration,
    /// Most handshakes under way at once. Past it, new connections wait in
    /// the kernel's listen queue (holding no memory of natter's) until a
    /// handshake finishes or times out: clients that open TLS connections
    /// and never finish them can hold up the TLS port for a while, but
    /// never grow the server.
    pub max_handshakes: usize,
    /// The `sts` persistence duration advertised; `None` advertises no STS.
    pub sts_duration_secs: Option<u64>,
}

impl TlsOptions {
    /// TLS on the default port with the default timeouts and STS policy.
    pub fn new(cert: impl Into<PathBuf>, key: impl Into<PathBuf>) -> TlsOptions {
        TlsOptions {
            cert: cert.into(),
            key: key.into(),
            port: DEFAULT_TLS_PORT,
            handshake_timeout: DEFAULT_HANDSHAKE_TIMEOUT,
            max_handshakes: DEFAULT_MAX_HANDSHAKES,
            sts_duration_secs: Some(DEFAULT_STS_DURATION_SECS),
        }
    }
}

/// What is wrong with the certificate or key, worded for the operator.
#[derive(Debug)]
pub enum TlsError {
    /// The file could not be read.
    Read { path: PathBuf, source: io::Error },
    /// The file holds no PEM certificate.
    NoCertificate { path: PathBuf },
    /// The file holds no PEM private key.
    NoKey { path: PathBuf },
    /// The file is not valid PEM.
    BadPem { path: PathBuf, reason: String },
    /// rustls refused the pair (mismatched, or an unsupported key type).
    Rejected {
        cert: PathBuf,
        key: PathBuf,
        reason: String,
    },
    /// Making a self-signed certificate failed.
    Generate { reason: String },
    /// Writing a generated file failed.
    Write { path: PathBuf, source: io::Error },
}

impl fmt::Display for TlsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TlsError::Read { path, source } => write!(
                f,
                "cannot read the TLS file {}: {source}; check the path given to --tls-cert/--tls-key",
                path.display()
            ),
            TlsError::NoCertificate { path } => write!(
                f,
                "{} holds no certificate: --tls-cert wants a PEM file with \
                 \"-----BEGIN CERTIFICATE-----\" blocks (yours first, then the chain)",
                path.display()
            ),
            TlsError::NoKey { path } => write!(
                f,
                "{} holds no private key: --tls-key wants a PEM file with a \
                 \"-----BEGIN PRIVATE KEY-----\" (or RSA/EC PRIVATE KEY) block",
                path.display()
            ),
            TlsError::BadPem { path, reason } => write!(
                f,
                "{} is not a valid PEM file ({reason}); re-export it, or make a new one \
                 with `natter-server --tls-self-signed HOSTNAME`",
                path.display()
            ),
            TlsError::Rejected { cert, key, reason } => write!(
                f,
                "the key in {} cannot be used with the certificate in {} ({reason}); \
                 check that they belong together (RSA, ECDSA P-256/P-384 and Ed25519 keys work)",
                key.display(),
                cert.display()
            ),
            TlsError::Generate { reason } => {
                write!(f, "cannot make a self-signed certificate: {reason}")
            }
            TlsError::Write { path, source } => write!(
                f,
                "cannot write {}: {source}; pick a writable place with --tls-cert/--tls-key",
                path.display()
            ),
        }
    }
}

impl std::error::Error for TlsError {}

fn pem_error(path: &Path, e: rustls::pki_types::pem::Error, none: TlsError) -> TlsError {
    use rustls::pki_types::pem::Error;
    match e {
        Error::Io(source) => TlsError::Read {
            path: path.to_path_buf(),
            source,
        },
        Error::NoItemsFound => none,
        other => TlsError::BadPem {
            path: path.to_path_buf(),
            reason: other.to_string(),
        },
    }
}

/// The rustls crypto provider natter uses everywhere.
pub fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// Asks every TLS client for a certificate, accepts any (or none), and only
/// checks that the client holds the certificate's key. A client
/// certificate here is not an identity any CA vouches for: it is a key the
/// user added to their account (`NickServ CERT ADD`), matched by its
/// SHA-256 fingerprint for SASL EXTERNAL, as ergo and solanum do.
#[derive(Debug)]
struct AnyClientCertificate(Arc<rustls::crypto::CryptoProvider>);

impl rustls::server::danger::ClientCertVerifier for AnyClientCertificate {
    fn offer_client_auth(&self) -> bool {
        true
    }

    fn client_auth_mandatory(&self) -> bool {
        false
    }

    fn root_hint_subjects(&self) -> &[rustls::DistinguishedName] {
        &[]
    }

    fn verify_client_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _now: rustls::pki_types::UnixTime,
    ) -> Result<rustls::server::danger::ClientCertVerified, rustls::Error> {
        Ok(rustls::server::danger::ClientCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

/// Reads a PEM certificate chain.
pub fn load_certificates(path: &Path) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    let none = || TlsError::NoCertificate {
        path: path.to_path_buf(),
    };
    let certs = CertificateDer::pem_file_iter(path)
        .map_err(|e| pem_error(path, e, none()))?
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| pem_error(path, e, none()))?;
    if certs.is_empty() {
        return Err(none());
    }
    Ok(certs)
}

/// Reads the certificate chain and key and builds the rustls configuration.
pub fn load_server_config(cert: &Path, key: &Path) -> Result<Arc<rustls::ServerConfig>, TlsError> {
    let chain = load_certificates(cert)?;
    let none = || TlsError::NoKey {
        path: key.to_path_buf(),
    };
    let private = PrivateKeyDer::from_pem_file(key).map_err(|e| pem_error(key, e, none()))?;
    let rejected = |e: rustls::Error| TlsError::Rejected {
        cert: cert.to_path_buf(),
        key: key.to_path_buf(),
        reason: e.to_string(),
    };
    let config = rustls::ServerConfig::builder_with_provider(provider())
        .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])
        .map_err(rejected)?
        .with_client_cert_verifier(Arc::new(AnyClientCertificate(provider())))
        .with_single_cert(chain, private)
        .map_err(rejected)?;
    Ok(Arc::new(config))
}

/// The TLS configuration new connections use, swappable while running.
///
/// ```no_run
/// use natter::net::TlsAcceptor;
/// let tls = TlsAcceptor::load("cert.pem".as_ref(), "key.pem".as_ref())?;
/// // ... later, after the files were renewed:
/// tls.reload()?; // new connections get the new certificate
/// # Ok::<(), natter::net::TlsError>(())
/// ```
#[derive(Debug)]
pub struct TlsAcceptor {
    /// The certificate and key files, as last loaded.
    files: Mutex<(PathBuf, PathBuf)>,
    current: Mutex<Arc<rustls::ServerConfig>>,
}

impl TlsAcceptor {
    /// Loads `cert` and `key`; fails with the file and what is wrong with it.
    pub fn load(cert: &Path, key: &Path) -> Result<TlsAcceptor, TlsError> {
        let config = load_server_config(cert, key)?;
        Ok(TlsAcceptor {
            files: Mutex::new((cert.to_path_buf(), key.to_path_buf())),
            current: Mutex::new(config),
        })
    }

    /// Reads the files again. On success new connections use them; on
    /// failure nothing changes and the error says why.
    pub fn reload(&self) -> Result<(), TlsError> {
        let (cert, key) = self.files.lock().unwrap_or_else(|p| p.into_inner()).clone();
        self.reload_from(&cert, &key)
    }

    /// Loads `cert` and `key` (perhaps new paths, from a reloaded
    /// configuration file) for new connections; on failure nothing changes.
    pub fn reload_from(&self, cert: &Path, key: &Path) -> Result<(), TlsError> {
        let config = load_server_config(cert, key)?;
        *self.current.lock().unwrap_or_else(|p| p.into_inner()) = config;
        *self.files.lock().unwrap_or_else(|p| p.into_inner()) =
            (cert.to_path_buf(), key.to_path_buf());
        Ok(())
    }

    /// The configuration for the next connection.
    pub fn config(&self) -> Arc<rustls::ServerConfig> {
        self.current
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }
}

/// A generated certificate and key, as PEM, with the certificate's SHA-256.
#[derive(Debug, Clone)]
pub struct SelfSigned {
    pub cert_pem: String,
    pub key_pem: String,
    /// `AB:CD:…`, what `natter-client --tls-fingerprint` wants.
    pub fingerprint: String,
}

/// A self-signed ECDSA P-256 certificate for `hostname` (a name or an IP
/// address), valid from a day ago for ten years.
pub fn self_signed(hostname: &str) -> Result<SelfSigned, TlsError> {
    let generate = |e: rcgen::Error| TlsError::Generate {
        reason: e.to_string(),
    };
    let mut params = rcgen::CertificateParams::new(vec![hostname.to_string()]).map_err(generate)?;
    params
        .distinguished_name
        .push(rcgen::DnType::CommonName, hostname);
    let now = std::time::SystemTime::now();
    params.not_before = (now - Duration::from_secs(24 * 3600)).into();
    params.not_after = (now + Duration::from_secs(10 * 365 * 24 * 3600)).into();
    let key = rcgen::KeyPair::generate().map_err(generate)?;
    let cert = params.self_signed(&key).map_err(generate)?;
    Ok(SelfSigned {
        cert_pem: cert.pem(),
        key_pem: key.serialize_pem(),
        fingerprint: fingerprint::sha256_hex(cert.der()),
    })
}

/// Writes a [`self_signed`] certificate and key to `cert` and `key` (the key
/// readable by its owner only) and returns the certificate's fingerprint.
pub fn write_self_signed(hostname: &str, cert: &Path, key: &Path) -> Result<String, TlsError> {
    let made = self_signed(hostname)?;
    write_file(key, &made.key_pem, true)?;
    write_file(cert, &made.cert_pem, false)?;
    Ok(made.fingerprint)
}

fn write_file(path: &Path, text: &str, private: bool) -> Result<(), TlsError> {
    use std::io::Write;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    if private {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    #[cfg(not(unix))]
    let _ = private;
    let failed = |source| TlsError::Write {
        path: path.to_path_buf(),
        source,
    };
    let mut file = options.open(path).map_err(failed)?;
    file.write_all(text.as_bytes()).map_err(failed)
}

/// The SHA-256 fingerprint of the first certificate in a PEM file.
pub fn certificate_fingerprint(cert: &Path) -> Result<String, TlsError> {
    let chain = load_certificates(cert)?;
    match chain.first() {
        Some(leaf) => Ok(fingerprint::sha256_hex(leaf)),
        None => Err(TlsError::NoCertificate {
            path: cert.to_path_buf(),
        }),
    }
}
