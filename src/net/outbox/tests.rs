//! The outbox's scenarios: batching, byte limits, closing and aborting,
//! write coalescing, and writes straight from the core task.

use super::*;
use std::sync::Arc;

fn line(s: &str) -> OutLine {
    Arc::from(s)
}

#[test]
fn writer_takes_every_waiting_line_in_one_batch_in_order() {
    let outbox = Outbox::new(1024);
    for text in ["a", "b", "c"] {
        assert_eq!(outbox.push(line(text)), Ok(()));
    }
    let mut batch = VecDeque::new();
    let phase = futures_lite::future::block_on(outbox.next_batch(&mut batch));
    assert_eq!(phase, Phase::Open);
    assert_eq!(batch, [line("a"), line("b"), line("c")]);
    assert_eq!(outbox.queued_bytes(), 0);
}

#[test]
fn push_past_the_byte_limit_overflows_and_taking_frees_room() {
    let outbox = Outbox::new(8);
    assert_eq!(outbox.push(line("123456")), Ok(()));
    assert_eq!(outbox.push(line("x")), Err(Overflow));
    let mut batch = VecDeque::new();
    futures_lite::future::block_on(outbox.next_batch(&mut batch));
    assert_eq!(outbox.push(line("x")), Ok(()));
}

#[test]
fn the_same_shared_line_is_queued_without_copying() {
    let outbox = Outbox::new(1024);
    let shared = line("PRIVMSG #lobby :hi");
    assert_eq!(outbox.push(shared.clone()), Ok(()));
    let mut batch = VecDeque::new();
    futures_lite::future::block_on(outbox.next_batch(&mut batch));
    assert!(Arc::ptr_eq(&batch[0], &shared));
}

#[test]
fn closing_hands_over_the_rest_then_says_close() {
    let outbox = Outbox::new(1024);
    assert_eq!(outbox.push(line("last words")), Ok(()));
    outbox.close();
    assert_eq!(outbox.push(line("too late")), Ok(()));
    let mut batch = VecDeque::new();
    let phase = futures_lite::future::block_on(outbox.next_batch(&mut batch));
    assert_eq!(phase, Phase::Closing);
    assert_eq!(batch, [line("last words")]);
}

#[test]
fn a_waiting_writer_is_woken_by_the_first_line_and_by_abort() {
    let outbox = Arc::new(Outbox::new(1024));
    let waiting = outbox.clone();
    let writer = std::thread::spawn(move || {
        let mut batch = VecDeque::new();
        let phase = futures_lite::future::block_on(waiting.next_batch(&mut batch));
        futures_lite::future::block_on(waiting.wait_aborted());
        (phase, batch)
    });
    assert_eq!(outbox.push(line("hello")), Ok(()));
    outbox.abort(None);
    let (phase, batch) = writer.join().expect("writer thread");
    // Either it took "hello" before the abort, or it saw the abort first.
    match phase {
        Phase::Open => assert_eq!(batch, [line("hello")]),
        Phase::Aborted => assert!(batch.is_empty()),
        Phase::Closing => panic!("nobody closed the outbox"),
    }
}

#[test]
fn a_deferred_push_hands_back_the_waiting_writer_once() {
    let outbox = Arc::new(Outbox::new(1024));
    let waiting = outbox.clone();
    let (parked, is_parked) = std::sync::mpsc::channel();
    let writer = std::thread::spawn(move || {
        let mut batch = VecDeque::new();
        let mut told = false;
        futures_lite::future::block_on(poll_fn(|cx| {
            let polled = waiting.poll_next_batch(cx, &mut batch);
            if polled.is_pending() && !told {
                told = true;
                let _ = parked.send(());
            }
            polled
        }));
        batch
    });
    is_parked.recv().expect("the writer waits");
    let now = Instant::now();
    let Ok(Wakeup::Now(waker)) = outbox.push_deferred(line("one"), Some(now)) else {
        panic!("the first line hands back the writer");
    };
    assert!(
        matches!(
            outbox.push_deferred(line("two"), Some(now)),
            Ok(Wakeup::Nobody)
        ),
        "later lines hand back no one"
    );
    waker.wake();
    assert_eq!(writer.join().expect("writer"), [line("one"), line("two")]);
}

