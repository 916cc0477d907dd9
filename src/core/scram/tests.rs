//! Unit tests of the parent module (kept apart so it reads in one sitting).

use super::*;
use proptest::prelude::*;

// RFC 7677, section 3.
const CLIENT_FIRST: &str = "n,,n=user,r=rOprNGfwEbeRWgbNEkqO";
const SERVER_NONCE_PART: &str = "%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0";
const SALT_B64: &str = "W22ZaJ0SNY7soEsUEjb6gQ==";
const SERVER_FIRST: &str =
    "r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096";
const CLIENT_FINAL: &str = "c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=";
const SERVER_FINAL: &str = "v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4=";

/// The RFC's credentials, derived once (PBKDF2 is slow on purpose).
fn pencil() -> ScramCredentials {
    static PENCIL: std::sync::OnceLock<ScramCredentials> = std::sync::OnceLock::new();
    PENCIL
        .get_or_init(|| {
            let salt = BASE64.decode(SALT_B64).expect("the RFC's salt is base64");
            ScramCredentials::derive("pencil", &salt, 4096)
        })
        .clone()
}

fn challenge(credentials: &ScramCredentials) -> ScramChallenge {
    let start = ScramServer::start(CLIENT_FIRST.as_bytes(), SERVER_NONCE_PART)
        .expect("the RFC's client-first is valid");
    start.server_first(credentials).0
}

#[test]
fn the_rfc_7677_example_exchange_gives_its_exact_messages() {
    let start = ScramServer::start(CLIENT_FIRST.as_bytes(), SERVER_NONCE_PART).unwrap();
    assert_eq!(start.username(), "user");
    assert_eq!(start.authzid(), None);
    let (challenge, server_first) = start.server_first(&pencil());
    assert_eq!(server_first, SERVER_FIRST);
    assert_eq!(
        challenge.finish(CLIENT_FINAL.as_bytes()),
        Ok(SERVER_FINAL.into())
    );
}

#[test]
fn a_wrong_password_fails_the_proof() {
    let salt = BASE64.decode(SALT_B64).unwrap();
    let other = ScramCredentials::derive("pencil2", &salt, 4096);
    let err = challenge(&other).finish(CLIENT_FINAL.as_bytes());
    assert_eq!(err, Err(ScramError::InvalidProof));
    assert_eq!(
        ScramError::InvalidProof.server_error_value(),
        "invalid-proof"
    );
}

#[test]
fn a_flipped_bit_in_the_proof_fails() {
    let mut proof = BASE64
        .decode("dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=")
        .unwrap();
    proof[7] ^= 1;
    let tampered = format!(
        "c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,p={}",
        BASE64.encode(proof)
    );
    let err = challenge(&pencil()).finish(tampered.as_bytes());
    assert_eq!(err, Err(ScramError::InvalidProof));
}

#[test]
fn a_tampered_nonce_fails() {
    for nonce in [
        "rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k1",
        "rOprNGfwEbeRWgbNEkqO",
        "rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0x",
    ] {
        let msg = format!("c=biws,r={nonce},p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=");
        let err = challenge(&pencil()).finish(msg.as_bytes());
        assert_eq!(err, Err(ScramError::NonceMismatch), "{nonce}");
    }
}

#[test]
fn bad_base64_is_an_error_not_a_panic() {
    let nonce = "rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0";
    let bad_proof = format!("c=biws,r={nonce},p=not*base64!");
    assert_eq!(
        challenge(&pencil()).finish(bad_proof.as_bytes()),
        Err(ScramError::BadBase64('p'))
    );
    let bad_binding = format!("c=b!ws,r={nonce},p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=");
    assert_eq!(
        challenge(&pencil()).finish(bad_binding.as_bytes()),
        Err(ScramError::BadBase64('c'))
    );
    let short_proof = format!("c=biws,r={nonce},p=AAAA");
    assert_eq!(
        challenge(&pencil()).finish(short_proof.as_bytes()),
        Err(ScramError::BadProofLength)
    );
}

#[test]
fn channel_binding_must_echo_the_gs2_header() {
    // `eSws` is base64 of `y,,`, but the client said `n,,`.
    let msg = "c=eSws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=";
    assert_eq!(
        challenge(&pencil()).finish(msg.as_bytes()),
        Err(ScramError::ChannelBindingMismatch)
    );
}

