//! The chat core alone, without sockets or threads: how many events per
//! second one `Server` handles, and how many heap allocations each costs.
//!
//! Run with `cargo bench --bench core` (release build). For each room size
//! it measures a room PRIVMSG (one event, fanned out to every member), a
//! JOIN + PART cycle, and a WHO of the room, then prints events per second,
//! deliveries per second (messages × (room size − 1)) and allocations per
//! event and per delivery, counted by a global counting allocator. What it
//! shows is where one core task saturates; the shell's cost (queueing,
//! writing) comes on top and is measured by natter-bench.

use natter::core::{Action, ConnId, Event, Instant, Now, Server, ServerConfig, Timestamp};
use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicU64, Ordering};

/// Counts every allocation (and reallocation) made through it.
struct Counting;

static ALLOCATIONS: AtomicU64 = AtomicU64::new(0);

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        // SAFETY: forwarded unchanged to the system allocator.
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: `ptr` came from `alloc`/`realloc` above with `layout`.
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        // SAFETY: forwarded unchanged to the system allocator.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

const NOW: Now = Now {
    mono: Instant(0),
    wall: Timestamp(1_699_533_296_000),
};

/// A server with `members` registered clients in `#room` (no flood
/// control, no history on join), actions drained.
fn room_of(members: u64) -> Server {
    let config = ServerConfig {
        flood_lines_per_sec: 0,
        history_on_join: 0,
        max_rooms_per_client: 10,
        ..ServerConfig::default()
    };
    let mut server = Server::new(config);
    for id in 1..=members {
        let conn = ConnId(id);
        let peer = format!("127.0.0.1:{}", 10_000 + id);
        server.handle_event(Event::Connected {
            conn,
            peer,
            now: NOW,
        });
        for line in [
            format!("NICK u{id}"),
            format!("USER u{id} 0 * :User {id}"),
            "JOIN #room".to_string(),
        ] {
            server.handle_event(Event::Line {
                conn,
                line,
                now: NOW,
            });
        }
        drain(&mut server);
    }
    server
}

/// Carries out nothing, as fast as possible: returns how many lines would
/// have been queued.
fn drain(server: &mut Server) -> u64 {
    let mut deliveries = 0;
    while let Some(action) = server.poll_action() {
        deliveries += match action {
            Action::Send { .. } => 1,
            Action::Broadcast { to, .. } => to.len() as u64,
            _ => 0,
        };
    }
    deliveries
}

struct Measured {
    events_per_sec: f64,
    deliveries_per_sec: f64,
    allocations_per_event: f64,
    allocations_per_delivery: f64,
}

/// Feeds `rounds` × `lines` (round-robin over the first `senders`
/// connections) and measures.
fn measure(server: &mut Server, senders: u64, lines: &[String], rounds: u64) -> Measured {
    let before = ALLOCATIONS.load(Ordering::Relaxed);
    let start = std::time::Instant::now();
    let mut events = 0u64;
    let mut deliveries = 0u64;
    for round in 0..rounds {
        for line in lines {
            let conn = ConnId(1 + round % senders);
            server.handle_event(Event::Line {
                conn,
                line: line.clone(),
                now: NOW,
            });
            events += 1;
            deliveries += drain(server);
        }
    }
    let secs = start.elapsed().as_secs_f64();
    let allocations = (ALLOCATIONS.load(Ordering::Relaxed) - before) as f64;
    Measured {
        events_per_sec: events as f64 / secs,
        deliveries_per_sec: deliveries as f64 / secs,
        allocations_per_event: allocations / events as f64,
        allocations_per_delivery: allocations / deliveries.max(1) as f64,
    }
}

fn row(scenario: &str, size: u64, m: &Measured) {
    println!(
        "{scenario:<10} {size:>6} {:>14.0} {:>16.0} {:>12.2} {:>14.3}",
        m.events_per_sec, m.deliveries_per_sec, m.allocations_per_event, m.allocations_per_delivery
    );
}

fn main() {
    // `cargo test --benches` runs this once with `--bench` absent: keep it short then.
    let quick = !std::env::args().any(|a| a == "--bench");
    let budget = if quick { 2_000 } else { 200_000 };
    println!(
        "{:<10} {:>6} {:>14} {:>16} {:>12} {:>14}",
        "scenario", "room", "events/s", "deliveries/s", "allocs/event", "allocs/delivery"
    );
    for size in [10u64, 100, 1000] {
        let mut server = room_of(size);
        let rounds = (budget / size).max(100);
        let message = ["PRIVMSG #room :hello everyone, this is a typical chat line".to_string()];
        row(
            "privmsg",
            size,
            &measure(&mut server, size.min(10), &message, rounds),
        );
        // The joiner is a member who parts and joins again: two events.
        let cycle = ["PART #room".to_string(), "JOIN #room".to_string()];
        row(
            "part+join",
            size,
            &measure(&mut server, 1, &cycle, rounds / 2),
        );
        let who = ["WHO #room".to_string()];
        row(
            "who",
            size,
            &measure(&mut server, 1, &who, (rounds / 10).max(10)),
        );
    }
}
