//! SHA-256 certificate fingerprints: computing, printing and parsing them.
//!
//! Owns the one textual form natter shows (`AB:CD:…`, 32 upper-case hex
//! pairs) and the forms it accepts (hex with or without colons, any case).
//! Pure: must never read files or sockets.

use sha2::{Digest, Sha256};

/// The SHA-256 of a certificate's DER bytes, as `AB:CD:…`.
///
/// ```
/// let shown = natter::fingerprint::sha256_hex(b"not really a certificate");
/// assert_eq!(shown.len(), 32 * 3 - 1);
/// assert_eq!(natter::fingerprint::parse(&shown), Some(natter::fingerprint::sha256(b"not really a certificate")));
/// ```
pub fn sha256_hex(der: &[u8]) -> String {
    show(&sha256(der))
}

/// The raw SHA-256 of `der`.
pub fn sha256(der: &[u8]) -> [u8; 32] {
    Sha256::digest(der).into()
}

/// `AB:CD:…` for a digest.
pub fn show(digest: &[u8; 32]) -> String {
    digest
        .iter()
        .map(|b| format!("{b:02X}"))
        .collect::<Vec<_>>()
        .join(":")
}

/// Reads a fingerprint typed by a person: 64 hex digits, with or without
/// `:` (or spaces) between pairs, any case, optionally prefixed `sha256:`.
/// `None` when it is not exactly 32 bytes of hex.
pub fn parse(text: &str) -> Option<[u8; 32]> {
    let text = text.trim();
    let text = text
        .strip_prefix("sha256:")
        .or_else(|| text.strip_prefix("SHA256:"))
        .unwrap_or(text);
    let digits: Vec<u8> = text.bytes().filter(|b| *b != b':' && *b != b' ').collect();
    // from_str_radix alone would take a sign ("+1") as part of a number.
    if digits.len() != 64 || !digits.iter().all(u8::is_ascii_hexdigit) {
        return None;
    }
    let mut out = [0u8; 32];
    for (i, pair) in digits.chunks(2).enumerate() {
        let hex = std::str::from_utf8(pair).ok()?;
        out[i] = u8::from_str_radix(hex, 16).ok()?;
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_fingerprint_reads_back_with_or_without_colons_in_any_case() {
        let digest = sha256(b"cert");
        let shown = show(&digest);
        assert_eq!(parse(&shown), Some(digest));
        assert_eq!(parse(&shown.replace(':', "").to_lowercase()), Some(digest));
        assert_eq!(parse(&format!("sha256:{shown}")), Some(digest));
    }

    #[test]
    fn short_long_and_non_hex_fingerprints_are_refused() {
        assert_eq!(parse("AB:CD"), None);
        assert_eq!(parse(&"A".repeat(66)), None);
        assert_eq!(parse(&"+1".repeat(32)), None);
        assert_eq!(parse(&"é".repeat(32)), None);
    }
}