#[test]
fn a_batch_of_lines_is_queued_in_order_and_hands_back_the_writer_once() {
    let outbox = waiting_writer(Duration::ZERO);
    let mut lines = vec![line("one"), line("two"), line("three")];
    assert!(matches!(
        outbox.push_all_deferred(&mut lines, None, Urgency::Prompt),
        Ok(Wakeup::Now(_))
    ));
    assert!(lines.is_empty(), "the batch is handed over");
    let mut more = vec![line("four")];
    assert!(
        matches!(
            outbox.push_all_deferred(&mut more, None, Urgency::Prompt),
            Ok(Wakeup::Nobody)
        ),
        "lines behind waiting ones hand back no one"
    );
    assert_eq!(outbox.queued_bytes(), 3 + 3 + 5 + 4 + 4 * 2);
    let mut batch = VecDeque::new();
    let cx = Context::from_waker(Waker::noop());
    assert!(outbox.poll_next_batch(&cx, &mut batch).is_ready());
    assert_eq!(
        batch,
        [line("one"), line("two"), line("three"), line("four")]
    );
}

#[test]
fn a_batch_that_would_pass_the_byte_limit_queues_none_of_its_lines() {
    let outbox = Outbox::new(15);
    assert_eq!(outbox.push(line("123456")), Ok(()));
    // 8 bytes queued; 4 more fit, 8 more do not.
    let mut lines = vec![line("ab"), line("cd")];
    assert!(matches!(
        outbox.push_all_deferred(&mut lines, None, Urgency::Prompt),
        Err(Overflow)
    ));
    assert!(lines.is_empty(), "the lines that did not fit are dropped");
    assert_eq!(outbox.queued_bytes(), 8, "only what was queued before");
}

#[test]
fn an_empty_batch_wakes_no_one_and_leaves_the_writer_waiting() {
    let outbox = waiting_writer(Duration::ZERO);
    assert!(matches!(
        outbox.push_all_deferred(&mut Vec::new(), None, Urgency::Prompt),
        Ok(Wakeup::Nobody)
    ));
    assert!(matches!(push(&outbox, "late"), Ok(Wakeup::Now(_))));
}

/// An outbox whose writer waits for lines (its waker is registered).
fn waiting_writer(interval: Duration) -> Outbox {
    let outbox = Outbox::coalescing(1024, interval);
    let mut batch = VecDeque::new();
    let cx = Context::from_waker(Waker::noop());
    assert!(outbox.poll_next_batch(&cx, &mut batch).is_pending());
    outbox
}

/// The writer takes what waits and writes it (as `writer` does).
fn write_what_waits(outbox: &Outbox) -> usize {
    let mut batch = VecDeque::new();
    let cx = Context::from_waker(Waker::noop());
    assert!(outbox.poll_next_batch(&cx, &mut batch).is_ready());
    outbox.wrote();
    assert!(outbox.poll_next_batch(&cx, &mut batch).is_pending());
    batch.len()
}

/// Queues `text` as the core task does when it woke to a trickle now.
fn push(outbox: &Outbox, text: &str) -> Result<Wakeup, Overflow> {
    outbox.push_deferred(line(text), Some(Instant::now()))
}

const AN_HOUR: Duration = Duration::from_secs(3600);

#[test]
fn a_listening_client_written_a_moment_ago_has_its_next_lines_gather() {
    let outbox = waiting_writer(AN_HOUR);
    let now = Instant::now();
    assert!(matches!(
        outbox.push_deferred(line("first"), Some(now)),
        Ok(Wakeup::Now(_))
    ));
    assert_eq!(write_what_waits(&outbox), 1);
    let Ok(Wakeup::Later(_, until)) = push(&outbox, "second") else {
        panic!("a line right after a small write waits for the next ones");
    };
    assert!(until > now && until <= Instant::now() + AN_HOUR);
    assert!(matches!(push(&outbox, "third"), Ok(Wakeup::Nobody)));
    assert_eq!(write_what_waits(&outbox), 2, "they go out in one write");
}

#[test]
fn lines_gather_only_until_the_moment_given() {
    let outbox = waiting_writer(Duration::from_millis(5));
    let _ = push(&outbox, "first");
    write_what_waits(&outbox);
    let later = Instant::now() + Duration::from_millis(6);
    assert!(matches!(
        outbox.push_deferred(line("second"), Some(later)),
        Ok(Wakeup::Now(_))
    ));
}

