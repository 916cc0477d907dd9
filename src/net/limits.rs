//! Connection limits: how many connections one address, and one network,
//! may hold at once, and how fast one address may open new ones.
//!
//! Owns the decision whether to take a new TCP connection at all, made
//! before the core ever hears of it: [`ConnectionLimiter::admit`] answers
//! with a [`Permit`] (give it back with [`ConnectionLimiter::release`] when
//! the connection closes) or a [`Refusal`] whose text the refused client is
//! sent. Pure: time arrives as an argument, and it never touches a socket,
//! a clock or a file; the accept loops in [`super`] do that, through
//! [`SharedLimiter`] whose [`Guard`] releases on drop. Must never make a
//! chat decision, and never hold more state than the connections it counts
//! plus the recent connection times of each address.
//!
//! ```
//! use natter::net::limits::{ConnectionLimiter, LimitSettings};
//! use std::time::Instant;
//! let mut limits = ConnectionLimiter::new(LimitSettings { max_per_ip: 1, ..LimitSettings::default() });
//! let ip = "192.0.2.7".parse().unwrap();
//! let now = Instant::now();
//! let first = limits.admit(ip, now).expect("the first connection is taken");
//! let refused = limits.admit(ip, now).unwrap_err();
//! assert_eq!(refused.to_string(), "Too many connections from your IP address: at most 1; try again later");
//! limits.release(first);
//! assert!(limits.admit(ip, now).is_ok());
//! ```

use std::collections::{HashMap, VecDeque};
use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::str::FromStr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

// Defaults, measured against established servers:
// - ergo (`server.ip-limits`): 16 concurrent connections per IP (IPv4 /32,
//   IPv6 /64), at most 32 new ones per 10 minutes, localhost exempt.
// - UnrealIRCd's example config: `maxperip 3`, `connect-flood 3:60`.
// - InspIRCd's example config: `localmax="3" globalmax="3"` per IP;
//   connectban Z-lines an IP after 10 connections in an hour.
// natter is often one person's server for friends, some of them behind one
// NAT (a household, an office) or running a bouncer with several clients,
// so it follows ergo's per-address 16 rather than the big networks' 3. A
// whole /24 or IPv6 /64 (one customer's LAN) gets four addresses' worth,
// 64, which still stops one machine with many addresses. New connections
// are throttled to 16 a minute per address: a reconnecting client or a
// bouncer restart fits easily; a connect loop or a clone flood does not.

/// Default most simultaneous connections from one IP address.
pub const DEFAULT_MAX_PER_IP: u32 = 16;
/// Default most simultaneous connections from one network (IPv4 /24, IPv6 /64).
pub const DEFAULT_MAX_PER_NET: u32 = 64;
/// Default most new connections per address per window.
pub const DEFAULT_RATE: ConnRate = ConnRate {
    count: 16,
    window: Duration::from_secs(60),
};
/// Prefix length that groups IPv4 addresses into one network.
pub const NET_PREFIX_V4: u8 = 24;
/// Prefix length that groups IPv6 addresses into one network (one LAN).
pub const NET_PREFIX_V6: u8 = 64;

/// What is wrong with a CIDR or a rate, worded for the operator.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LimitError {
    /// The address part is not an IPv4 or IPv6 address.
    BadAddress { text: String },
    /// The prefix length is not a number up to 32 (IPv4) or 128 (IPv6).
    BadPrefix { text: String, max: u8 },
    /// Bits past the prefix are set (`10.1.2.3/8`).
    HostBitsSet { text: String, network: String },
    /// The rate is not `N/SECS`.
    BadRate { text: String },
}

impl fmt::Display for LimitError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LimitError::BadAddress { text } => write!(
                f,
                "{text:?} is not an address or network: write e.g. 10.0.0.0/8, \
                 192.0.2.7 or 2001:db8::/32"
            ),
            LimitError::BadPrefix { text, max } => write!(
                f,
                "the prefix length in {text:?} must be a number from 0 to {max}"
            ),
            LimitError::HostBitsSet { text, network } => write!(
                f,
                "{text:?} has bits set past its prefix length; did you mean {network}?"
            ),
            LimitError::BadRate { text } => write!(
                f,
                "{text:?} is not a connection rate: write N/SECS, e.g. 16/60 for at most \
                 16 new connections per address per minute, or 0 to turn the throttle off"
            ),
        }
    }
}

