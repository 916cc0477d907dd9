//! Server-wide bans (K-lines): [`ServerBan`], the [`ServerBans`] list, and
//! how a typed mask and duration are read.
//!
//! Owns the list, its bound ([`MAX_SERVER_BANS`]), normalizing masks and
//! matching a client against them, and expiry against the wall clock that
//! arrives in events. Must never read a clock, touch the store or send
//! anything: the operator commands live in `server/kline.rs`, and the
//! shell stores what [`crate::core::Action::SaveServerBan`] hands it.

use super::event::Timestamp;
use crate::proto::{casefold, mask_matches, normalize_mask};
use core::net::IpAddr;
use std::collections::BTreeMap;
use std::fmt;

/// Most server bans kept at once; one more is refused with
/// [`ServerBanError::Full`].
pub const MAX_SERVER_BANS: usize = 10_000;

/// Longest ban reason kept, in bytes.
pub const MAX_BAN_REASON: usize = 300;

/// One server-wide ban, as the store keeps it.
///
/// ```
/// use natter::core::{ServerBan, Timestamp};
/// let ban = ServerBan {
///     mask: "*!*@192.0.2.0/24".into(),
///     reason: "spam".into(),
///     set_by: "alice".into(),
///     set_at: Timestamp(1_000),
///     expires_at: Some(Timestamp(61_000)),
/// };
/// assert!(ban.matches("Bob!bob@192.0.2.7"));
/// assert!(ban.is_expired(Timestamp(61_000)));
/// ```
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct ServerBan {
    /// The normalized mask ([`normalize_ban_mask`]): `nick!user@host`, whose
    /// host may be an address or a CIDR network.
    pub mask: String,
    /// Why, as the operator gave it; shown to whoever it keeps out.
    pub reason: String,
    /// The nick of the operator who set it.
    pub set_by: String,
    /// When it was set (wall clock).
    pub set_at: Timestamp,
    /// When it stops applying; `None` for never.
    pub expires_at: Option<Timestamp>,
}

impl ServerBan {
    /// Whether the ban applies to `subject` (a client's `nick!user@host`).
    /// A host part that is a CIDR network (`192.0.2.0/24`) matches every
    /// address in it; anything else is a glob (`*`, `?`), ignoring case.
    pub fn matches(&self, subject: &str) -> bool {
        let Some((front, host)) = self.mask.rsplit_once('@') else {
            return false;
        };
        if let Some(net) = parse_cidr(host).filter(|_| host.contains('/')) {
            let Some((who, their_host)) = subject.rsplit_once('@') else {
                return false;
            };
            let Ok(ip) = their_host.parse::<IpAddr>() else {
                return false;
            };
            return net.contains(ip) && mask_matches(front, who);
        }
        mask_matches(&self.mask, subject)
    }

    /// Whether it no longer applies at `now`.
    pub fn is_expired(&self, now: Timestamp) -> bool {
        self.expires_at.is_some_and(|at| at <= now)
    }
}

/// Why a ban cannot be set.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ServerBanError {
    /// There are [`MAX_SERVER_BANS`] already.
    Full { max: usize },
    /// The mask matches everyone (`*@*`).
    TooWide { mask: String },
}

impl fmt::Display for ServerBanError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ServerBanError::Full { max } => write!(
                f,
                "The server ban list is full ({max} bans): remove some with UNKLINE first"
            ),
            ServerBanError::TooWide { mask } => write!(
                f,
                "{mask} would ban everyone: give a user@host, nick!user@host or an address/CIDR that names someone"
            ),
        }
    }
}

impl std::error::Error for ServerBanError {}

/// The full, canonical form of a ban mask as an operator typed it, the key
/// bans are stored and removed by.
///
/// - `user@host`, `nick!user@host`, a nick or a host expand as channel bans
///   do ([`normalize_mask`]): `bob@example.org` → `*!bob@example.org`;
/// - a host that is an address or CIDR network is written canonically:
///   `192.0.2.7/24` → `*!*@192.0.2.0/24`, `2001:DB8::1` → `*!*@2001:db8::1`;
/// - letters are lower-cased (matching ignores ASCII case anyway), so the
///   same ban typed twice is one ban.
///
/// ```
/// use natter::core::normalize_ban_mask;
/// assert_eq!(normalize_ban_mask("Bob@Example.ORG"), "*!bob@example.org");
/// assert_eq!(normalize_ban_mask("192.0.2.7/24"), "*!*@192.0.2.0/24");
/// assert_eq!(normalize_ban_mask("*@2001:DB8::1/32"), "*!*@2001:db8::/32");
/// assert_eq!(normalize_ban_mask("eve!*@*"), "eve!*@*");
/// ```
pub fn normalize_ban_mask(raw: &str) -> String {
    let mask = casefold(&normalize_mask(raw));
    let Some((front, host)) = mask.rsplit_once('@') else {
        return mask; // never: normalize_mask always writes one `@`
    };
    match parse_cidr(host) {
        Some(net) if host.contains('/') => format!("{front}@{net}"),
        Some(net) => format!("{front}@{}", net.addr),
        None => mask,
    }
}