#[test]
fn the_answer_is_not_held_back_by_a_line_written_after_the_question() {
    let outbox = waiting_writer(AN_HOUR);
    outbox.heard();
    // A line from someone else goes out between the question and the
    // answer, and starts a moment of gathering...
    let _ = push(&outbox, "PRIVMSG #lobby :hi");
    assert_eq!(write_what_waits(&outbox), 1);
    // ...which the answer does not wait for.
    assert!(matches!(push(&outbox, "PONG"), Ok(Wakeup::Now(_))));
}

#[test]
fn in_a_burst_no_line_waits() {
    let outbox = waiting_writer(AN_HOUR);
    let _ = push(&outbox, "first");
    write_what_waits(&outbox);
    assert!(matches!(
        outbox.push_deferred(line("second"), None),
        Ok(Wakeup::Now(_))
    ));
}

#[test]
fn a_client_that_spoke_is_answered_at_once() {
    let outbox = waiting_writer(AN_HOUR);
    let _ = push(&outbox, "welcome");
    write_what_waits(&outbox);
    outbox.heard();
    assert!(matches!(push(&outbox, "PONG"), Ok(Wakeup::Now(_))));
}

#[test]
fn a_large_write_lets_the_next_line_go_at_once_unless_it_had_gathered() {
    let outbox = waiting_writer(AN_HOUR);
    for i in 0..3 {
        let _ = push(&outbox, &format!("burst {i}"));
    }
    assert_eq!(write_what_waits(&outbox), 3);
    assert!(matches!(push(&outbox, "next"), Ok(Wakeup::Now(_))));
    write_what_waits(&outbox);
    // A trickle that had gathered keeps gathering...
    let _ = push(&outbox, "a");
    let _ = push(&outbox, "b");
    let _ = push(&outbox, "c");
    assert_eq!(write_what_waits(&outbox), 3);
    assert!(matches!(push(&outbox, "d"), Ok(Wakeup::Later(..))));
    // ...until more piled up than a trickle brings: a burst goes at once.
    for i in 0..GATHERED_WRITE_LINES {
        let _ = push(&outbox, &format!("pile {i}"));
    }
    assert_eq!(write_what_waits(&outbox), GATHERED_WRITE_LINES + 1);
    assert!(matches!(push(&outbox, "e"), Ok(Wakeup::Now(_))));
}

#[test]
fn without_an_interval_no_line_ever_waits() {
    let outbox = waiting_writer(Duration::ZERO);
    for text in ["a", "b", "c"] {
        assert!(matches!(push(&outbox, text), Ok(Wakeup::Now(_))));
        assert_eq!(write_what_waits(&outbox), 1);
    }
}

/// Queues `lines` as announcements, as the core task does when it woke
/// now.
fn announce(outbox: &Outbox, lines: &[&str]) -> Result<Wakeup, Overflow> {
    let mut lines = lines.iter().map(|text| line(text)).collect();
    outbox.push_all_deferred(&mut lines, Some(Instant::now()), Urgency::Announcement)
}

const JOIN: &str = ":bob!b@host JOIN #lobby";
const QUIT: &str = ":carol!c@host QUIT :bye";

#[test]
fn an_announcement_to_a_listening_client_lingers_for_company() {
    let outbox = waiting_writer(AN_HOUR);
    let before = Instant::now();
    let Ok(Wakeup::Linger(_, until)) = announce(&outbox, &[JOIN]) else {
        panic!("a join to a client only listening waits for the next line");
    };
    assert!(until >= before + LINGER && until <= Instant::now() + LINGER);
    assert!(
        matches!(announce(&outbox, &[QUIT]), Ok(Wakeup::Nobody)),
        "a second announcement waits with the first"
    );
    assert_eq!(write_what_waits(&outbox), 2, "both go out in one write");
}

#[test]
fn a_prompt_line_behind_lingering_announcements_is_not_held_by_them() {
    let outbox = waiting_writer(AN_HOUR);
    let _ = announce(&outbox, &[JOIN]);
    assert!(
        matches!(push(&outbox, "PRIVMSG #lobby :hi"), Ok(Wakeup::Now(_))),
        "the message wakes the writer as if nothing waited"
    );
    let mut batch = VecDeque::new();
    let cx = Context::from_waker(Waker::noop());
    assert!(outbox.poll_next_batch(&cx, &mut batch).is_ready());
    assert_eq!(
        batch,
        [line(JOIN), line("PRIVMSG #lobby :hi")],
        "the announcement goes out first, with it"
    );
}

