//! A community's shape, from a seed: how big each room is, who is in which
//! room, and how busy each room and each member is.
//!
//! Owns: the heavy-tailed room sizes (most rooms of 2–10, a few of
//! hundreds), spreading clients over them (every client in at least one
//! room, none in more than [`MAX_ROOMS_PER_CLIENT`]), the stream ids that
//! name one member's messages to one room, and the skewed choice of who
//! talks next (big rooms are busier; in every room a few members do most of
//! the talking).
//! Must never: read a clock, do I/O, or depend on anything but its inputs
//! and the seed (the same seed is the same community on every machine).
//!
//! Room sizes follow Zipf's law: a Pareto distribution with tail index 1
//! and minimum 2, so P(size ≥ s) = 2 / s (80% of rooms have at most 10
//! members, 2% have over 100). They are drawn by stratified sampling (room
//! k's quantile lies in the k-th of `rooms` equal slices, jittered by the
//! seed), so a small community still gets its big rooms: the k-th biggest
//! room has about 2 × rooms / k members, capped at a quarter of the clients.

use super::rng::Rng;

/// Smallest room: one talker and one listener.
pub(crate) const MIN_ROOM: usize = 2;
/// Most rooms one client joins (natter allows 50 by default; an IRC user in
/// more than 20 rooms of one community is rare).
pub(crate) const MAX_ROOMS_PER_CLIENT: usize = 20;

/// Who is in which room, and who talks how much.
///
/// ```ignore
/// let l = Layout::generate(2000, 300, 1).unwrap();
/// assert!(l.members[0].len() > 100);     // room 0 is the biggest
/// let (room, slot) = l.pick_talker(&mut Rng::new(1));
/// let stream = l.stream(room, slot);     // the id its messages carry
/// assert_eq!(l.stream_room(stream), Some((room, slot)));
/// ```
#[derive(Debug, Clone)]
pub(crate) struct Layout {
    /// Members of each room (client indices), biggest room first; a
    /// member's position is its slot.
    pub members: Vec<Vec<u32>>,
    /// Each client's rooms, as (room, slot in that room).
    pub rooms_of: Vec<Vec<(u32, u32)>>,
    /// First stream id of each room: stream = base + slot.
    stream_base: Vec<u32>,
    /// Running sum of each room's share of the messages (∝ √size).
    room_weight: Vec<f64>,
    /// Running sum of 1 / (slot + 1): slot i talks ∝ 1 / (i + 1).
    talk_weight: Vec<f64>,
}

/// Room sizes, biggest first: `rooms` draws from P(size ≥ s) = 2 / s,
/// stratified, each within `MIN_ROOM..=cap`.
pub(crate) fn room_sizes(rooms: usize, cap: usize, rng: &mut Rng) -> Vec<usize> {
    let cap = cap.max(MIN_ROOM);
    (0..rooms)
        .map(|k| {
            // u in (k/rooms, (k+1)/rooms]: never 0, so the size is finite.
            let u = (k as f64 + 1.0 - rng.unit()) / rooms as f64;
            let s = (MIN_ROOM as f64 / u).floor();
            if s >= cap as f64 {
                cap
            } else {
                (s as usize).max(MIN_ROOM)
            }
        })
        .collect()
}

fn shuffle(v: &mut [u32], rng: &mut Rng) {
    for i in (1..v.len()).rev() {
        let j = rng.below(i + 1);
        v.swap(i, j);
    }
}