/// Whether a normalized mask matches everyone: every part only `*`/`?`.
pub fn is_too_wide(mask: &str) -> bool {
    mask.split(['!', '@'])
        .all(|part| part.chars().all(|c| c == '*' || c == '?'))
}

/// A ban's duration as KLINE takes it, in seconds: plain digits are
/// minutes (as solanum), or a number with units `s`, `m`, `h`, `d`, `w`,
/// combined as in `1h30m` (as InspIRCd). `Some(0)` means permanent; `None`
/// when `text` is not a duration.
///
/// ```
/// use natter::core::parse_ban_duration;
/// assert_eq!(parse_ban_duration("10"), Some(600));
/// assert_eq!(parse_ban_duration("1h30m"), Some(5400));
/// assert_eq!(parse_ban_duration("2d"), Some(172_800));
/// assert_eq!(parse_ban_duration("0"), Some(0));
/// assert_eq!(parse_ban_duration("bob@host"), None);
/// ```
pub fn parse_ban_duration(text: &str) -> Option<u64> {
    if text.is_empty() || text.len() > 20 {
        return None;
    }
    if text.bytes().all(|b| b.is_ascii_digit()) {
        return text.parse::<u64>().ok()?.checked_mul(60);
    }
    let mut total: u64 = 0;
    let mut number: Option<u64> = None;
    for c in text.chars() {
        if let Some(d) = c.to_digit(10) {
            number = Some(number.unwrap_or(0).checked_mul(10)?.checked_add(d.into())?);
            continue;
        }
        let unit = match c.to_ascii_lowercase() {
            's' => 1,
            'm' => 60,
            'h' => 3600,
            'd' => 86_400,
            'w' => 604_800,
            _ => return None,
        };
        total = total.checked_add(number.take()?.checked_mul(unit)?)?;
    }
    if number.is_some() {
        return None; // trailing digits without a unit: `1h30`
    }
    Some(total)
}

/// Every server ban, by normalized mask.
#[derive(Debug, Default, Clone, serde::Serialize, serde::Deserialize)]
pub struct ServerBans {
    bans: BTreeMap<String, ServerBan>,
}

impl ServerBans {
    /// Adds `ban`, replacing one with the same mask (returned). Refused when
    /// the list is full (a replacement always fits) or the mask is too wide.
    pub fn insert(&mut self, ban: ServerBan) -> Result<Option<ServerBan>, ServerBanError> {
        if is_too_wide(&ban.mask) {
            return Err(ServerBanError::TooWide { mask: ban.mask });
        }
        if self.bans.len() >= MAX_SERVER_BANS && !self.bans.contains_key(&ban.mask) {
            return Err(ServerBanError::Full {
                max: MAX_SERVER_BANS,
            });
        }
        Ok(self.bans.insert(ban.mask.clone(), ban))
    }

    /// Adds what the store kept, without the checks (up to the bound).
    pub fn restore(&mut self, ban: ServerBan) {
        if self.bans.len() < MAX_SERVER_BANS || self.bans.contains_key(&ban.mask) {
            self.bans.insert(ban.mask.clone(), ban);
        }
    }

    /// Removes the ban on the normalized `mask`.
    pub fn remove(&mut self, mask: &str) -> Option<ServerBan> {
        self.bans.remove(mask)
    }

    /// Removes and returns every ban expired at `now`.
    pub fn expire(&mut self, now: Timestamp) -> Vec<ServerBan> {
        let gone: Vec<String> = self
            .bans
            .values()
            .filter(|b| b.is_expired(now))
            .map(|b| b.mask.clone())
            .collect();
        gone.iter().filter_map(|m| self.bans.remove(m)).collect()
    }

    /// The first (by mask) ban in force at `now` that matches `subject`.
    pub fn matching(&self, subject: &str, now: Timestamp) -> Option<&ServerBan> {
        self.bans
            .values()
            .find(|b| !b.is_expired(now) && b.matches(subject))
    }

    /// Every ban, by mask.
    pub fn iter(&self) -> impl Iterator<Item = &ServerBan> {
        self.bans.values()
    }

    /// How many bans there are.
    pub fn len(&self) -> usize {
        self.bans.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.bans.is_empty()
    }
}

/// An address network, for CIDR bans.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Net {
    addr: IpAddr,
    prefix: u8,
}

impl Net {
    fn contains(self, ip: IpAddr) -> bool {
        let ip = unmap(ip);
        ip.is_ipv4() == self.addr.is_ipv4() && masked(ip, self.prefix) == self.addr
    }
}

impl fmt::Display for Net {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.addr, self.prefix)
    }
}