#[test]
fn a_prompt_line_behind_announcements_still_gathers_after_a_small_write() {
    let outbox = waiting_writer(AN_HOUR);
    let _ = push(&outbox, "first");
    write_what_waits(&outbox);
    let Ok(Wakeup::Linger(..)) = announce(&outbox, &[JOIN]) else {
        panic!("an announcement lingers");
    };
    let Ok(Wakeup::Later(_, until)) = push(&outbox, "second") else {
        panic!("the message gathers as it would have alone");
    };
    assert!(until <= Instant::now() + AN_HOUR);
}

#[test]
fn an_announcement_to_a_client_that_just_spoke_goes_out_at_once() {
    let outbox = waiting_writer(AN_HOUR);
    outbox.heard();
    // Its own JOIN, echoed back: it is waiting for it.
    assert!(matches!(announce(&outbox, &[JOIN]), Ok(Wakeup::Now(_))));
}

#[test]
fn an_announcement_to_a_client_that_spoke_a_moment_ago_does_not_linger() {
    let outbox = waiting_writer(AN_HOUR);
    outbox.heard();
    // Past the answer window, but its own PART may still be on the way
    // back (a busy core, a cluster's log).
    let mut lines = vec![line(JOIN)];
    let a_moment_later = Instant::now() + LINGER / 2;
    assert!(matches!(
        outbox.push_all_deferred(&mut lines, Some(a_moment_later), Urgency::Announcement),
        Ok(Wakeup::Now(_))
    ));
}

#[test]
fn without_coalescing_announcements_never_linger() {
    let outbox = waiting_writer(Duration::ZERO);
    assert!(matches!(announce(&outbox, &[JOIN]), Ok(Wakeup::Now(_))));
}

#[test]
fn a_busy_writer_takes_announcements_with_what_it_takes_next() {
    let outbox = waiting_writer(AN_HOUR);
    let _ = push(&outbox, "first");
    // The writer took the line and is writing it: not waiting.
    let mut batch = VecDeque::new();
    let cx = Context::from_waker(Waker::noop());
    assert!(outbox.poll_next_batch(&cx, &mut batch).is_ready());
    assert!(matches!(announce(&outbox, &[JOIN]), Ok(Wakeup::Nobody)));
    assert!(outbox.poll_next_batch(&cx, &mut batch).is_ready());
}

#[test]
fn joins_parts_quits_and_status_changes_are_announcements_and_nothing_else() {
    for line in [
        "@time=2026-12-07T10:00:00.000Z :bob!b@h JOIN #lobby",
        ":bob!b@h JOIN #lobby bob :Bob",
        ":bob!b@h PART #lobby :later",
        ":bob!b@h QUIT :Quit: bye",
        ":bob!b@h NICK robert",
        ":bob!b@h AWAY :lunch",
        ":bob!b@h ACCOUNT bob",
        ":bob!b@h CHGHOST b new.host",
        ":bob!b@h SETNAME :Robert",
    ] {
        assert_eq!(Urgency::of_broadcast(line), Urgency::Announcement, "{line}");
    }
    for line in [
        ":bob!b@h PRIVMSG #lobby :JOIN",
        ":bob!b@h NOTICE #lobby :hi",
        ":bob!b@h TAGMSG #lobby",
        ":op!o@h KICK #lobby bob :out",
        ":op!o@h MODE #lobby +m",
        ":op!o@h TOPIC #lobby :news",
        ":natter BATCH +1 netsplit",
        "PING :natter",
    ] {
        assert_eq!(Urgency::of_broadcast(line), Urgency::Prompt, "{line}");
    }
}

#[test]
fn a_close_still_wakes_a_writer_whose_lines_gather() {
    let outbox = Arc::new(waiting_writer(AN_HOUR));
    let _ = push(&outbox, "one");
    write_what_waits(&outbox);
    let waiting = outbox.clone();
    let writer = std::thread::spawn(move || {
        let mut batch = VecDeque::new();
        let phase = futures_lite::future::block_on(waiting.next_batch(&mut batch));
        (phase, batch)
    });
    let gathering = push(&outbox, "bye");
    assert!(matches!(gathering, Ok(Wakeup::Later(..))));
    outbox.close();
    // Never woken by the Later waker (dropped here): the close did it.
    drop(gathering);
    let (phase, batch) = writer.join().expect("writer");
    assert_eq!(
        (phase, batch),
        (Phase::Closing, VecDeque::from([line("bye")]))
    );
}

