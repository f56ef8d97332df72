//! [`AuthKey`]: the shared secret of a listener and its clients.

/// The secret a [`Listener`](super::Listener) and its clients share (Python's
/// `authkey`), as bytes.
///
/// [`AuthKey::current`] is the process's own key: 32 random bytes made once
/// per program and inherited by every child process, like Python's
/// `current_process().authkey` — so processes of one program find each other
/// without naming a key, and nobody else gets in. Processes of other programs
/// (another kernel, a worker on another machine, Python) must be given the
/// same explicit key.
///
/// Unlike Python, there is no "no key": a listener always challenges.
///
/// ```
/// use ferrokernel_prelude::multiprocessing::connection::AuthKey;
/// let key = AuthKey::from("secret");
/// assert_eq!(key.as_bytes(), b"secret");
/// assert_eq!(AuthKey::current(), AuthKey::current());
/// assert_eq!(AuthKey::current().as_bytes().len(), 32);
/// ```
#[derive(Clone, PartialEq, Eq)]
pub struct AuthKey(Vec<u8>);

impl AuthKey {
    /// This process's default key (random, inherited by children).
    pub fn current() -> AuthKey {
        AuthKey(crate::sys::authkey::current().to_vec())
    }

    /// The key's bytes.
    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }
}

impl std::fmt::Debug for AuthKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never print a secret.
        write!(f, "AuthKey(<{} bytes>)", self.0.len())
    }
}

impl From<&[u8]> for AuthKey {
    fn from(key: &[u8]) -> AuthKey {
        AuthKey(key.to_vec())
    }
}

impl<const N: usize> From<&[u8; N]> for AuthKey {
    fn from(key: &[u8; N]) -> AuthKey {
        AuthKey(key.to_vec())
    }
}

impl From<Vec<u8>> for AuthKey {
    fn from(key: Vec<u8>) -> AuthKey {
        AuthKey(key)
    }
}

impl From<&str> for AuthKey {
    fn from(key: &str) -> AuthKey {
        AuthKey(key.as_bytes().to_vec())
    }
}

impl From<String> for AuthKey {
    fn from(key: String) -> AuthKey {
        AuthKey(key.into_bytes())
    }
}

impl From<&AuthKey> for AuthKey {
    fn from(key: &AuthKey) -> AuthKey {
        key.clone()
    }
}
