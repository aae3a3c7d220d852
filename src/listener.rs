//! The accepting side of every listener: a bound on open connections, and TLS (optionally
//! mutual) whose certificates are re-read on SIGHUP.
//!
//! A task accepts connections while fewer than `max_connections` are open (past it, new ones
//! wait in the kernel's backlog, as Prometheus's `--web.max-connections`), runs each TLS
//! handshake on its own task with a timeout, and hands finished connections to the server
//! through a channel; so a client that stalls its handshake holds up nobody else.

use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::{Arc, RwLock};
use std::task::{Context, Poll};
use std::time::Duration;

use lookout_collector::tls::TlsConfig;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{mpsc, OwnedSemaphorePermit, Semaphore};
use tokio_stream::StreamExt as _;

/// How long a client has to finish its TLS handshake.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// A listener's current TLS configuration, replaced by [`Tls::reload`].
pub struct Tls {
    config: TlsConfig,
    current: RwLock<Arc<rustls::ServerConfig>>,
}

impl Tls {
    pub fn new(config: &TlsConfig) -> anyhow::Result<Arc<Tls>> {
        let server = config.server_config().map_err(anyhow::Error::msg)?;
        Ok(Arc::new(Tls {
            current: RwLock::new(Arc::new(server)),
            config: config.clone(),
        }))
    }

    /// Re-reads the certificate, key and client CA; on a problem the old ones stay.
    pub fn reload(&self) -> anyhow::Result<()> {
        let fresh = Arc::new(self.config.server_config().map_err(anyhow::Error::msg)?);
        *self
            .current
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = fresh;
        Ok(())
    }

    fn acceptor(&self) -> tokio_rustls::TlsAcceptor {
        let config = self
            .current
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone();
        tokio_rustls::TlsAcceptor::from(config)
    }
}

enum Io {
    Plain(TcpStream),
    Tls(Box<tokio_rustls::server::TlsStream<TcpStream>>),
}

/// An accepted connection; holds its slot of the connection limit until dropped.
pub struct Conn {
    io: Io,
    remote: SocketAddr,
    _slot: OwnedSemaphorePermit,
}

impl AsyncRead for Conn {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        match &mut self.io {
            Io::Plain(s) => Pin::new(s).poll_read(cx, buf),
            Io::Tls(s) => Pin::new(s.as_mut()).poll_read(cx, buf),
        }
    }
}

impl AsyncWrite for Conn {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        match &mut self.io {
            Io::Plain(s) => Pin::new(s).poll_write(cx, buf),
            Io::Tls(s) => Pin::new(s.as_mut()).poll_write(cx, buf),
        }
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match &mut self.io {
            Io::Plain(s) => Pin::new(s).poll_flush(cx),
            Io::Tls(s) => Pin::new(s.as_mut()).poll_flush(cx),
        }
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match &mut self.io {
            Io::Plain(s) => Pin::new(s).poll_shutdown(cx),
            Io::Tls(s) => Pin::new(s.as_mut()).poll_shutdown(cx),
        }
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        match &mut self.io {
            Io::Plain(s) => Pin::new(s).poll_write_vectored(cx, bufs),
            Io::Tls(s) => Pin::new(s.as_mut()).poll_write_vectored(cx, bufs),
        }
    }

    fn is_write_vectored(&self) -> bool {
        match &self.io {
            Io::Plain(s) => s.is_write_vectored(),
            Io::Tls(s) => s.is_write_vectored(),
        }
    }
}

/// The peer's address, as gRPC requests see it.
#[derive(Clone, Copy, Debug)]
pub struct Peer(pub SocketAddr);

impl tonic::transport::server::Connected for Conn {
    type ConnectInfo = Peer;

    fn connect_info(&self) -> Peer {
        Peer(self.remote)
    }
}

/// Connections ready to serve, from [`accept`].
pub struct Incoming {
    rx: mpsc::Receiver<Conn>,
    local: SocketAddr,
}

impl Incoming {
    /// The connections as a stream, for tonic.
    pub fn into_stream(self) -> impl tokio_stream::Stream<Item = io::Result<Conn>> {
        tokio_stream::wrappers::ReceiverStream::new(self.rx).map(Ok)
    }
}

impl axum::serve::Listener for Incoming {
    type Io = Conn;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (Conn, SocketAddr) {
        match self.rx.recv().await {
            Some(conn) => {
                let remote = conn.remote;
                (conn, remote)
            }
            // The accepting task has ended (the process is stopping): never accept again.
            None => std::future::pending().await,
        }
    }

    fn local_addr(&self) -> io::Result<SocketAddr> {
        Ok(self.local)
    }
}

/// Starts accepting on `listener`: at most `max_connections` open at once, each through
/// `tls` when given.
pub fn accept(
    what: &'static str,
    listener: TcpListener,
    tls: Option<Arc<Tls>>,
    max_connections: usize,
) -> io::Result<Incoming> {
    let local = listener.local_addr()?;
    let (tx, rx) = mpsc::channel::<Conn>(64);
    let slots = Arc::new(Semaphore::new(max_connections.max(1)));
    tokio::spawn(async move {
        loop {
            let Ok(slot) = Arc::clone(&slots).acquire_owned().await else {
                return;
            };
            let (stream, remote) = tokio::select! {
                accepted = listener.accept() => match accepted {
                    Ok(accepted) => accepted,
                    Err(e) => {
                        // Out of file descriptors and the like: wait instead of spinning.
                        tracing::warn!(listener = what, error = %e, "accepting a connection failed");
                        tokio::time::sleep(Duration::from_millis(100)).await;
                        continue;
                    }
                },
                () = tx.closed() => return,
            };
            // Answers go out at once: with Nagle's algorithm a small response can wait for the
            // client's delayed ACK, a 40 ms floor under export latency percentiles.
            if let Err(e) = stream.set_nodelay(true) {
                tracing::debug!(error = %e, "setting TCP_NODELAY failed");
            }
            match &tls {
                None => {
                    let conn = Conn {
                        io: Io::Plain(stream),
                        remote,
                        _slot: slot,
                    };
                    if tx.send(conn).await.is_err() {
                        return;
                    }
                }
                Some(tls) => {
                    let acceptor = tls.acceptor();
                    let tx = tx.clone();
                    tokio::spawn(async move {
                        match tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(stream)).await
                        {
                            Ok(Ok(stream)) => {
                                let conn = Conn {
                                    io: Io::Tls(Box::new(stream)),
                                    remote,
                                    _slot: slot,
                                };
                                let _ = tx.send(conn).await;
                            }
                            Ok(Err(e)) => {
                                tracing::debug!(listener = what, %remote, error = %e, "TLS handshake failed")
                            }
                            Err(_) => {
                                tracing::debug!(listener = what, %remote, "TLS handshake timed out")
                            }
                        }
                    });
                }
            }
        }
    });
    Ok(Incoming { rx, local })
}
