//! The client side of SCRAM-SHA-256 (RFC 5802, RFC 7677), written from the
//! RFCs rather than from natter's server code, so a test that logs in with
//! it checks the server against the standard.
#![allow(dead_code)]

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;
use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256};

fn hmac(key: &[u8], data: &[u8]) -> Vec<u8> {
    let mut m = Hmac::<Sha256>::new_from_slice(key).expect("HMAC takes a key of any length");
    m.update(data);
    m.finalize().into_bytes().to_vec()
}

/// The client-first message: no channel binding (`n,,`), no authzid.
pub fn client_first(user: &str, client_nonce: &str) -> String {
    format!("n,,n={user},r={client_nonce}")
}

/// `(client_final, expected server_final)` for `server_first`.
pub fn finish(
    user: &str,
    password: &str,
    client_nonce: &str,
    server_first: &str,
) -> (String, String) {
    let field = |k: &str| {
        server_first
            .split(',')
            .find_map(|f| f.strip_prefix(k))
            .unwrap_or_else(|| panic!("no {k} in server-first {server_first:?}"))
            .to_string()
    };
    let (nonce, salt, iterations) = (field("r="), field("s="), field("i="));
    assert!(
        nonce.starts_with(client_nonce) && nonce.len() > client_nonce.len(),
        "the server's nonce must extend the client's: {server_first:?}"
    );
    let salt = B64.decode(salt).expect("the salt is base64");
    let iterations: u32 = iterations.parse().expect("i= is a number");
    let mut salted = [0u8; 32];
    pbkdf2::pbkdf2_hmac::<Sha256>(password.as_bytes(), &salt, iterations, &mut salted);
    let client_key = hmac(&salted, b"Client Key");
    let stored_key = Sha256::digest(&client_key);
    let without_proof = format!("c=biws,r={nonce}");
    let auth = format!("n={user},r={client_nonce},{server_first},{without_proof}");
    let signature = hmac(&stored_key, auth.as_bytes());
    let proof: Vec<u8> = client_key
        .iter()
        .zip(&signature)
        .map(|(a, b)| a ^ b)
        .collect();
    let server_key = hmac(&salted, b"Server Key");
    let server_signature = B64.encode(hmac(&server_key, auth.as_bytes()));
    (
        format!("{without_proof},p={}", B64.encode(proof)),
        format!("v={server_signature}"),
    )
}
