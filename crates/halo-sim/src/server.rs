//! The TCP side: a listener whose connections can be cut from inside a
//! handler, which is how the "drop the next N connections" fault works.
//!
//! Every accepted stream is wrapped together with a shared kill switch, and
//! the switch reaches handlers as the connection's `ConnectInfo`. Once a
//! handler flips it, every read and write on the stream fails, so hyper gives
//! up on the connection before writing a single byte of the response: the
//! client sees the connection close with no answer, a transport error.

use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;

use axum::extract::connect_info::Connected;
use axum::serve::{IncomingStream, Listener};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};

/// A TCP listener handing out cuttable connections.
#[derive(Debug)]
pub struct SimListener {
    inner: TcpListener,
}

impl SimListener {
    /// Wraps a bound listener.
    pub fn new(inner: TcpListener) -> SimListener {
        SimListener { inner }
    }
}

/// One accepted connection, as handlers see it.
#[derive(Debug, Clone)]
pub struct Connection {
    /// The client's address.
    pub remote: SocketAddr,
    killed: Arc<AtomicBool>,
}

impl Connection {
    /// Cuts the connection: nothing more is read from or written to it.
    pub fn cut(&self) {
        self.killed.store(true, Ordering::SeqCst);
    }
}

/// A TCP stream that fails every operation once its connection is cut.
#[derive(Debug)]
pub struct SimStream {
    inner: TcpStream,
    killed: Arc<AtomicBool>,
}

impl SimStream {
    fn cut_error(&self) -> Option<io::Error> {
        self.killed
            .load(Ordering::SeqCst)
            .then(|| io::Error::new(io::ErrorKind::ConnectionAborted, "cut by fault injection"))
    }
}

impl AsyncRead for SimStream {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        if let Some(error) = self.cut_error() {
            return Poll::Ready(Err(error));
        }
        Pin::new(&mut self.inner).poll_read(cx, buf)
    }
}

impl AsyncWrite for SimStream {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        if let Some(error) = self.cut_error() {
            return Poll::Ready(Err(error));
        }
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        if let Some(error) = self.cut_error() {
            return Poll::Ready(Err(error));
        }
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

impl Listener for SimListener {
    type Io = SimStream;
    type Addr = Connection;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        loop {
            match self.inner.accept().await {
                Ok((stream, remote)) => {
                    // Small request/response exchanges; Nagle would only add delay.
                    let _ = stream.set_nodelay(true);
                    let killed = Arc::new(AtomicBool::new(false));
                    let connection = Connection {
                        remote,
                        killed: Arc::clone(&killed),
                    };
                    return (
                        SimStream {
                            inner: stream,
                            killed,
                        },
                        connection,
                    );
                }
                Err(error) => {
                    // Running out of file descriptors and the like pass; back off
                    // briefly instead of spinning.
                    tracing::warn!(%error, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            }
        }
    }

    fn local_addr(&self) -> io::Result<Self::Addr> {
        Ok(Connection {
            remote: self.inner.local_addr()?,
            killed: Arc::new(AtomicBool::new(false)),
        })
    }
}

impl Connected<IncomingStream<'_, SimListener>> for Connection {
    fn connect_info(stream: IncomingStream<'_, SimListener>) -> Self {
        stream.remote_addr().clone()
    }
}