impl Layout {
    /// The community of `clients` clients in `rooms` rooms for `seed`.
    /// Fails (saying why) when the clients cannot fill the rooms.
    pub fn generate(clients: usize, rooms: usize, seed: u64) -> Result<Layout, String> {
        if clients < MIN_ROOM {
            return Err(format!("--clients must be at least {MIN_ROOM}"));
        }
        if rooms == 0 {
            return Err("--rooms must be at least 1".into());
        }
        let mut rng = Rng::new(seed);
        let cap = (clients / 4).clamp(MIN_ROOM, clients);
        let sizes = room_sizes(rooms, cap, &mut rng);

        // Every client gets a first room from a shuffled deck; once the
        // deck is used up the remaining places go to random clients.
        let mut deck: Vec<u32> = (0..clients as u32).collect();
        shuffle(&mut deck, &mut rng);
        let mut next = 0;
        let mut members: Vec<Vec<u32>> = sizes.iter().map(|&s| Vec::with_capacity(s)).collect();
        let mut rooms_of: Vec<Vec<(u32, u32)>> = vec![Vec::new(); clients];
        // The last room each client was put in: rooms fill one at a time,
        // so this says whether a client is already in the room filling now.
        let mut mark = vec![usize::MAX; clients];
        let join =
            |r: usize, c: u32, members: &mut [Vec<u32>], rooms_of: &mut [Vec<(u32, u32)>]| {
                rooms_of[c as usize].push((r as u32, members[r].len() as u32));
                members[r].push(c);
            };
        for (r, &size) in sizes.iter().enumerate() {
            let mut tries = 0;
            while members[r].len() < size && tries < 64 * size {
                let c = if next < deck.len() {
                    next += 1;
                    deck[next - 1]
                } else {
                    tries += 1;
                    rng.below(clients) as u32
                };
                let ci = c as usize;
                if mark[ci] == r || rooms_of[ci].len() >= MAX_ROOMS_PER_CLIENT {
                    continue;
                }
                mark[ci] = r;
                join(r, c, &mut members, &mut rooms_of);
            }
        }
        // Fewer places than clients: the rest join one random room each.
        for &c in &deck[next..] {
            let r = rng.below(rooms);
            join(r, c, &mut members, &mut rooms_of);
        }
        if let Some(r) = members.iter().position(|m| m.len() < MIN_ROOM) {
            return Err(format!(
                "{clients} clients cannot fill {rooms} rooms (room {r} has {} member(s); \
                 each client joins at most {MAX_ROOMS_PER_CLIENT}): lower --rooms or raise --clients",
                members[r].len()
            ));
        }
        let mut stream_base = Vec::with_capacity(rooms);
        let mut total = 0u64;
        for m in &members {
            stream_base.push(u32::try_from(total).map_err(|_| "too many memberships")?);
            total += m.len() as u64;
        }
        let room_weight = running_sum(members.iter().map(|m| (m.len() as f64).sqrt()));
        let biggest = members.iter().map(Vec::len).max().unwrap_or(0);
        let talk_weight = running_sum((0..biggest).map(|i| 1.0 / (i as f64 + 1.0)));
        Ok(Layout {
            members,
            rooms_of,
            stream_base,
            room_weight,
            talk_weight,
        })
    }

    /// The stream id of `slot`'s messages to `room` (what its PRIVMSGs carry).
    pub fn stream(&self, room: usize, slot: usize) -> u32 {
        self.stream_base[room] + slot as u32
    }

    /// Every (room, slot) pair: one stream each.
    pub fn streams(&self) -> usize {
        self.members.iter().map(Vec::len).sum()
    }

    /// The room and slot a stream id names, or `None` for an id no member has.
    pub fn stream_room(&self, stream: u32) -> Option<(usize, usize)> {
        let room = self
            .stream_base
            .partition_point(|&b| b <= stream)
            .checked_sub(1)?;
        let slot = (stream - self.stream_base[room]) as usize;
        (slot < self.members[room].len()).then_some((room, slot))
    }

    /// Who talks next: a room with probability ∝ √size (a room of 400 is
    /// 10× as busy as a room of 4, though each of its members talks less),
    /// then a member of it with probability ∝ 1 / (slot + 1).
    pub fn pick_talker(&self, rng: &mut Rng) -> (usize, usize) {
        let room = rng.weighted(&self.room_weight);
        let size = self.members[room].len();
        let slot = rng.weighted(&self.talk_weight[..size]);
        (room, slot)
    }

    /// Receivers per message on average, with rooms weighted as
    /// [`Layout::pick_talker`] weights them.
    pub fn mean_receivers(&self) -> f64 {
        let mut prev = 0.0;
        let mut sum = 0.0;
        for (m, &c) in self.members.iter().zip(&self.room_weight) {
            sum += (c - prev) * (m.len() as f64 - 1.0);
            prev = c;
        }
        if prev > 0.0 {
            sum / prev
        } else {
            0.0
        }
    }
}

