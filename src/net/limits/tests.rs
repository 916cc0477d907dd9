//! Unit tests of the parent module (kept apart so it reads in one sitting).

use super::*;

fn ip(text: &str) -> IpAddr {
    text.parse().expect("a test address")
}

fn limiter(max_per_ip: u32, max_per_net: u32, rate: Option<ConnRate>) -> ConnectionLimiter {
    ConnectionLimiter::new(LimitSettings {
        max_per_ip,
        max_per_net,
        rate,
        exempt_loopback: true,
        exempt: Vec::new(),
    })
}

fn rate(count: u32, secs: u64) -> Option<ConnRate> {
    Some(ConnRate {
        count,
        window: Duration::from_secs(secs),
    })
}

#[test]
fn cidrs_parse_hosts_and_networks_of_both_families() {
    let cases = [
        ("10.0.0.0/8", "10.0.0.0/8"),
        ("192.0.2.7", "192.0.2.7/32"),
        ("0.0.0.0/0", "0.0.0.0/0"),
        ("2001:db8::/32", "2001:db8::/32"),
        ("::1", "::1/128"),
        (" fe80::/10 ", "fe80::/10"),
        ("::ffff:10.0.0.0/104", "10.0.0.0/8"),
    ];
    for (text, shown) in cases {
        let cidr: Cidr = text.parse().expect(text);
        assert_eq!(cidr.to_string(), shown, "{text}");
    }
}

#[test]
fn bad_cidrs_say_what_to_write_instead() {
    let error = |text: &str| text.parse::<Cidr>().expect_err(text).to_string();
    assert!(error("example.org").contains("e.g. 10.0.0.0/8"));
    assert!(error("10.0.0.0/33").contains("from 0 to 32"));
    assert!(error("2001:db8::/129").contains("from 0 to 128"));
    assert!(error("10.0.0.0/").contains("from 0 to 32"));
    assert!(error("10.0.0.0/+8").contains("from 0 to 32"));
    assert!(error("10.1.2.3/8").contains("did you mean 10.0.0.0/8?"));
}

#[test]
fn networks_group_ipv4_by_24_and_ipv6_by_64() {
    assert_eq!(
        Cidr::limit_net(ip("198.51.100.77")).to_string(),
        "198.51.100.0/24"
    );
    assert_eq!(
        Cidr::limit_net(ip("2001:db8:1:2:aaaa:bbbb:cccc:dddd")).to_string(),
        "2001:db8:1:2::/64"
    );
    let mut limits = limiter(0, 2, None);
    let now = Instant::now();
    let _a = limits
        .admit(ip("198.51.100.1"), now)
        .expect("first in the /24");
    let _b = limits
        .admit(ip("198.51.100.2"), now)
        .expect("second in the /24");
    assert_eq!(
        limits.admit(ip("198.51.100.3"), now),
        Err(Refusal::PerNet {
            net: "198.51.100.0/24".parse().expect("cidr"),
            max: 2
        })
    );
    assert!(limits.admit(ip("198.51.101.1"), now).is_ok(), "another /24");
    let _c = limits.admit(ip("2001:db8::1"), now).expect("v6");
    let _d = limits.admit(ip("2001:db8::2"), now).expect("v6");
    assert!(
        limits.admit(ip("2001:db8::ffff:3"), now).is_err(),
        "same /64"
    );
    assert!(limits.admit(ip("2001:db8:0:1::3"), now).is_ok(), "next /64");
}

#[test]
fn an_ipv4_mapped_ipv6_address_counts_as_its_ipv4_address() {
    let mut limits = limiter(1, 0, None);
    let now = Instant::now();
    let _v4 = limits.admit(ip("192.0.2.7"), now).expect("first");
    assert_eq!(
        limits.admit(ip("::ffff:192.0.2.7"), now),
        Err(Refusal::PerIp { max: 1 })
    );
    assert!("192.0.2.0/24"
        .parse::<Cidr>()
        .expect("cidr")
        .contains(ip("::ffff:192.0.2.99")));
}

#[test]
fn the_per_ip_limit_holds_and_a_released_slot_is_free_again() {
    let mut limits = limiter(2, 0, None);
    let now = Instant::now();
    let a = limits.admit(ip("192.0.2.7"), now).expect("1");
    let _b = limits.admit(ip("192.0.2.7"), now).expect("2");
    let refusal = limits
        .admit(ip("192.0.2.7"), now)
        .expect_err("3 is too many");
    assert_eq!(
        refusal.error_line(ip("192.0.2.7")),
        "ERROR :Closing Link: 192.0.2.7 (Too many connections from your IP address: \
         at most 2; try again later)"
    );
    assert!(
        limits.admit(ip("192.0.2.8"), now).is_ok(),
        "another address"
    );
    limits.release(a);
    assert_eq!(limits.connections_from(ip("192.0.2.7")), 1);
    assert!(limits.admit(ip("192.0.2.7"), now).is_ok());
}

