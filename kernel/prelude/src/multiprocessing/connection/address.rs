//! Where a [`Listener`](super::Listener) listens: a TCP address or a Unix socket path.

use crate::error::{Error, Result};
pub use crate::sys::endpoint::Address;
use std::net::{IpAddr, Ipv4Addr, SocketAddr, ToSocketAddrs};
use std::path::{Path, PathBuf};

/// Anything that names an [`Address`]: an `Address`, a `SocketAddr`, a port
/// (`u16`, on the loopback interface), a `(host, port)` pair, a
/// `"host:port"` string, or a Unix socket path (a `Path`, or a string holding
/// a `/`).
///
/// ```
/// use ferrokernel_prelude::multiprocessing::connection::{Address, ToAddress};
/// # fn main() -> ferrokernel_prelude::multiprocessing::Result<()> {
/// assert_eq!("127.0.0.1:80".to_address()?, Address::loopback(80));
/// assert_eq!("./app.sock".to_address()?, Address::Unix("./app.sock".into()));
/// assert!("no port here".to_address().is_err());
/// # Ok(())
/// # }
/// ```
pub trait ToAddress {
    /// The address (host names are resolved, IPv4 first).
    fn to_address(self) -> Result<Address>;
}

fn invalid(what: &str) -> Error {
    Error::Io(std::io::Error::new(
        std::io::ErrorKind::InvalidInput,
        format!("not an address: {what:?} (use \"host:port\" or a socket path with a '/')"),
    ))
}

fn resolve(target: impl ToSocketAddrs, shown: &str) -> Result<Address> {
    let found: Vec<SocketAddr> = target
        .to_socket_addrs()
        .map_err(|_| invalid(shown))?
        .collect();
    found
        .iter()
        .find(|address| address.is_ipv4())
        .or_else(|| found.first())
        .map(|address| Address::Tcp(*address))
        .ok_or_else(|| invalid(shown))
}

impl ToAddress for Address {
    fn to_address(self) -> Result<Address> {
        Ok(self)
    }
}

impl ToAddress for &Address {
    fn to_address(self) -> Result<Address> {
        Ok(self.clone())
    }
}

impl ToAddress for SocketAddr {
    fn to_address(self) -> Result<Address> {
        Ok(Address::Tcp(self))
    }
}

impl ToAddress for u16 {
    fn to_address(self) -> Result<Address> {
        Ok(Address::loopback(self))
    }
}

impl ToAddress for (IpAddr, u16) {
    fn to_address(self) -> Result<Address> {
        Ok(Address::Tcp(SocketAddr::from(self)))
    }
}

impl ToAddress for (Ipv4Addr, u16) {
    fn to_address(self) -> Result<Address> {
        Ok(Address::Tcp(SocketAddr::from(self)))
    }
}

impl ToAddress for (&str, u16) {
    fn to_address(self) -> Result<Address> {
        resolve(self, self.0)
    }
}

impl ToAddress for &str {
    fn to_address(self) -> Result<Address> {
        if self.contains('/') {
            return Ok(Address::Unix(PathBuf::from(self)));
        }
        if let Ok(address) = self.parse::<SocketAddr>() {
            return Ok(Address::Tcp(address));
        }
        match self.rsplit_once(':') {
            Some((_, port)) if port.parse::<u16>().is_ok() => resolve(self, self),
            _ => Err(invalid(self)),
        }
    }
}

impl ToAddress for String {
    fn to_address(self) -> Result<Address> {
        self.as_str().to_address()
    }
}

impl ToAddress for &String {
    fn to_address(self) -> Result<Address> {
        self.as_str().to_address()
    }
}

impl ToAddress for &Path {
    fn to_address(self) -> Result<Address> {
        Ok(Address::Unix(self.to_owned()))
    }
}

impl ToAddress for PathBuf {
    fn to_address(self) -> Result<Address> {
        Ok(Address::Unix(self))
    }
}
