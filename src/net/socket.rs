//! [`Socket`]: one client's TCP socket, shared by its reader and writer.
//!
//! Owns nothing but a reference-counted handle to the non-blocking socket
//! registered with the reactor. async-net's `TcpStream` carries about 120
//! bytes of readiness state in every clone; a connection holds three
//! handles to its socket for as long as it lives, so at ten thousand idle
//! connections that state is megabytes. Must never buffer, and never be
//! read or written by more than one task per direction (the reader reads,
//! the writer writes), since the reactor keeps one waker per direction.

use futures_lite::{AsyncRead, AsyncWrite};
use smol::Async;
use std::io;
use std::net::{Shutdown, TcpStream};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

/// A shared handle to one connection's socket (the size of a pointer).
#[derive(Clone, Debug)]
pub struct Socket(Arc<Async<TcpStream>>);

impl From<async_net::TcpStream> for Socket {
    fn from(stream: async_net::TcpStream) -> Socket {
        Socket(stream.into())
    }
}

impl Socket {
    /// Writes what the socket takes of `bytes` now, without waiting
    /// (`WouldBlock` when it takes nothing).
    pub fn try_write(&self, bytes: &[u8]) -> io::Result<usize> {
        use std::io::Write;
        let mut socket: &TcpStream = self.0.get_ref();
        socket.write(bytes)
    }

    /// The socket's file descriptor, for a batch of sends made by one
    /// system call ([`super::send_ring::SendRing`]).
    #[cfg(target_os = "linux")]
    pub fn raw_fd(&self) -> std::os::fd::RawFd {
        use std::os::fd::AsRawFd;
        self.0.as_raw_fd()
    }

    /// Shuts the socket down in `how` direction(s); a blocked read on it ends.
    pub fn shutdown(&self, how: Shutdown) -> io::Result<()> {
        self.0.get_ref().shutdown(how)
    }
}

impl AsyncRead for Socket {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut [u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut &*self.0).poll_read(cx, buf)
    }
}

impl AsyncWrite for Socket {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut &*self.0).poll_write(cx, buf)
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut &*self.0).poll_flush(cx)
    }

    fn poll_close(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(self.shutdown(Shutdown::Write))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use futures_lite::{AsyncReadExt, AsyncWriteExt};

    #[test]
    fn a_socket_is_one_pointer_and_carries_bytes_both_ways() {
        assert_eq!(std::mem::size_of::<Socket>(), std::mem::size_of::<usize>());
        smol::block_on(async {
            let listener = async_net::TcpListener::bind("127.0.0.1:0").await?;
            let client = async_net::TcpStream::connect(listener.local_addr()?).await?;
            let (server, _) = listener.accept().await?;
            let mut reader = Socket::from(server);
            let mut writer = reader.clone();
            let mut client_reader = client.clone();
            let mut client_writer = client;
            client_writer.write_all(b"PING x\r\n").await?;
            let mut buf = [0u8; 8];
            reader.read_exact(&mut buf).await?;
            assert_eq!(&buf, b"PING x\r\n");
            writer.write_all(b"PONG x\r\n").await?;
            writer.close().await?;
            let mut back = Vec::new();
            client_reader.read_to_end(&mut back).await?;
            assert_eq!(back, b"PONG x\r\n");
            io::Result::Ok(())
        })
        .expect("loopback socket");
    }
}