/// `ADDR` or `ADDR/PREFIX`, the address masked to the prefix.
fn parse_cidr(text: &str) -> Option<Net> {
    let (addr, prefix) = match text.split_once('/') {
        Some((addr, prefix)) => (addr, Some(prefix)),
        None => (text, None),
    };
    let addr = unmap(addr.parse::<IpAddr>().ok()?);
    let max = if addr.is_ipv4() { 32 } else { 128 };
    let prefix = match prefix {
        Some(p) if !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()) => {
            p.parse::<u8>().ok().filter(|&p| p <= max)?
        }
        Some(_) => return None,
        None => max,
    };
    Some(Net {
        addr: masked(addr, prefix),
        prefix,
    })
}

fn unmap(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        v4 => v4,
    }
}

fn masked(ip: IpAddr, prefix: u8) -> IpAddr {
    match ip {
        IpAddr::V4(v4) => {
            let bits = u32::from(v4);
            let mask = u32::MAX.checked_shl(32 - u32::from(prefix)).unwrap_or(0);
            IpAddr::V4((bits & mask).into())
        }
        IpAddr::V6(v6) => {
            let bits = u128::from(v6);
            let mask = u128::MAX.checked_shl(128 - u32::from(prefix)).unwrap_or(0);
            IpAddr::V6((bits & mask).into())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ban(mask: &str) -> ServerBan {
        ServerBan {
            mask: normalize_ban_mask(mask),
            reason: "r".into(),
            set_by: "op".into(),
            set_at: Timestamp(0),
            expires_at: None,
        }
    }

    #[test]
    fn masks_expand_and_addresses_become_canonical() {
        for (typed, full) in [
            ("bob@host", "*!bob@host"),
            ("Eve!*@*", "eve!*@*"),
            ("192.0.2.7", "*!*@192.0.2.7"),
            ("*@192.0.2.99/24", "*!*@192.0.2.0/24"),
            ("::ffff:192.0.2.7", "*!*@192.0.2.7"),
            ("2001:db8::1/32", "*!*@2001:db8::/32"),
            ("*@10.0.0.0/99", "*!*@10.0.0.0/99"),
        ] {
            assert_eq!(normalize_ban_mask(typed), full, "{typed}");
        }
    }

    #[test]
    fn cidr_bans_match_addresses_in_the_network_only() {
        let b = ban("*@192.0.2.0/24");
        assert!(b.matches("a!b@192.0.2.200"));
        assert!(!b.matches("a!b@192.0.3.1"));
        assert!(!b.matches("a!b@example.org"));
        let v6 = ban("2001:db8::/32");
        assert!(v6.matches("a!b@2001:db8:1::5"));
        assert!(!v6.matches("a!b@2001:db9::5"));
        let user = ban("evil@10.0.0.0/8");
        assert!(user.matches("x!evil@10.1.2.3"));
        assert!(!user.matches("x!good@10.1.2.3"));
    }

    #[test]
    fn globs_match_nick_user_and_host_ignoring_case() {
        assert!(ban("*@*.example.org").matches("Bob!b@shell.EXAMPLE.org"));
        assert!(ban("eve").matches("EVE!x@y"));
        assert!(!ban("eve").matches("steve!x@y"));
    }

    #[test]
    fn durations_are_minutes_or_units() {
        assert_eq!(parse_ban_duration("1"), Some(60));
        assert_eq!(parse_ban_duration("90s"), Some(90));
        assert_eq!(parse_ban_duration("1w2d"), Some(604_800 + 172_800));
        assert_eq!(parse_ban_duration("1h30"), None);
        assert_eq!(parse_ban_duration("h"), None);
        assert_eq!(parse_ban_duration(""), None);
        assert_eq!(parse_ban_duration("99999999999999999999"), None);
    }

    #[test]
    fn the_list_is_bounded_and_refuses_bans_on_everyone() {
        let mut bans = ServerBans::default();
        assert!(matches!(
            bans.insert(ban("*@*")),
            Err(ServerBanError::TooWide { .. })
        ));
        for i in 0..MAX_SERVER_BANS {
            bans.insert(ban(&format!("u{i}@h"))).expect("room left");
        }
        let full = bans.insert(ban("one@more")).expect_err("full");
        assert!(full.to_string().contains("UNKLINE"), "{full}");
        assert!(bans.insert(ban("u1@h")).expect("replacing fits").is_some());
    }

    #[test]
    fn expired_bans_stop_matching_and_are_swept() {
        let mut bans = ServerBans::default();
        let mut b = ban("eve@*");
        b.expires_at = Some(Timestamp(100));
        bans.insert(b).expect("fits");
        assert!(bans.matching("x!eve@h", Timestamp(99)).is_some());
        assert!(bans.matching("x!eve@h", Timestamp(100)).is_none());
        assert_eq!(bans.expire(Timestamp(100)).len(), 1);
        assert!(bans.is_empty());
    }
}