#[test]
fn y_means_no_channel_binding_and_p_is_refused_with_advice() {
    let start = ScramServer::start(b"y,,n=user,r=abc", "xyz").expect("y is accepted");
    let (_, server_first) = start.server_first(&pencil());
    assert!(server_first.starts_with("r=abcxyz,"), "{server_first}");
    let err = ScramServer::start(b"p=tls-exporter,,n=user,r=abc", "xyz").unwrap_err();
    assert_eq!(err, ScramError::ChannelBindingUnsupported);
    assert!(err.to_string().contains("n,,"), "{err}");
    assert_eq!(
        ScramServer::start(b"q,,n=user,r=abc", "xyz").unwrap_err(),
        ScramError::BadGs2Header
    );
}

#[test]
fn an_authzid_must_be_the_username_itself() {
    let start = ScramServer::start(b"n,a=user,n=user,r=abc", "xyz").expect("same name");
    assert_eq!(start.authzid(), Some("user"));
    let err = ScramServer::start(b"n,a=admin,n=user,r=abc", "xyz").unwrap_err();
    assert_eq!(
        err,
        ScramError::AuthzidNotUsername {
            authzid: "admin".into(),
            username: "user".into()
        }
    );
}

#[test]
fn names_decode_their_escapes_and_bad_escapes_are_refused() {
    let start = ScramServer::start(b"n,,n=a=2Cb=3Dc,r=abc", "xyz").unwrap();
    assert_eq!(start.username(), "a,b=c");
    for bad in [&b"n,,n=a=2,r=abc"[..], b"n,,n=a=41,r=abc", b"n,,n=,r=abc"] {
        assert_eq!(
            ScramServer::start(bad, "xyz").unwrap_err(),
            ScramError::BadName
        );
    }
}

#[test]
fn mandatory_extensions_are_refused_and_optional_ones_ignored() {
    let err = ScramServer::start(b"n,,m=ext,n=user,r=abc", "xyz").unwrap_err();
    assert_eq!(err, ScramError::MandatoryExtension);
    let start = ScramServer::start(b"n,,n=user,r=abc,x=whatever", "xyz");
    assert_eq!(start.map(|s| s.username().to_string()), Ok("user".into()));
}

#[test]
fn missing_attributes_and_bad_nonces_are_named() {
    assert_eq!(
        ScramServer::start(b"n,,r=abc", "xyz").unwrap_err(),
        ScramError::MissingAttribute('n')
    );
    assert_eq!(
        ScramServer::start(b"n,,n=user", "xyz").unwrap_err(),
        ScramError::MissingAttribute('r')
    );
    assert_eq!(
        ScramServer::start(b"n,,n=user,r=", "xyz").unwrap_err(),
        ScramError::BadNonce
    );
    assert_eq!(
        ScramServer::start(b"n,,n=user,r=abc", "x,y").unwrap_err(),
        ScramError::BadServerNonce
    );
    assert_eq!(
        challenge(&pencil()).finish(b"c=biws").unwrap_err(),
        ScramError::MissingAttribute('p')
    );
}

#[test]
fn the_storage_string_round_trips_and_garbage_is_refused() {
    let credentials = pencil();
    let stored = credentials.to_storage_string();
    assert!(
        stored.starts_with("scram-sha-256$4096$W22ZaJ0SNY7soEsUEjb6gQ==$"),
        "{stored}"
    );
    assert_eq!(ScramCredentials::parse(&stored), Ok(credentials.clone()));
    // The parsed form verifies the RFC's exchange too.
    let parsed = ScramCredentials::parse(&stored).unwrap();
    assert_eq!(
        challenge(&parsed).finish(CLIENT_FINAL.as_bytes()),
        Ok(SERVER_FINAL.into())
    );
    for bad in [
        "",
        "pencil",
        "scram-sha-1$4096$c2FsdA==$AAAA$AAAA",
        "scram-sha-256$0$c2FsdA==$AAAA$AAAA",
        "scram-sha-256$4096$c2FsdA==$AAAA$AAAA",
        "scram-sha-256$4096$!!$AAAA$AAAA",
        &format!("{stored}$extra"),
    ] {
        let err = ScramCredentials::parse(bad).unwrap_err();
        assert!(
            err.to_string().contains("scram-sha-256$ITERATIONS"),
            "{err}"
        );
    }
    // Debug output shows no keys.
    let shown = format!("{credentials:?}");
    assert!(!shown.contains("stored_key"), "{shown}");
}

