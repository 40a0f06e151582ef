//! [`PortableTcp`]: the model connection's TCP socket, able to move to
//! another worker thread.
//!
//! Each actix worker runs its own single-threaded tokio runtime, and a tokio
//! socket is registered with the reactor of the runtime that opened it: read
//! from another thread, every readiness event would still be noticed by the
//! first thread and passed over with a cross-thread wake-up. A call opens its
//! model connection on the worker that took the voice webhook (pre-warm),
//! but its Twilio stream lands on whichever worker accepts the WebSocket;
//! when they differ the call moves to the stream's thread
//! (`call::actor::moving`) and [`PortableTcp::rehome`] registers the socket
//! with that thread's reactor. It sits under TLS and WebSocket framing,
//! whose buffered state moves with it untouched.

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;

#[derive(Debug)]
pub struct PortableTcp(Option<TcpStream>);

impl PortableTcp {
    pub fn new(tcp: TcpStream) -> Self {
        PortableTcp(Some(tcp))
    }

    /// Re-registers the socket with the reactor of the current thread's
    /// runtime. Only while nothing is polling it (the call is moving).
    pub fn rehome(&mut self) -> io::Result<()> {
        let Some(tcp) = self.0.take() else {
            return Err(gone());
        };
        // `into_std` leaves the socket non-blocking, as `from_std` needs.
        let std = tcp.into_std()?;
        self.0 = Some(TcpStream::from_std(std)?);
        Ok(())
    }

    fn tcp(&mut self) -> io::Result<Pin<&mut TcpStream>> {
        self.0.as_mut().map(Pin::new).ok_or_else(gone)
    }
}

/// Only a failed [`PortableTcp::rehome`] leaves no socket.
fn gone() -> io::Error {
    io::Error::new(
        io::ErrorKind::NotConnected,
        "the model socket was lost moving threads",
    )
}

impl AsyncRead for PortableTcp {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        match self.get_mut().tcp() {
            Ok(tcp) => tcp.poll_read(cx, buf),
            Err(e) => Poll::Ready(Err(e)),
        }
    }
}

impl AsyncWrite for PortableTcp {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut().tcp() {
            Ok(tcp) => tcp.poll_write(cx, buf),
            Err(e) => Poll::Ready(Err(e)),
        }
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut().tcp() {
            Ok(tcp) => tcp.poll_write_vectored(cx, bufs),
            Err(e) => Poll::Ready(Err(e)),
        }
    }

    fn is_write_vectored(&self) -> bool {
        self.0.as_ref().is_some_and(TcpStream::is_write_vectored)
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut().tcp() {
            Ok(tcp) => tcp.poll_flush(cx),
            Err(e) => Poll::Ready(Err(e)),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut().tcp() {
            Ok(tcp) => tcp.poll_shutdown(cx),
            Err(e) => Poll::Ready(Err(e)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    /// A socket opened on one runtime keeps working on another after
    /// `rehome`, including bytes that arrived before it moved.
    #[test]
    fn a_socket_moves_to_another_runtime_and_keeps_its_bytes() {
        let first = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let (mut portable, mut peer) = first.block_on(async {
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
            let addr = listener.local_addr().unwrap();
            let (client, accepted) = tokio::join!(TcpStream::connect(addr), listener.accept());
            let mut peer = accepted.unwrap().0;
            peer.write_all(b"before").await.unwrap();
            (PortableTcp::new(client.unwrap()), peer.into_std().unwrap())
        });
        let moved = std::thread::spawn(move || {
            let second = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            second.block_on(async move {
                portable.rehome().unwrap();
                let mut buf = [0u8; 6];
                portable.read_exact(&mut buf).await.unwrap();
                assert_eq!(&buf, b"before");
                portable.write_all(b"after").await.unwrap();
                portable.flush().await.unwrap();
            });
        });
        moved.join().unwrap();
        use std::io::Read;
        peer.set_nonblocking(false).unwrap();
        let mut buf = [0u8; 5];
        peer.read_exact(&mut buf).unwrap();
        assert_eq!(&buf, b"after");
        drop(first);
    }
}