#[test]
fn the_throttle_counts_new_connections_in_a_sliding_window() {
    let mut limits = limiter(0, 0, rate(3, 60));
    let start = Instant::now();
    let at = |secs| start + Duration::from_secs(secs);
    for secs in [0, 10, 20] {
        let permit = limits
            .admit(ip("192.0.2.7"), at(secs))
            .expect("within the rate");
        limits.release(permit); // closing does not undo the throttle
    }
    let refusal = limits
        .admit(ip("192.0.2.7"), at(30))
        .expect_err("a 4th in a minute");
    assert_eq!(
        refusal.to_string(),
        "Too many new connections from your IP address: at most 3 in 60 seconds; \
         try again in 30 seconds"
    );
    assert!(
        limits.admit(ip("192.0.2.8"), at(30)).is_ok(),
        "another address"
    );
    assert!(
        limits.admit(ip("192.0.2.7"), at(59)).is_err(),
        "still too soon"
    );
    assert!(
        limits.admit(ip("192.0.2.7"), at(60)).is_ok(),
        "the first has aged out"
    );
    assert!(
        limits.admit(ip("192.0.2.7"), at(61)).is_err(),
        "the next is at 70"
    );
}

#[test]
fn ipv6_is_throttled_by_its_64() {
    let mut limits = limiter(0, 0, rate(2, 60));
    let now = Instant::now();
    assert!(limits.admit(ip("2001:db8::1"), now).is_ok());
    assert!(limits.admit(ip("2001:db8::2"), now).is_ok());
    assert!(limits.admit(ip("2001:db8::3"), now).is_err());
}

#[test]
fn loopback_and_listed_networks_are_exempt_from_every_limit() {
    let mut limits = ConnectionLimiter::new(LimitSettings {
        max_per_ip: 1,
        max_per_net: 1,
        rate: rate(1, 60),
        exempt_loopback: true,
        exempt: vec!["10.0.0.0/8".parse().expect("cidr")],
    });
    let now = Instant::now();
    for addr in [
        "127.0.0.1",
        "127.0.0.2",
        "::1",
        "::ffff:127.0.0.1",
        "10.9.8.7",
    ] {
        for _ in 0..5 {
            assert!(limits.admit(ip(addr), now).is_ok(), "{addr} is exempt");
        }
    }
    assert_eq!(limits.connections_from(ip("10.9.8.7")), 0);
    let mut settings = limits.settings().clone();
    settings.exempt_loopback = false;
    limits.set_settings(settings);
    assert!(limits.admit(ip("127.0.0.2"), now).is_ok());
    assert!(
        limits.admit(ip("127.0.0.2"), now).is_err(),
        "no longer exempt"
    );
}

#[test]
fn a_release_after_a_reload_gives_back_exactly_what_was_counted() {
    let mut limits = limiter(1, 0, None);
    let now = Instant::now();
    let counted = limits.admit(ip("10.0.0.1"), now).expect("counted");
    let mut settings = limits.settings().clone();
    settings.exempt = vec!["10.0.0.0/8".parse().expect("cidr")];
    limits.set_settings(settings);
    let exempt = limits.admit(ip("10.0.0.1"), now).expect("exempt now");
    limits.release(exempt);
    assert_eq!(limits.connections_from(ip("10.0.0.1")), 1);
    limits.release(counted);
    assert_eq!(limits.connections_from(ip("10.0.0.1")), 0);
}

#[test]
fn rates_parse_as_count_per_seconds_or_off() {
    assert_eq!(ConnRate::parse("16/60"), Ok(rate(16, 60)));
    assert_eq!(ConnRate::parse("5/30s"), Ok(rate(5, 30)));
    assert_eq!(ConnRate::parse("off"), Ok(None));
    assert_eq!(ConnRate::parse("0"), Ok(None));
    for bad in ["16", "0/60", "16/0", "x/60", "16/1m", ""] {
        let error = ConnRate::parse(bad).expect_err(bad).to_string();
        assert!(error.contains("N/SECS"), "{bad}: {error}");
    }
}

#[test]
fn guards_give_their_slot_back_when_dropped() {
    let shared = SharedLimiter::new(LimitSettings {
        max_per_ip: 1,
        ..LimitSettings::default()
    });
    let now = Instant::now();
    let guard = shared.admit(ip("192.0.2.7"), now).expect("first");
    assert!(shared.admit(ip("192.0.2.7"), now).is_err());
    drop(guard);
    assert!(shared.admit(ip("192.0.2.7"), now).is_ok());
}

#[test]
fn old_addresses_are_forgotten_so_the_throttle_table_stays_small() {
    let mut limits = limiter(0, 0, rate(5, 60));
    let start = Instant::now();
    for i in 0..2000u32 {
        let permit = limits
            .admit(IpAddr::V4(Ipv4Addr::from(0x0a00_0000 + i)), start)
            .expect("one each");
        limits.release(permit);
    }
    let later = start + Duration::from_secs(120);
    for i in 0..1100u32 {
        let permit = limits
            .admit(IpAddr::V4(Ipv4Addr::from(0x0b00_0000 + i)), later)
            .expect("one each");
        limits.release(permit);
    }
    assert!(
        limits.recent.len() <= 1100,
        "{} tracked",
        limits.recent.len()
    );
    assert!(limits.per_ip.is_empty() && limits.per_net.is_empty());
}