/// Counts how often it is woken.
struct CountingWaker(std::sync::atomic::AtomicUsize);

impl std::task::Wake for CountingWaker {
    fn wake(self: Arc<Self>) {
        self.0.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
    }
}

impl CountingWaker {
    fn wakes(&self) -> usize {
        self.0.load(std::sync::atomic::Ordering::SeqCst)
    }
}

/// An outbox whose writer is parked (registered with a counting waker)
/// and which may write to the server side of a loopback connection;
/// returns the client side too.
fn parked_direct_writer() -> (Outbox, Arc<CountingWaker>, std::net::TcpStream) {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let client =
        std::net::TcpStream::connect(listener.local_addr().expect("addr")).expect("connect");
    let (server, _) = listener.accept().expect("accept");
    let server = smol::Async::new(server).expect("non-blocking socket");
    let outbox = Outbox::new(1 << 20);
    outbox.write_directly_to(Socket::from(async_net::TcpStream::from(server)));
    let counter = Arc::new(CountingWaker(0.into()));
    let waker = Waker::from(counter.clone());
    let mut batch = VecDeque::new();
    let cx = Context::from_waker(&waker);
    assert!(outbox.poll_next_batch(&cx, &mut batch).is_pending());
    (outbox, counter, client)
}

fn woken_writer(wakeup: Result<Wakeup, Overflow>) -> Waker {
    match wakeup {
        Ok(Wakeup::Now(writer)) => writer,
        other => panic!("expected the writer to be woken now, got {other:?}"),
    }
}

#[test]
fn a_parked_writers_lines_are_written_directly_without_waking_it() {
    let (outbox, counter, client) = parked_direct_writer();
    let writer = woken_writer(outbox.push_deferred(line("one"), None));
    let _ = outbox.push_deferred(line("two"), None);
    outbox.write_or_wake(writer, &mut Vec::new());
    let mut got = [0; 10];
    std::io::Read::read_exact(&mut &client, &mut got).expect("the lines arrive");
    assert_eq!(&got, b"one\r\ntwo\r\n");
    assert_eq!(counter.wakes(), 0, "the writer task was not run");
    assert_eq!(outbox.queued_bytes(), 0);
    // Still parked: the next line wakes it again (and goes out directly).
    let writer = woken_writer(outbox.push_deferred(line("three"), None));
    outbox.write_or_wake(writer, &mut Vec::new());
    let mut got = [0; 7];
    std::io::Read::read_exact(&mut &client, &mut got).expect("the next line arrives");
    assert_eq!(&got, b"three\r\n");
    assert_eq!(counter.wakes(), 0);
}

#[test]
fn what_a_full_socket_does_not_take_goes_to_the_writer_ahead_of_later_lines() {
    let (outbox, counter, client) = parked_direct_writer();
    // The client reads nothing: the socket fills up.
    let long: String = "x".repeat(60_000);
    let mut sent = Vec::new();
    let mut leftover = Vec::new();
    // Far more than any socket buffers (tcp_wmem and tcp_rmem allow some MiB).
    for _ in 0..1000 {
        let writer = woken_writer(outbox.push_deferred(line(&long), None));
        outbox.write_or_wake(writer, &mut Vec::new());
        if counter.wakes() > 0 {
            break;
        }
        sent.push(long.clone());
    }
    assert_eq!(
        counter.wakes(),
        1,
        "the writer is woken once the socket is full"
    );
    // The writer takes the rest first, then the lines queued after it.
    let _ = outbox.push_deferred(line("later"), None);
    let cx = Context::from_waker(Waker::noop());
    let mut batch = VecDeque::new();
    assert_eq!(
        outbox.poll_next_batch(&cx, &mut batch),
        Poll::Ready(Phase::Open)
    );
    let at_line_start = outbox
        .take_leftover(&mut leftover)
        .expect("bytes were left");
    assert_eq!(batch, VecDeque::from([line("later")]));
    // Everything the client reads is whole lines, in order: what the
    // socket took, then the leftover, then the later line.
    let mut expected = Vec::new();
    for text in sent.iter().chain([&long]) {
        expected.extend_from_slice(text.as_bytes());
        expected.extend_from_slice(b"\r\n");
    }
    let taken = expected.len() - leftover.len();
    let mut everything = vec![0; taken];
    client
        .set_read_timeout(Some(Duration::from_secs(10)))
        .expect("a read timeout");
    std::io::Read::read_exact(&mut &client, &mut everything).expect("what the socket took");
    assert_eq!(at_line_start, everything.last() == Some(&b'\n'));
    everything.extend_from_slice(&leftover);
    assert!(everything == expected, "the bytes arrive in order, once");
    // While the writer is busy, nothing is written past it.
    let _ = outbox.push_deferred(line("much later"), None);
    outbox.write_or_wake(Waker::noop().clone(), &mut Vec::new());
    assert_eq!(outbox.queued_bytes(), "much later".len() + 2);
}

