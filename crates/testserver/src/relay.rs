//! What the test proxies share: a loopback listener whose connections each
//! get a thread, the record of what clients asked, and relaying bytes both
//! ways once a tunnel is open. Dropping a listener shuts every connection
//! down, so no test leaves a relay running. Only with the `proxies` feature.

use std::io::{self, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::thread::{self, JoinHandle};
use std::time::Duration;

/// How long a proxy waits on a silent peer before giving up on it.
pub(crate) const IDLE: Duration = Duration::from_secs(30);

/// A listener, its connections, and what was asked of it (`R`).
pub(crate) struct Listener<R> {
    addr: SocketAddr,
    shared: Arc<Shared<R>>,
    acceptor: Option<JoinHandle<()>>,
}

pub(crate) struct Shared<R> {
    stopping: AtomicBool,
    /// Every socket opened, to shut down when the listener is dropped.
    sockets: Mutex<Vec<TcpStream>>,
    records: Mutex<Vec<R>>,
}

impl<R> Shared<R> {
    pub(crate) fn record(&self, record: R) {
        lock(&self.records).push(record);
    }

    /// Keeps a clone of `socket` to shut down at the end.
    pub(crate) fn track(&self, socket: &TcpStream) {
        if let Ok(clone) = socket.try_clone() {
            lock(&self.sockets).push(clone);
        }
    }
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

impl<R: Clone + Send + 'static> Listener<R> {
    /// Listens on 127.0.0.1 and runs `serve` on a thread per connection.
    pub(crate) fn start(
        name: &str,
        serve: fn(TcpStream, &Shared<R>) -> io::Result<()>,
    ) -> io::Result<Listener<R>> {
        let listener = TcpListener::bind("127.0.0.1:0")?;
        let addr = listener.local_addr()?;
        let shared = Arc::new(Shared {
            stopping: AtomicBool::new(false),
            sockets: Mutex::default(),
            records: Mutex::default(),
        });
        let acceptor = {
            let shared = shared.clone();
            thread::Builder::new()
                .name(format!("{name}-accept"))
                .spawn(move || {
                    for stream in listener.incoming() {
                        if shared.stopping.load(Ordering::SeqCst) {
                            return;
                        }
                        let Ok(stream) = stream else { continue };
                        let _ = stream.set_read_timeout(Some(IDLE));
                        shared.track(&stream);
                        let shared = shared.clone();
                        let _ = thread::Builder::new().spawn(move || {
                            let _ = serve(stream, &shared);
                        });
                    }
                })?
        };
        Ok(Listener {
            addr,
            shared,
            acceptor: Some(acceptor),
        })
    }

    pub(crate) fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// What clients asked so far, in order.
    pub(crate) fn records(&self) -> Vec<R> {
        lock(&self.shared.records).clone()
    }
}

impl<R> Drop for Listener<R> {
    fn drop(&mut self) {
        self.shared.stopping.store(true, Ordering::SeqCst);
        let _ = TcpStream::connect(self.addr);
        if let Some(acceptor) = self.acceptor.take() {
            let _ = acceptor.join();
        }
        for socket in lock(&self.shared.sockets).drain(..) {
            let _ = socket.shutdown(Shutdown::Both);
        }
    }
}

/// Connects to `addr` for a client, tracked like the client's socket.
pub(crate) fn connect<R>(addr: &str, shared: &Shared<R>) -> io::Result<TcpStream> {
    let stream = TcpStream::connect(addr)?;
    stream.set_read_timeout(Some(IDLE))?;
    shared.track(&stream);
    Ok(stream)
}

/// Copies bytes both ways until either side closes, then closes both.
pub(crate) fn pipe(client: TcpStream, server: TcpStream) -> io::Result<()> {
    let (mut client_in, mut server_out) = (client.try_clone()?, server.try_clone()?);
    let upstream = thread::spawn(move || {
        let _ = io::copy(&mut client_in, &mut server_out);
        let _ = server_out.shutdown(Shutdown::Write);
    });
    let (mut server_in, mut client_out) = (server, client);
    let _ = copy_all(&mut server_in, &mut client_out);
    let _ = client_out.shutdown(Shutdown::Both);
    let _ = server_in.shutdown(Shutdown::Both);
    let _ = upstream.join();
    Ok(())
}

/// `io::copy`, flushing as it goes.
pub(crate) fn copy_all(from: &mut impl Read, to: &mut impl Write) -> io::Result<u64> {
    let copied = io::copy(from, to)?;
    to.flush()?;
    Ok(copied)
}

/// Reads a head (up to the blank line) one byte at a time, so nothing after
/// it is consumed. `None` if the peer closed first.
pub fn read_head(stream: &mut impl Read) -> io::Result<Option<String>> {
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        if stream.read(&mut byte)? == 0 {
            return Ok(None);
        }
        head.push(byte[0]);
        if head.len() > 64 * 1024 {
            return Err(io::Error::other("head too long"));
        }
    }
    Ok(Some(String::from_utf8_lossy(&head).into_owned()))
}
