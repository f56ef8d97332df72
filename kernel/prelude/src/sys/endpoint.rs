//! Listening, accepting and connecting sockets, interruptibly.
//!
//! Every socket is non-blocking and close-on-exec: accepts and connects wait
//! in `poll` slices (see [`crate::interrupt`]), so a `connect` to a machine
//! that does not answer can be interrupted or timed out instead of hanging
//! for the kernel's two minutes of SYN retries.
//!
//! Unix socket files are made owner-only (0600) between `bind` and `listen`:
//! nobody can connect before `listen`, so no other user ever sees the socket
//! with looser permissions — no process-wide `umask` games needed.

use crate::error::Result;
use crate::sys::deadline::Deadline;
use nix::errno::Errno;
use nix::poll::{PollFd, PollFlags, PollTimeout, poll};
use nix::sys::socket::{
    AddressFamily, Backlog, SockFlag, SockType, SockaddrIn, SockaddrIn6, SockaddrStorage, UnixAddr,
    accept4, bind, connect, getsockname, getsockopt, listen, setsockopt, socket, sockopt,
};
use std::net::{Ipv4Addr, SocketAddr};
use std::os::fd::{AsFd, AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::fs::PermissionsExt;
use std::path::PathBuf;

// `Address` is defined here, at the bottom, and re-exported as
// `multiprocessing::connection::Address`: the sockets need it, and `sys`
// imports nothing from the layers above.
/// A TCP address or a Unix socket path (Python's `AF_INET` tuple and `AF_UNIX` string).
///
/// ```
/// use ferrokernel_prelude::multiprocessing::connection::{Address, ToAddress};
/// # fn main() -> ferrokernel_prelude::multiprocessing::Result<()> {
/// assert_eq!(Address::loopback(5000).to_string(), "127.0.0.1:5000");
/// assert_eq!(5000u16.to_address()?, Address::loopback(5000));
/// assert_eq!(("127.0.0.1", 0).to_address()?, Address::loopback(0));
/// assert!(matches!("/tmp/app.sock".to_address()?, Address::Unix(_)));
/// # Ok(())
/// # }
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Address {
    /// A TCP address (`('127.0.0.1', 5000)` in Python).
    Tcp(SocketAddr),
    /// A Unix socket path (`'/tmp/app.sock'` in Python).
    Unix(PathBuf),
}

impl Address {
    /// `127.0.0.1:port` — reachable from this machine only. Port 0 lets the
    /// system pick a free one.
    pub fn loopback(port: u16) -> Address {
        Address::Tcp(SocketAddr::from((Ipv4Addr::LOCALHOST, port)))
    }

    /// `0.0.0.0:port` — every interface, so other machines can connect. Only
    /// ever used when asked for: protect it with a strong authkey.
    pub fn any(port: u16) -> Address {
        Address::Tcp(SocketAddr::from((Ipv4Addr::UNSPECIFIED, port)))
    }
}

impl std::fmt::Display for Address {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Address::Tcp(address) => write!(f, "{address}"),
            Address::Unix(path) => write!(f, "{}", path.display()),
        }
    }
}

const FLAGS: SockFlag = SockFlag::SOCK_CLOEXEC.union(SockFlag::SOCK_NONBLOCK);

fn tcp_socket(address: &SocketAddr) -> Result<OwnedFd> {
    let family = if address.is_ipv4() {
        AddressFamily::Inet
    } else {
        AddressFamily::Inet6
    };
    Ok(socket(family, SockType::Stream, FLAGS, None)?)
}

fn bind_tcp(fd: &OwnedFd, address: &SocketAddr) -> Result<()> {
    match address {
        SocketAddr::V4(v4) => bind(fd.as_raw_fd(), &SockaddrIn::from(*v4))?,
        SocketAddr::V6(v6) => bind(fd.as_raw_fd(), &SockaddrIn6::from(*v6))?,
    }
    Ok(())
}

fn connect_to(fd: &OwnedFd, address: &Address) -> nix::Result<()> {
    match address {
        Address::Tcp(SocketAddr::V4(v4)) => connect(fd.as_raw_fd(), &SockaddrIn::from(*v4)),
        Address::Tcp(SocketAddr::V6(v6)) => connect(fd.as_raw_fd(), &SockaddrIn6::from(*v6)),
        Address::Unix(path) => connect(fd.as_raw_fd(), &UnixAddr::new(path.as_path())?),
    }
}

fn bound_address(fd: &OwnedFd, asked: &Address) -> Result<Address> {
    if let Address::Unix(path) = asked {
        return Ok(Address::Unix(path.clone()));
    }
    let storage: SockaddrStorage = getsockname(fd.as_raw_fd())?;
    if let Some(v4) = storage.as_sockaddr_in() {
        return Ok(Address::Tcp(SocketAddr::V4((*v4).into())));
    }
    if let Some(v6) = storage.as_sockaddr_in6() {
        return Ok(Address::Tcp(SocketAddr::V6((*v6).into())));
    }
    Ok(asked.clone())
}