#[test]
fn direct_writes_to_many_clients_go_out_in_one_system_call() {
    let Some(mut ring) = crate::net::send_ring::SendRing::new() else {
        eprintln!("io_uring is unavailable here: nothing to test");
        return;
    };
    let (a, a_wakes, a_client) = parked_direct_writer();
    let (b, b_wakes, b_client) = parked_direct_writer();
    let a_writer = woken_writer(a.push_deferred(line("for a"), None));
    let b_writer = woken_writer(b.push_deferred(line("for b"), None));
    let mut buffer = Vec::new();
    let to_a = a
        .begin_direct_write(a_writer, &mut buffer)
        .expect("a's writer is parked");
    let to_b = b
        .begin_direct_write(b_writer, &mut buffer)
        .expect("b's writer is parked");
    // A second write to a client whose outbox a write holds never waits
    // for it: that client's writer is woken instead.
    let again = Waker::from(a_wakes.clone());
    assert!(a.begin_direct_write(again, &mut buffer).is_none());
    assert_eq!(a_wakes.wakes(), 1);
    let sends = [
        (to_a.socket(), to_a.bytes(&buffer)),
        (to_b.socket(), to_b.bytes(&buffer)),
    ];
    let mut taken = Vec::new();
    ring.send_all(&sends, &mut taken).expect("the ring sends");
    let now = Instant::now();
    to_a.finish(&buffer, taken[0], now);
    to_b.finish(&buffer, taken[1], now);
    for (client, expected) in [(a_client, b"for a\r\n"), (b_client, b"for b\r\n")] {
        let mut got = [0; 7];
        std::io::Read::read_exact(&mut &client, &mut got).expect("each client's line arrives");
        assert_eq!(&got, expected);
    }
    assert_eq!(b_wakes.wakes(), 0, "b's writer task was not run");
    assert_eq!((a.queued_bytes(), b.queued_bytes()), (0, 0));
    // Both writers are still parked: the next line is theirs to be woken for.
    let _ = woken_writer(b.push_deferred(line("next"), None));
}

#[test]
fn a_client_without_a_direct_socket_has_its_writer_woken() {
    let outbox = Outbox::new(1024);
    let counter = Arc::new(CountingWaker(0.into()));
    let waker = Waker::from(counter.clone());
    let cx = Context::from_waker(&waker);
    let mut batch = VecDeque::new();
    assert!(outbox.poll_next_batch(&cx, &mut batch).is_pending());
    let writer = woken_writer(outbox.push_deferred(line("one"), None));
    outbox.write_or_wake(writer, &mut Vec::new());
    assert_eq!(counter.wakes(), 1);
    assert_eq!(outbox.queued_bytes(), 5);
}

#[test]
fn abort_discards_the_queue_and_keeps_only_the_error_line() {
    let outbox = Outbox::new(1024);
    assert_eq!(outbox.push(line("stale")), Ok(()));
    outbox.abort(Some(line("ERROR :SendQ exceeded")));
    let mut batch = VecDeque::new();
    let phase = futures_lite::future::block_on(outbox.next_batch(&mut batch));
    assert_eq!(phase, Phase::Aborted);
    assert_eq!(batch, [line("ERROR :SendQ exceeded")]);
    futures_lite::future::block_on(outbox.wait_aborted());
}