impl std::error::Error for LimitError {}

/// An IPv4-mapped IPv6 address (`::ffff:1.2.3.4`, an IPv4 client of a `::`
/// listener) as the IPv4 address it is; any other address as it is.
pub fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => ip,
        },
        v4 => v4,
    }
}

/// `ip` with every bit past `prefix` cleared.
fn masked(ip: IpAddr, prefix: u8) -> IpAddr {
    match ip {
        IpAddr::V4(v4) => {
            let bits = u32::from(v4);
            let mask = u32::MAX
                .checked_shl(32 - u32::from(prefix.min(32)))
                .unwrap_or(0);
            IpAddr::V4(Ipv4Addr::from(bits & mask))
        }
        IpAddr::V6(v6) => {
            let bits = u128::from(v6);
            let mask = u128::MAX
                .checked_shl(128 - u32::from(prefix.min(128)))
                .unwrap_or(0);
            IpAddr::V6(Ipv6Addr::from(bits & mask))
        }
    }
}

/// A network: an address and a prefix length, `10.0.0.0/8` or `::1/128`.
///
/// ```
/// use natter::net::limits::Cidr;
/// let lan: Cidr = "192.168.1.0/24".parse().unwrap();
/// assert!(lan.contains("192.168.1.200".parse().unwrap()));
/// assert!(!lan.contains("192.168.2.1".parse().unwrap()));
/// assert_eq!("2001:db8::1".parse::<Cidr>().unwrap().to_string(), "2001:db8::1/128");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Cidr {
    network: IpAddr,
    prefix: u8,
}

impl Cidr {
    /// The network of `prefix` bits that holds `ip`.
    pub fn of(ip: IpAddr, prefix: u8) -> Cidr {
        let ip = canonical(ip);
        let prefix = prefix.min(max_prefix(ip));
        Cidr {
            network: masked(ip, prefix),
            prefix,
        }
    }

    /// Whether `ip` is in this network (IPv4-mapped IPv6 counts as IPv4).
    pub fn contains(&self, ip: IpAddr) -> bool {
        let ip = canonical(ip);
        ip.is_ipv4() == self.network.is_ipv4() && masked(ip, self.prefix) == self.network
    }

    /// The network that connection limits count `ip` in: its /24 (IPv4)
    /// or /64 (IPv6).
    pub fn limit_net(ip: IpAddr) -> Cidr {
        let ip = canonical(ip);
        match ip {
            IpAddr::V4(_) => Cidr::of(ip, NET_PREFIX_V4),
            IpAddr::V6(_) => Cidr::of(ip, NET_PREFIX_V6),
        }
    }
}

fn max_prefix(ip: IpAddr) -> u8 {
    match ip {
        IpAddr::V4(_) => 32,
        IpAddr::V6(_) => 128,
    }
}

impl fmt::Display for Cidr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.network, self.prefix)
    }
}

impl FromStr for Cidr {
    type Err = LimitError;

    /// `ADDR/PREFIX`, or a bare address (one host). IPv4-mapped IPv6
    /// networks (`::ffff:10.0.0.0/104`) are read as the IPv4 network.
    fn from_str(text: &str) -> Result<Cidr, LimitError> {
        let text = text.trim();
        let (addr, prefix) = match text.split_once('/') {
            Some((addr, prefix)) => (addr, Some(prefix)),
            None => (text, None),
        };
        let ip: IpAddr = addr.parse().map_err(|_| LimitError::BadAddress {
            text: text.to_string(),
        })?;
        let max = max_prefix(ip);
        let prefix = match prefix {
            None => max,
            Some(p) => match p.parse::<u8>() {
                Ok(n) if n <= max && p.bytes().all(|b| b.is_ascii_digit()) => n,
                _ => {
                    return Err(LimitError::BadPrefix {
                        text: text.to_string(),
                        max,
                    })
                }
            },
        };
        let network = masked(ip, prefix);
        if network != ip {
            return Err(LimitError::HostBitsSet {
                text: text.to_string(),
                network: format!("{network}/{prefix}"),
            });
        }
        match ip {
            IpAddr::V6(v6) if prefix >= 96 && v6.to_ipv4_mapped().is_some() => {
                Ok(Cidr::of(canonical(ip), prefix - 96))
            }
            _ => Ok(Cidr { network, prefix }),
        }
    }
}