#[test]
fn dummy_credentials_are_stable_per_name_and_match_no_password() {
    let a = ScramCredentials::dummy("ghost", b"secret");
    assert_eq!(a, ScramCredentials::dummy("ghost", b"secret"));
    assert_ne!(
        a.salt(),
        ScramCredentials::dummy("ghost2", b"secret").salt()
    );
    assert_ne!(a.salt(), ScramCredentials::dummy("ghost", b"other").salt());
    assert_eq!(a.salt().len(), 16);
    assert_eq!(a.iterations(), DEFAULT_ITERATIONS);
    let real = ScramCredentials::derive("pencil", a.salt(), a.iterations());
    assert_ne!(real.stored_key(), a.stored_key());
}

/// A client's side of the exchange, written from RFC 5802 section 3,
/// for round trips: client-final for `password`, given server-first.
fn client_final(password: &str, gs2: &str, server_first: &str, client_first_bare: &str) -> String {
    let mut fields = server_first.split(',');
    let nonce = attribute(fields.next(), 'r').unwrap();
    let salt = BASE64
        .decode(attribute(fields.next(), 's').unwrap())
        .unwrap();
    let iterations: u32 = attribute(fields.next(), 'i').unwrap().parse().unwrap();
    let mut salted = [0u8; 32];
    pbkdf2::pbkdf2_hmac::<Sha256>(password.as_bytes(), &salt, iterations, &mut salted);
    let client_key = hmac(&salted, b"Client Key");
    let stored_key = Sha256::digest(client_key);
    let without_proof = format!("c={},r={nonce}", BASE64.encode(gs2));
    let auth = format!("{client_first_bare},{server_first},{without_proof}");
    let signature = hmac(&stored_key, auth.as_bytes());
    let proof: Vec<u8> = client_key
        .iter()
        .zip(signature)
        .map(|(k, s)| k ^ s)
        .collect();
    format!("{without_proof},p={}", BASE64.encode(proof))
}

proptest! {
    #[test]
    fn the_right_password_always_logs_in_and_a_wrong_one_never(
        name in "[a-z,=é]{1,12}",
        password in ".{0,20}",
        salt in proptest::collection::vec(any::<u8>(), 1..20),
        nonce in "[!-+\\--~]{1,20}",
    ) {
        let escaped = name.replace('=', "=3D").replace(',', "=2C");
        let bare = format!("n={escaped},r={nonce}");
        let start = ScramServer::start(format!("n,,{bare}").as_bytes(), "srv").unwrap();
        prop_assert_eq!(start.username(), name.as_str());
        let credentials = ScramCredentials::derive(&password, &salt, 2);
        let (challenge, server_first) = start.clone().server_first(&credentials);
        let good = client_final(&password, "n,,", &server_first, &bare);
        prop_assert!(challenge.finish(good.as_bytes()).is_ok());
        let (challenge, server_first) = start.server_first(&credentials);
        let bad = client_final(&format!("{password}x"), "n,,", &server_first, &bare);
        prop_assert_eq!(challenge.finish(bad.as_bytes()), Err(ScramError::InvalidProof));
    }

    #[test]
    fn arbitrary_client_first_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..300)) {
        let _ = ScramServer::start(&bytes, "xyz");
    }

    #[test]
    fn arbitrary_text_client_first_never_panics(text in "[ny=pa,rmnc2C3D:x]{0,40}") {
        let _ = ScramServer::start(text.as_bytes(), "xyz");
    }

    #[test]
    fn arbitrary_client_final_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..300)) {
        let _ = challenge(&pencil()).finish(&bytes);
    }

    #[test]
    fn arbitrary_text_client_final_never_panics(text in "(c=biws,)?(r=[a-zA-Z%$)0-9]{0,60},)?p=[A-Za-z0-9+/=]{0,50}") {
        let _ = challenge(&pencil()).finish(text.as_bytes());
    }
}