/// A listening socket at `address`, and the address it got (the port the
/// system picked for port 0).
pub(crate) fn listen_at(address: &Address) -> Result<(OwnedFd, Address)> {
    let fd = match address {
        Address::Tcp(tcp) => {
            let fd = tcp_socket(tcp)?;
            // As CPython does on POSIX: a restarted server gets its port back
            // while old connections linger in TIME_WAIT.
            setsockopt(&fd, sockopt::ReuseAddr, &true)?;
            bind_tcp(&fd, tcp)?;
            fd
        }
        Address::Unix(path) => {
            let fd = socket(AddressFamily::Unix, SockType::Stream, FLAGS, None)?;
            bind(fd.as_raw_fd(), &UnixAddr::new(path.as_path())?)?;
            if let Err(error) =
                std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))
            {
                let _ = std::fs::remove_file(path);
                return Err(error.into());
            }
            fd
        }
    };
    listen(&fd, Backlog::new(128).unwrap_or(Backlog::MAXCONN))?;
    let bound = bound_address(&fd, address)?;
    Ok((fd, bound))
}

/// Waits one slice for `events` on `fd`.
fn wait(fd: &OwnedFd, events: PollFlags, deadline: &Deadline) -> Result<()> {
    let slice = deadline.slice()?;
    let millis = u16::try_from(slice.as_millis()).unwrap_or(u16::MAX).max(1);
    let mut fds = [PollFd::new(fd.as_fd(), events)];
    match poll(&mut fds, PollTimeout::from(millis)) {
        Ok(_) | Err(Errno::EINTR) => Ok(()),
        Err(errno) => Err(errno.into()),
    }
}

/// Accepts one connection, waiting (interruptibly) until `deadline`.
pub(crate) fn accept_on(listener: &OwnedFd, deadline: &Deadline) -> Result<OwnedFd> {
    loop {
        match accept4(listener.as_raw_fd(), FLAGS) {
            Ok(raw) => {
                // SAFETY: accept4 just returned this fd, owned by nobody else.
                let fd = unsafe { OwnedFd::from_raw_fd(raw) };
                let _ = setsockopt(&fd, sockopt::TcpNoDelay, &true);
                return Ok(fd);
            }
            // A connection that was reset before we took it: take the next.
            Err(Errno::EAGAIN | Errno::EINTR | Errno::ECONNABORTED) => {}
            Err(errno) => return Err(errno.into()),
        }
        wait(listener, PollFlags::POLLIN, deadline)?;
    }
}

/// Connects to `address`, waiting (interruptibly) until `deadline`.
pub(crate) fn connect_at(address: &Address, deadline: &Deadline) -> Result<OwnedFd> {
    let fd = match address {
        Address::Tcp(tcp) => tcp_socket(tcp)?,
        Address::Unix(_) => socket(AddressFamily::Unix, SockType::Stream, FLAGS, None)?,
    };
    match connect_to(&fd, address) {
        Ok(()) => {}
        Err(Errno::EINPROGRESS | Errno::EINTR | Errno::EAGAIN) => loop {
            wait(&fd, PollFlags::POLLOUT, deadline)?;
            let mut fds = [PollFd::new(fd.as_fd(), PollFlags::POLLOUT)];
            if poll(&mut fds, PollTimeout::ZERO).unwrap_or(0) == 0 {
                continue;
            }
            match getsockopt(&fd, sockopt::SocketError)? {
                0 => break,
                code => return Err(std::io::Error::from_raw_os_error(code).into()),
            }
        },
        Err(errno) => return Err(errno.into()),
    }
    if matches!(address, Address::Tcp(_)) {
        let _ = setsockopt(&fd, sockopt::TcpNoDelay, &true);
    }
    Ok(fd)
}

/// The peer's address, when it has one worth telling (TCP).
pub(crate) fn peer_of(fd: &OwnedFd) -> Option<Address> {
    let storage: SockaddrStorage = nix::sys::socket::getpeername(fd.as_raw_fd()).ok()?;
    if let Some(v4) = storage.as_sockaddr_in() {
        return Some(Address::Tcp(SocketAddr::V4((*v4).into())));
    }
    if let Some(v6) = storage.as_sockaddr_in6() {
        return Some(Address::Tcp(SocketAddr::V6((*v6).into())));
    }
    storage
        .as_unix_addr()
        .and_then(UnixAddr::path)
        .map(|path| Address::Unix(path.to_owned()))
}
