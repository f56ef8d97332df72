//! Design note: CPython's authkey challenge (`deliver_challenge` and
//! `answer_challenge` in `multiprocessing/connection.py`).
//!
//! The server *delivers* a challenge and then *answers* one; the client does
//! the same in the other order — so each side proves to the other that it
//! holds the key, and neither learns anything it could replay:
//!
//! 1. deliverer → `#CHALLENGE#` + message (random bytes);
//! 2. answerer → HMAC(key, message);
//! 3. deliverer → `#WELCOME#` if the digest matches, else `#FAILURE#` (and it
//!    gives up).
//!
//! Every frame of the exchange is read with a 256-byte limit, as in CPython.
//!
//! Two versions are in use, and both are spoken here:
//! - **CPython ≤ 3.11**: the message is 20 random bytes and the digest a raw
//!   16-byte HMAC-MD5.
//! - **CPython ≥ 3.12**: the message is `{sha256}` + 40 random bytes and the
//!   answer `{sha256}` + HMAC-SHA256 — the MAC covers the whole message,
//!   prefix included, so a peer cannot talk the other side down to a weaker
//!   digest. A message of exactly 20 bytes means a legacy deliverer (answer
//!   with raw MD5); an answer of exactly 16 bytes means a legacy answerer
//!   (check it as MD5 over the whole message).
//!
//! We deliver the 3.12 form, which a 3.11 peer answers with MD5 (accepted, as
//! 3.12 does), and answer either form. Digests implemented: md5, sha256 and
//! sha384; CPython also allows sha3_256/sha3_384, which no CPython sends by
//! default — a peer naming them gets `UnsupportedDigest`. Digests are compared
//! in constant time.

use crate::error::{AuthFailure, Error, Result};
use crate::sys::authkey::fill_random;
use hmac::{Hmac, KeyInit, Mac};

const CHALLENGE: &[u8] = b"#CHALLENGE#";
const WELCOME: &[u8] = b"#WELCOME#";
const FAILURE: &[u8] = b"#FAILURE#";
/// Random bytes in a challenge we deliver (CPython 3.12's `MESSAGE_LENGTH`).
const MESSAGE_LENGTH: usize = 40;
/// A legacy (≤ 3.11) challenge's length, and a raw HMAC-MD5's.
const LEGACY_MESSAGE: usize = 20;
const MD5_LEN: usize = 16;
/// The most any frame of the handshake may hold.
pub(crate) const HANDSHAKE_LIMIT: usize = 256;

/// What the handshake needs from a connection: whole frames in and out.
pub(crate) trait Frames {
    /// Sends one frame.
    fn send_frame(&mut self, bytes: &[u8]) -> Result<()>;
    /// Receives one frame of at most `limit` bytes.
    fn recv_frame(&mut self, limit: usize) -> Result<Vec<u8>>;
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Digest {
    Md5,
    Sha256,
    Sha384,
}

impl Digest {
    fn name(self) -> &'static str {
        match self {
            Digest::Md5 => "md5",
            Digest::Sha256 => "sha256",
            Digest::Sha384 => "sha384",
        }
    }

    fn mac(self, key: &[u8], message: &[u8]) -> Vec<u8> {
        fn run<M: Mac + KeyInit>(key: &[u8], message: &[u8]) -> Vec<u8> {
            // HMAC takes keys of any length; this cannot fail.
            match <M as KeyInit>::new_from_slice(key) {
                Ok(mut mac) => {
                    mac.update(message);
                    mac.finalize().into_bytes().to_vec()
                }
                Err(_) => Vec::new(),
            }
        }
        match self {
            Digest::Md5 => run::<Hmac<md5::Md5>>(key, message),
            Digest::Sha256 => run::<Hmac<sha2::Sha256>>(key, message),
            Digest::Sha384 => run::<Hmac<sha2::Sha384>>(key, message),
        }
    }
}

/// Splits a challenge message or an answer into its digest and payload:
/// `None` for the legacy (prefix-less MD5) form.
fn digest_and_payload(bytes: &[u8]) -> Result<(Option<Digest>, &[u8])> {
    if bytes.len() == LEGACY_MESSAGE || bytes.len() == MD5_LEN {
        return Ok((None, bytes));
    }
    let unsupported = || {
        let shown = String::from_utf8_lossy(&bytes[..bytes.len().min(12)]).into_owned();
        Error::AuthenticationError(AuthFailure::UnsupportedDigest(shown))
    };
    if bytes.first() != Some(&b'{') {
        return Err(unsupported());
    }
    // CPython looks for the brace within the longest name it allows (8).
    let close = bytes
        .iter()
        .take(10)
        .position(|&b| b == b'}')
        .ok_or_else(unsupported)?;
    let digest = match &bytes[1..close] {
        b"md5" => Digest::Md5,
        b"sha256" => Digest::Sha256,
        b"sha384" => Digest::Sha384,
        _ => return Err(unsupported()),
    };
    Ok((Some(digest), &bytes[close + 1..]))
}