/// At most `count` new connections per address in any `window`.
///
/// ```
/// use natter::net::limits::ConnRate;
/// let rate = ConnRate::parse("16/60").unwrap().unwrap();
/// assert_eq!((rate.count, rate.window.as_secs()), (16, 60));
/// assert_eq!(ConnRate::parse("0").unwrap(), None); // no throttle
/// assert_eq!(rate.to_string(), "16/60");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConnRate {
    /// Most new connections in one window.
    pub count: u32,
    /// The window.
    pub window: Duration,
}

impl ConnRate {
    /// `N/SECS` (both at least 1); `0` or `off` for no throttle.
    pub fn parse(text: &str) -> Result<Option<ConnRate>, LimitError> {
        let text = text.trim();
        if text == "0" || text.eq_ignore_ascii_case("off") {
            return Ok(None);
        }
        let bad = || LimitError::BadRate {
            text: text.to_string(),
        };
        let (count, secs) = text.split_once('/').ok_or_else(bad)?;
        let count: u32 = count.trim().parse().map_err(|_| bad())?;
        let secs = secs.trim();
        let secs: u64 = secs
            .strip_suffix('s')
            .unwrap_or(secs)
            .parse()
            .map_err(|_| bad())?;
        if count == 0 || secs == 0 {
            return Err(bad());
        }
        Ok(Some(ConnRate {
            count,
            window: Duration::from_secs(secs),
        }))
    }
}

impl fmt::Display for ConnRate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.count, self.window.as_secs())
    }
}

/// The limits in force. 0 for a maximum means no limit.
///
/// ```
/// let limits = natter::net::limits::LimitSettings::default();
/// assert_eq!((limits.max_per_ip, limits.max_per_net), (16, 64));
/// assert!(limits.exempt_loopback);
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LimitSettings {
    /// Most simultaneous connections from one IP address; 0: no limit.
    pub max_per_ip: u32,
    /// Most simultaneous connections from one IPv4 /24 or IPv6 /64; 0: no limit.
    pub max_per_net: u32,
    /// The new-connection throttle per address (IPv6: per /64); `None`: off.
    pub rate: Option<ConnRate>,
    /// Whether loopback (127.0.0.0/8, ::1) is exempt from every limit.
    pub exempt_loopback: bool,
    /// Networks exempt from every limit (a bouncer host, a web gateway).
    pub exempt: Vec<Cidr>,
}

impl Default for LimitSettings {
    fn default() -> Self {
        LimitSettings {
            max_per_ip: DEFAULT_MAX_PER_IP,
            max_per_net: DEFAULT_MAX_PER_NET,
            rate: Some(DEFAULT_RATE),
            exempt_loopback: true,
            exempt: Vec::new(),
        }
    }
}

impl LimitSettings {
    /// Whether `ip` is exempt from every limit.
    pub fn is_exempt(&self, ip: IpAddr) -> bool {
        let ip = canonical(ip);
        (self.exempt_loopback && ip.is_loopback()) || self.exempt.iter().any(|n| n.contains(ip))
    }
}

/// Why a connection was refused; its `Display` is what the client is told.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    /// The address already holds `max` connections.
    PerIp { max: u32 },
    /// The address's network already holds `max` connections.
    PerNet { net: Cidr, max: u32 },
    /// The address opened `rate.count` connections within the window;
    /// the next is allowed in `retry_after`.
    Throttled {
        rate: ConnRate,
        retry_after: Duration,
    },
}