fn running_sum(weights: impl Iterator<Item = f64>) -> Vec<f64> {
    let mut total = 0.0;
    weights
        .map(|w| {
            total += w;
            total
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sizes(l: &Layout) -> Vec<usize> {
        l.members.iter().map(Vec::len).collect()
    }

    #[test]
    fn the_same_seed_gives_the_same_community_and_another_seed_another() {
        let a = Layout::generate(2000, 300, 7).expect("fits");
        let b = Layout::generate(2000, 300, 7).expect("fits");
        let c = Layout::generate(2000, 300, 8).expect("fits");
        assert_eq!(a.members, b.members);
        assert_eq!(a.rooms_of, b.rooms_of);
        assert_ne!(a.members, c.members);
        let (mut ra, mut rb) = (Rng::new(3), Rng::new(3));
        for _ in 0..100 {
            assert_eq!(a.pick_talker(&mut ra), b.pick_talker(&mut rb));
        }
    }

    #[test]
    fn most_rooms_are_small_and_a_few_have_hundreds() {
        for seed in [1, 2, 3] {
            let l = Layout::generate(2000, 300, seed).expect("fits");
            let s = sizes(&l);
            let small = s.iter().filter(|&&n| (2..=10).contains(&n)).count();
            assert!(small * 10 >= s.len() * 7, "most rooms 2–10: {s:?}");
            let big = s.iter().filter(|&&n| n >= 100).count();
            assert!((2..=15).contains(&big), "a few rooms of hundreds: {s:?}");
            assert_eq!(
                s.iter().max(),
                Some(&500),
                "the biggest is capped at clients / 4"
            );
            assert!(s.iter().all(|&n| n >= MIN_ROOM));
            assert!(s.windows(2).all(|w| w[0] >= w[1]), "biggest first");
        }
    }

    #[test]
    fn every_client_is_in_at_least_one_room_and_no_room_twice() {
        for (clients, rooms) in [(2000, 300), (200, 30), (50, 2), (10, 40)] {
            let l = Layout::generate(clients, rooms, 5).expect("fits");
            for (c, rs) in l.rooms_of.iter().enumerate() {
                assert!(!rs.is_empty(), "client {c} has no room");
                assert!(rs.len() <= MAX_ROOMS_PER_CLIENT);
                let mut seen: Vec<u32> = rs.iter().map(|&(r, _)| r).collect();
                seen.sort_unstable();
                seen.dedup();
                assert_eq!(seen.len(), rs.len(), "client {c} is in a room twice");
                for &(r, slot) in rs {
                    assert_eq!(l.members[r as usize][slot as usize], c as u32);
                }
            }
            assert_eq!(l.streams(), l.rooms_of.iter().map(Vec::len).sum::<usize>());
        }
    }

    #[test]
    fn stream_ids_name_one_room_and_slot_each() {
        let l = Layout::generate(200, 30, 1).expect("fits");
        let mut next = 0u32;
        for (r, m) in l.members.iter().enumerate() {
            for slot in 0..m.len() {
                assert_eq!(l.stream(r, slot), next);
                assert_eq!(l.stream_room(next), Some((r, slot)));
                next += 1;
            }
        }
        assert_eq!(l.stream_room(next), None, "past the last stream");
        assert_eq!(l.stream_room(u32::MAX), None);
    }

    #[test]
    fn big_rooms_are_busier_and_early_slots_talk_more() {
        let l = Layout::generate(2000, 300, 1).expect("fits");
        let mut rng = Rng::new(9);
        let mut per_room = vec![0u32; l.members.len()];
        let mut slot0 = 0;
        let mut in_room0 = 0;
        for _ in 0..100_000 {
            let (r, s) = l.pick_talker(&mut rng);
            per_room[r] += 1;
            if r == 0 {
                in_room0 += 1;
                slot0 += u32::from(s == 0);
            }
        }
        let last = *per_room.last().expect("rooms");
        assert!(per_room[0] > 5 * last.max(1), "{per_room:?}");
        // Slot 0 of a 500-member room talks ∝ 1 of H(500) ≈ 6.8.
        assert!(slot0 * 10 > in_room0, "{slot0} of {in_room0}");
        let fanout = l.mean_receivers();
        assert!((20.0..200.0).contains(&fanout), "{fanout}");
    }

    #[test]
    fn too_many_rooms_for_the_clients_is_a_clear_error() {
        let e = Layout::generate(3, 100, 1).expect_err("3 clients, 100 rooms");
        assert!(e.contains("lower --rooms"), "{e}");
        assert!(Layout::generate(1, 1, 1).is_err());
        assert!(Layout::generate(10, 0, 1).is_err());
    }
}
