//! [`SendRing`]: many clients' bytes handed to the kernel in one system
//! call (Linux's io_uring), for the core task's direct writes.
//!
//! At a trickle of lines the server's work is one small `send()` per
//! client per line, most of it the kernel's TCP work; the system call
//! around each one (entry, exit, the file look-up) is the part a batch
//! saves. Owns one small io_uring instance and nothing else. Every send it
//! starts has finished before [`SendRing::send_all`] returns, so the kernel
//! never reads a buffer after the caller has it back. Must never wait on a
//! socket: each send is non-blocking (`MSG_DONTWAIT`), and what a full
//! socket does not take goes back to the caller as not taken.

use super::socket::Socket;
use std::io;

#[cfg(target_os = "linux")]
pub use linux::SendRing;

/// Where io_uring does not exist: no ring, one `send()` per client.
#[cfg(not(target_os = "linux"))]
pub enum SendRing {}

#[cfg(not(target_os = "linux"))]
impl SendRing {
    /// Never a ring here.
    pub fn new() -> Option<SendRing> {
        None
    }

    /// Never called: there is no ring.
    pub fn send_all(&mut self, _: &[(&Socket, &[u8])], _: &mut Vec<usize>) -> io::Result<()> {
        match *self {}
    }
}

#[cfg(target_os = "linux")]
mod linux {
    use super::*;
    use io_uring::{opcode, types, IoUring, Probe};

    /// Sends submitted per system call at most (a larger batch takes several).
    const ENTRIES: u32 = 256;

    /// An io_uring for batches of non-blocking socket sends.
    pub struct SendRing {
        ring: IoUring,
    }

    impl SendRing {
        /// A ring, or `None` where io_uring cannot send (an old kernel, or
        /// io_uring turned off by `kernel.io_uring_disabled` or a seccomp
        /// filter): the caller then makes one `send()` per client.
        pub fn new() -> Option<SendRing> {
            let ring = IoUring::new(ENTRIES).ok()?;
            let mut probe = Probe::new();
            ring.submitter().register_probe(&mut probe).ok()?;
            probe
                .is_supported(opcode::Send::CODE)
                .then_some(SendRing { ring })
        }

        /// Sends each `(socket, bytes)` without waiting and sets `taken[i]` to
        /// how many bytes socket `i` took (0 when it was full or failed: its
        /// writer finds out why from its own write).
        ///
        /// An error means the ring itself failed: `taken` then says 0 for the
        /// sends not known to be done, and the caller must drop the ring (an
        /// unsubmitted send then never runs) and keep its buffer away from
        /// reuse.
        pub fn send_all(
            &mut self,
            sends: &[(&Socket, &[u8])],
            taken: &mut Vec<usize>,
        ) -> io::Result<()> {
            taken.clear();
            taken.resize(sends.len(), 0);
            let flags = libc::MSG_DONTWAIT | libc::MSG_NOSIGNAL;
            for (chunk_index, chunk) in sends.chunks(ENTRIES as usize).enumerate() {
                let base = chunk_index * ENTRIES as usize;
                {
                    let mut queue = self.ring.submission();
                    for (i, (socket, bytes)) in chunk.iter().enumerate() {
                        // A send past u32::MAX bytes is cut short, as a partial
                        // write: the writer sends the rest.
                        let len = u32::try_from(bytes.len()).unwrap_or(u32::MAX);
                        let entry =
                            opcode::Send::new(types::Fd(socket.raw_fd()), bytes.as_ptr(), len)
                                .flags(flags)
                                .build()
                                .user_data((base + i) as u64);
                        // SAFETY: `bytes` outlives this call, and this call
                        // returns only once the send has completed (below), or
                        // with an error after which the ring is dropped with
                        // the caller's buffer kept from reuse. The queue has
                        // room: it holds ENTRIES and is empty between calls.
                        unsafe { queue.push(&entry) }
                            .map_err(|_| io::Error::other("send ring full"))?;
                    }
                }
                let mut done = 0;
                while done < chunk.len() {
                    match self.ring.submit_and_wait(chunk.len() - done) {
                        Ok(_) => {}
                        Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                        Err(e) => return Err(e),
                    }
                    for completion in self.ring.completion() {
                        done += 1;
                        let i = completion.user_data() as usize;
                        if let (Some(slot), Ok(n)) =
                            (taken.get_mut(i), usize::try_from(completion.result()))
                        {
                            *slot = n;
                        }
                    }
                }
            }
            Ok(())
        }
    }
}

#[cfg(all(test, target_os = "linux"))]
mod tests {
    use super::*;
    use std::io::Read;
    use std::net::{TcpListener, TcpStream};

    /// The server side (as the shell holds it) and the client side of a
    /// loopback connection.
    fn pair() -> (Socket, TcpStream) {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let client = TcpStream::connect(listener.local_addr().expect("addr")).expect("connect");
        let (server, _) = listener.accept().expect("accept");
        let server = smol::Async::new(server).expect("non-blocking socket");
        (Socket::from(async_net::TcpStream::from(server)), client)
    }

    #[test]
    fn one_call_sends_each_client_its_own_bytes() {
        let Some(mut ring) = SendRing::new() else {
            eprintln!("io_uring is unavailable here: nothing to test");
            return;
        };
        let pairs: Vec<_> = (0..300).map(|_| pair()).collect();
        let lines: Vec<Vec<u8>> = (0..pairs.len())
            .map(|i| format!(":a PRIVMSG #r :line for client {i}\r\n").into_bytes())
            .collect();
        let sends: Vec<(&Socket, &[u8])> = pairs
            .iter()
            .zip(&lines)
            .map(|((server, _), line)| (server, line.as_slice()))
            .collect();
        let mut taken = Vec::new();
        ring.send_all(&sends, &mut taken).expect("send");
        assert_eq!(taken, lines.iter().map(Vec::len).collect::<Vec<_>>());
        for ((_, mut client), line) in pairs.into_iter().zip(&lines) {
            let mut got = vec![0; line.len()];
            client.read_exact(&mut got).expect("read");
            assert_eq!(&got, line);
        }
    }

    #[test]
    fn a_full_socket_takes_nothing_and_the_others_still_get_theirs() {
        let Some(mut ring) = SendRing::new() else {
            eprintln!("io_uring is unavailable here: nothing to test");
            return;
        };
        let (full, _full_client) = pair();
        // Fill the socket (its client never reads) until it takes nothing.
        let chunk = vec![b'x'; 1 << 16];
        while full.try_write(&chunk).is_ok_and(|n| n > 0) {}
        let (closed, closed_client) = pair();
        drop(closed_client);
        let (open, mut open_client) = pair();
        let line = b"PING :still here\r\n".to_vec();
        let sends = [(&full, &line[..]), (&closed, &line[..]), (&open, &line[..])];
        let mut taken = Vec::new();
        // The closed client's socket may take a send before it resets.
        for _ in 0..2 {
            ring.send_all(&sends, &mut taken).expect("send");
            assert_eq!(taken[0], 0, "a full socket takes nothing");
            assert_eq!(taken[2], line.len());
        }
        let mut got = vec![0; 2 * line.len()];
        open_client.read_exact(&mut got).expect("read");
        assert_eq!(got, [line.clone(), line].concat());
    }
}