impl fmt::Display for Refusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Refusal::PerIp { max } => write!(
                f,
                "Too many connections from your IP address: at most {max}; try again later"
            ),
            Refusal::PerNet { net, max } => write!(
                f,
                "Too many connections from your network {net}: at most {max}; try again later"
            ),
            Refusal::Throttled { rate, retry_after } => {
                // Whole seconds, rounded up: "try again in 0 seconds" helps no one.
                let secs = retry_after.as_millis().div_ceil(1000).max(1);
                write!(
                    f,
                    "Too many new connections from your IP address: at most {} in {} seconds; \
                     try again in {secs} seconds",
                    rate.count,
                    rate.window.as_secs()
                )
            }
        }
    }
}

impl Refusal {
    /// The one line a refused client is sent before the connection closes.
    ///
    /// ```
    /// use natter::net::limits::Refusal;
    /// let line = Refusal::PerIp { max: 3 }.error_line("192.0.2.7".parse().unwrap());
    /// assert_eq!(line, "ERROR :Closing Link: 192.0.2.7 (Too many connections from your IP address: at most 3; try again later)");
    /// ```
    pub fn error_line(&self, ip: IpAddr) -> String {
        format!("ERROR :Closing Link: {} ({self})", canonical(ip))
    }
}

/// One admitted connection's place in the counts. Give it back with
/// [`ConnectionLimiter::release`] when the connection closes.
#[must_use = "a permit not released holds its connection slot forever"]
#[derive(Debug, PartialEq, Eq)]
pub struct Permit {
    /// The address and network counted, or `None` for an exempt address
    /// (kept, so a reload that changes the exemptions releases exactly
    /// what was counted).
    counted: Option<(IpAddr, Cidr)>,
}

/// Counts connections per address and network and recent connections per
/// address, and decides each new connection.
#[derive(Debug)]
pub struct ConnectionLimiter {
    settings: LimitSettings,
    per_ip: HashMap<IpAddr, u32>,
    per_net: HashMap<Cidr, u32>,
    /// Throttle key → when its recent connections were admitted, oldest
    /// first; at most `rate.count` of them.
    recent: HashMap<IpAddr, VecDeque<Instant>>,
    /// Admissions since `recent` was last swept of expired addresses.
    since_sweep: usize,
    /// Admissions between sweeps: the table's size after the last sweep
    /// (at least 1024), so sweeping costs O(1) per admission.
    sweep_every: usize,
}

impl ConnectionLimiter {
    /// A limiter with nobody connected.
    pub fn new(settings: LimitSettings) -> ConnectionLimiter {
        ConnectionLimiter {
            settings,
            per_ip: HashMap::new(),
            per_net: HashMap::new(),
            recent: HashMap::new(),
            since_sweep: 0,
            sweep_every: 1024,
        }
    }

    /// The limits in force.
    pub fn settings(&self) -> &LimitSettings {
        &self.settings
    }

    /// Puts new limits in force (a reload). Connections already admitted
    /// stay, even past a lower limit; new ones are decided by the new limits.
    pub fn set_settings(&mut self, settings: LimitSettings) {
        self.settings = settings;
    }

    /// Whether a new connection from `ip` at `now` may be taken. On
    /// success it is counted until [`ConnectionLimiter::release`].
    pub fn admit(&mut self, ip: IpAddr, now: Instant) -> Result<Permit, Refusal> {
        let ip = canonical(ip);
        if self.settings.is_exempt(ip) {
            return Ok(Permit { counted: None });
        }
        let max = self.settings.max_per_ip;
        if max > 0 && self.per_ip.get(&ip).copied().unwrap_or(0) >= max {
            return Err(Refusal::PerIp { max });
        }
        let net = Cidr::limit_net(ip);
        let max = self.settings.max_per_net;
        if max > 0 && self.per_net.get(&net).copied().unwrap_or(0) >= max {
            return Err(Refusal::PerNet { net, max });
        }
        if let Some(rate) = self.settings.rate {
            self.throttle(ip, rate, now)?;
        }
        *self.per_ip.entry(ip).or_insert(0) += 1;
        *self.per_net.entry(net).or_insert(0) += 1;
        Ok(Permit {
            counted: Some((ip, net)),
        })
    }