/// Constant-time equality.
fn same(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

fn verify(key: &[u8], message: &[u8], response: &[u8]) -> Result<()> {
    let (digest, mac) = digest_and_payload(response)?;
    let expected = digest.unwrap_or(Digest::Md5).mac(key, message);
    if same(&expected, mac) {
        Ok(())
    } else {
        Err(Error::AuthenticationError(AuthFailure::WrongDigest))
    }
}

fn respond(key: &[u8], message: &[u8]) -> Result<Vec<u8>> {
    Ok(match digest_and_payload(message)?.0 {
        None => Digest::Md5.mac(key, message),
        Some(digest) => {
            let mut out = format!("{{{}}}", digest.name()).into_bytes();
            out.extend(digest.mac(key, message));
            out
        }
    })
}

/// Sends a challenge and checks the answer (`deliver_challenge`).
pub(crate) fn deliver(conn: &mut impl Frames, key: &[u8]) -> Result<()> {
    let mut message = b"{sha256}".to_vec();
    let mut random = [0u8; MESSAGE_LENGTH];
    fill_random(&mut random)?;
    message.extend_from_slice(&random);
    conn.send_frame(&[CHALLENGE, &message].concat())?;
    let verdict = match conn.recv_frame(HANDSHAKE_LIMIT) {
        Ok(response) => verify(key, &message, &response),
        // An answer too long to be a digest is a wrong one.
        Err(Error::FrameTooLarge { .. }) => {
            Err(Error::AuthenticationError(AuthFailure::WrongDigest))
        }
        Err(other) => return Err(other),
    };
    match verdict {
        Ok(()) => conn.send_frame(WELCOME),
        Err(error) => {
            // Best effort: the peer may already be gone.
            let _ = conn.send_frame(FAILURE);
            Err(error)
        }
    }
}

/// Answers a challenge (`answer_challenge`).
pub(crate) fn answer(conn: &mut impl Frames, key: &[u8]) -> Result<()> {
    let challenge = match conn.recv_frame(HANDSHAKE_LIMIT) {
        Err(Error::FrameTooLarge { .. }) => {
            return Err(Error::AuthenticationError(AuthFailure::NoChallenge));
        }
        other => other?,
    };
    let message = challenge
        .strip_prefix(CHALLENGE)
        .filter(|message| message.len() >= LEGACY_MESSAGE)
        .ok_or(Error::AuthenticationError(AuthFailure::NoChallenge))?;
    conn.send_frame(&respond(key, message)?)?;
    match conn.recv_frame(HANDSHAKE_LIMIT) {
        Ok(welcome) if welcome == WELCOME => Ok(()),
        Ok(_) | Err(Error::Eof) | Err(Error::FrameTooLarge { .. }) => {
            Err(Error::AuthenticationError(AuthFailure::Rejected))
        }
        Err(other) => Err(other),
    }
}

/// The listening side: challenge the peer, then answer its challenge.
pub(crate) fn server(conn: &mut impl Frames, key: &[u8]) -> Result<()> {
    deliver(conn, key)?;
    answer(conn, key)
}

/// The connecting side: answer the listener's challenge, then challenge it.
pub(crate) fn client(conn: &mut impl Frames, key: &[u8]) -> Result<()> {
    answer(conn, key)?;
    deliver(conn, key)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::VecDeque;

    /// Frames to be received, in order; what was sent is recorded.
    #[derive(Default)]
    struct Scripted {
        incoming: VecDeque<Vec<u8>>,
        sent: Vec<Vec<u8>>,
    }

    impl Frames for Scripted {
        fn send_frame(&mut self, bytes: &[u8]) -> Result<()> {
            self.sent.push(bytes.to_vec());
            Ok(())
        }
        fn recv_frame(&mut self, limit: usize) -> Result<Vec<u8>> {
            let frame = self.incoming.pop_front().ok_or(Error::Eof)?;
            if frame.len() > limit {
                return Err(Error::FrameTooLarge {
                    size: frame.len() as u64,
                    limit,
                });
            }
            Ok(frame)
        }
    }

    /// Two ends wired together on two threads.
    struct Wired {
        tx: std::sync::mpsc::Sender<Vec<u8>>,
        rx: std::sync::mpsc::Receiver<Vec<u8>>,
    }

    impl Frames for Wired {
        fn send_frame(&mut self, bytes: &[u8]) -> Result<()> {
            self.tx.send(bytes.to_vec()).map_err(|_| Error::BrokenPipe)
        }
        fn recv_frame(&mut self, limit: usize) -> Result<Vec<u8>> {
            let frame = self.rx.recv().map_err(|_| Error::Eof)?;
            if frame.len() > limit {
                return Err(Error::FrameTooLarge {
                    size: frame.len() as u64,
                    limit,
                });
            }
            Ok(frame)
        }
    }

    fn wired() -> (Wired, Wired) {
        let (a_tx, b_rx) = std::sync::mpsc::channel();
        let (b_tx, a_rx) = std::sync::mpsc::channel();
        (Wired { tx: a_tx, rx: a_rx }, Wired { tx: b_tx, rx: b_rx })
    }

    fn handshake(server_key: &'static [u8], client_key: &'static [u8]) -> (Result<()>, Result<()>) {
        let (mut s, mut c) = wired();
        let server_side = std::thread::spawn(move || server(&mut s, server_key));
        let client_result = client(&mut c, client_key);
        drop(c);
        (server_side.join().expect("thread"), client_result)
    }

    #[test]
    fn both_sides_prove_the_key() {
        let (s, c) = handshake(b"secret", b"secret");
        assert!(s.is_ok() && c.is_ok(), "{s:?} {c:?}");
    }

    #[test]
    fn a_wrong_key_fails_on_both_sides() {
        let (s, c) = handshake(b"secret", b"guess");
        assert!(matches!(
            s,
            Err(Error::AuthenticationError(AuthFailure::WrongDigest))
        ));
        assert!(matches!(
            c,
            Err(Error::AuthenticationError(AuthFailure::Rejected))
        ));
    }

    #[test]
    fn a_legacy_challenge_is_answered_with_raw_md5() {
        // Python 3.11: hmac.new(b"key", b"A" * 20, "md5").digest()
        let message = [b'A'; 20];
        let mut conn = Scripted::default();
        conn.incoming.push_back([CHALLENGE, &message[..]].concat());
        conn.incoming.push_back(WELCOME.to_vec());
        answer(&mut conn, b"key").expect("answer");
        assert_eq!(conn.sent[0], Digest::Md5.mac(b"key", &message));
        assert_eq!(conn.sent[0].len(), 16);
    }

    #[test]
    fn a_modern_challenge_is_answered_with_its_digest_over_the_whole_message() {
        let message = [b"{sha256}".as_slice(), &[7u8; 40]].concat();
        let mut conn = Scripted::default();
        conn.incoming.push_back([CHALLENGE, &message[..]].concat());
        conn.incoming.push_back(WELCOME.to_vec());
        answer(&mut conn, b"key").expect("answer");
        let expected = [
            b"{sha256}".as_slice(),
            &Digest::Sha256.mac(b"key", &message),
        ]
        .concat();
        assert_eq!(conn.sent[0], expected);
    }

    #[test]
    fn deliver_accepts_a_legacy_md5_answer_and_refuses_garbage() {
        // A 3.11 answerer hashes our whole {sha256}-prefixed message with MD5.
        struct Md5Answerer {
            key: &'static [u8],
            sent: Vec<Vec<u8>>,
            reply: Option<Vec<u8>>,
        }
        impl Frames for Md5Answerer {
            fn send_frame(&mut self, bytes: &[u8]) -> Result<()> {
                if let Some(message) = bytes.strip_prefix(CHALLENGE) {
                    self.reply = Some(Digest::Md5.mac(self.key, message));
                }
                self.sent.push(bytes.to_vec());
                Ok(())
            }
            fn recv_frame(&mut self, _limit: usize) -> Result<Vec<u8>> {
                self.reply.take().ok_or(Error::Eof)
            }
        }
        let mut legacy = Md5Answerer {
            key: b"k",
            sent: Vec::new(),
            reply: None,
        };
        deliver(&mut legacy, b"k").expect("md5 accepted");
        assert_eq!(legacy.sent.last().map(Vec::as_slice), Some(WELCOME));

        // CPython's test_deliver_challenge_auth_failure: a bogus answer.
        let mut bogus = Scripted::default();
        bogus.incoming.push_back(b"something bogus".to_vec());
        assert!(matches!(
            deliver(&mut bogus, b"abc"),
            Err(Error::AuthenticationError(_))
        ));
        assert_eq!(bogus.sent.last().map(Vec::as_slice), Some(FAILURE));
    }

    #[test]
    fn answer_refuses_what_is_no_challenge() {
        // CPython's test_answer_challenge_auth_failure: a bare CHALLENGE, then bogus.
        let mut conn = Scripted::default();
        conn.incoming.push_back(CHALLENGE.to_vec());
        conn.incoming.push_back(b"something bogus".to_vec());
        assert!(matches!(
            answer(&mut conn, b"abc"),
            Err(Error::AuthenticationError(AuthFailure::NoChallenge))
        ));
        let mut conn = Scripted::default();
        conn.incoming
            .push_back([CHALLENGE, b"{sha3_256}", &[1u8; 40]].concat());
        assert!(matches!(
            answer(&mut conn, b"abc"),
            Err(Error::AuthenticationError(AuthFailure::UnsupportedDigest(
                _
            )))
        ));
    }
}