    /// Checks and records one new connection against the throttle. An IPv6
    /// address is throttled by its /64: a host picks any address in its
    /// LAN's /64 at will, so a per-address throttle would throttle nothing.
    fn throttle(&mut self, ip: IpAddr, rate: ConnRate, now: Instant) -> Result<(), Refusal> {
        self.since_sweep += 1;
        if self.since_sweep >= self.sweep_every {
            self.sweep(rate.window, now);
        }
        let key = match ip {
            IpAddr::V4(_) => ip,
            IpAddr::V6(_) => Cidr::limit_net(ip).network,
        };
        let times = self.recent.entry(key).or_default();
        while times
            .front()
            .is_some_and(|&t| now.saturating_duration_since(t) >= rate.window)
        {
            times.pop_front();
        }
        let count = usize::try_from(rate.count).unwrap_or(usize::MAX);
        if times.len() >= count {
            let oldest = times.front().copied().unwrap_or(now);
            let retry_after = rate
                .window
                .saturating_sub(now.saturating_duration_since(oldest));
            return Err(Refusal::Throttled { rate, retry_after });
        }
        times.push_back(now);
        // A lowered rate on reload leaves longer queues; trim them.
        while times.len() > count {
            times.pop_front();
        }
        Ok(())
    }

    /// Forgets the addresses whose every recent connection is older than
    /// `window`, so the table holds only addresses seen lately.
    fn sweep(&mut self, window: Duration, now: Instant) {
        self.since_sweep = 0;
        self.recent.retain(|_, times| {
            times
                .back()
                .is_some_and(|&t| now.saturating_duration_since(t) < window)
        });
        self.sweep_every = self.recent.len().max(1024);
    }

    /// Gives back the slot of a connection that has closed.
    pub fn release(&mut self, permit: Permit) {
        let Some((ip, net)) = permit.counted else {
            return;
        };
        decrement(&mut self.per_ip, &ip);
        decrement(&mut self.per_net, &net);
    }

    /// How many connections `ip` holds now (exempt ones are not counted).
    pub fn connections_from(&self, ip: IpAddr) -> u32 {
        self.per_ip.get(&canonical(ip)).copied().unwrap_or(0)
    }
}

fn decrement<K: std::hash::Hash + Eq>(counts: &mut HashMap<K, u32>, key: &K) {
    if let Some(n) = counts.get_mut(key) {
        *n = n.saturating_sub(1);
        if *n == 0 {
            counts.remove(key);
        }
    }
}

/// A [`ConnectionLimiter`] shared by every listener, whose permits give
/// themselves back when dropped.
#[derive(Debug, Clone)]
pub struct SharedLimiter(Arc<Mutex<ConnectionLimiter>>);

impl SharedLimiter {
    /// A shared limiter with nobody connected.
    pub fn new(settings: LimitSettings) -> SharedLimiter {
        SharedLimiter(Arc::new(Mutex::new(ConnectionLimiter::new(settings))))
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, ConnectionLimiter> {
        // A panic while counting leaves counts, never broken invariants.
        self.0.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// [`ConnectionLimiter::admit`], with a guard that releases on drop.
    pub fn admit(&self, ip: IpAddr, now: Instant) -> Result<Guard, Refusal> {
        let permit = self.lock().admit(ip, now)?;
        Ok(Guard {
            limiter: self.clone(),
            permit: Some(permit),
        })
    }

    /// [`ConnectionLimiter::set_settings`].
    pub fn set_settings(&self, settings: LimitSettings) {
        self.lock().set_settings(settings);
    }

    /// The limits in force.
    pub fn settings(&self) -> LimitSettings {
        self.lock().settings().clone()
    }
}

/// An admitted connection's slot; dropping it gives the slot back.
#[derive(Debug)]
pub struct Guard {
    limiter: SharedLimiter,
    permit: Option<Permit>,
}

impl Drop for Guard {
    fn drop(&mut self) {
        if let Some(permit) = self.permit.take() {
            self.limiter.lock().release(permit);
        }
    }
}

#[cfg(test)]
mod tests;
