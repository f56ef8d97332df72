//! Design note: the frame format of CPython's `multiprocessing.connection`.
//!
//! A message is a length prefix and the bytes: the length as a 4-byte
//! big-endian *signed* integer, or — for messages over `0x7fff_ffff` bytes —
//! the 4 bytes of `-1` followed by the length as an 8-byte big-endian unsigned
//! integer (`Connection._send_bytes` / `_recv_bytes` in CPython 3.8+). Small
//! frames go out in one write, header and payload together, as CPython does to
//! keep Nagle's algorithm from holding the payload back.
//!
//! What CPython leaves open, decided here:
//! - **A size limit.** CPython reads whatever length a peer announces. Here a
//!   prefix over the reader's limit is refused with `Err(FrameTooLarge)`
//!   before anything is allocated, and the payload is not read: the stream is
//!   out of step from then on and its owner must drop it (CPython closes the
//!   connection on a bad length too). Buffers grow as bytes arrive, so a peer
//!   that announces a large frame and sends little costs little.
//! - **Resumable reads.** A read that times out or is interrupted part way
//!   keeps what it has in a [`FrameReader`]; the next read carries on, so the
//!   stream never loses its place. The reader takes bytes in chunks, so a
//!   small frame costs one system call where CPython spends two.
//! - **Writes that cannot be resumed.** A write interrupted after some of the
//!   frame went out would leave the peer waiting for the rest; [`write_frame`]
//!   says whether anything was written ([`WriteFailure::started`]) so the
//!   owner can refuse later writes instead of sending a torn stream.

use crate::error::{Error, Malformed, Result};
use crate::sys::deadline::Deadline;
use crate::sys::stream::Stream;
use std::time::Duration;

/// The default limit on a received frame: 64 MiB.
pub(crate) const DEFAULT_MAX_FRAME: usize = 64 << 20;
/// Frames up to this size are sent with their header in one write.
const GATHER: usize = 16 << 10;
/// How much a frame's buffer grows at a time.
const GROWTH: usize = 1 << 20;

/// The header for a payload of `len` bytes, and how many of its bytes count.
pub(crate) fn header(len: usize) -> ([u8; 12], usize) {
    let mut out = [0u8; 12];
    match i32::try_from(len) {
        Ok(short) => {
            out[..4].copy_from_slice(&short.to_be_bytes());
            (out, 4)
        }
        Err(_) => {
            out[..4].copy_from_slice(&(-1i32).to_be_bytes());
            out[4..].copy_from_slice(&(len as u64).to_be_bytes());
            (out, 12)
        }
    }
}

/// How much a reader takes from the socket at a time.
const CHUNK: usize = 64 << 10;

/// The state of the frames being received; kept between calls.
///
/// Bytes come off the socket in chunks into a buffer, so a small frame —
/// header and payload — costs one system call, not two; a frame larger than
/// the buffer grows its own vector and is read into it directly.
#[derive(Debug, Default)]
pub(crate) struct FrameReader {
    /// Received bytes not consumed yet: `buf[start..end]`.
    buf: Vec<u8>,
    start: usize,
    end: usize,
    /// The current frame's size, once its header is consumed.
    size: Option<usize>,
    /// The current frame's payload so far, when it did not fit the buffer.
    body: Vec<u8>,
}

impl FrameReader {
    fn pending(&self) -> &[u8] {
        &self.buf[self.start..self.end]
    }

    /// The header's length and the size it announces, once all of it is in.
    fn header(&self) -> Result<Option<(usize, u64)>> {
        let pending = self.pending();
        let Some(short) = pending.get(..4) else {
            return Ok(None);
        };
        match i32::from_be_bytes([short[0], short[1], short[2], short[3]]) {
            -1 => Ok(pending.get(4..12).map(|long| {
                let mut bytes = [0u8; 8];
                bytes.copy_from_slice(long);
                (12, u64::from_be_bytes(bytes))
            })),
            n if n < 0 => Err(Error::Malformed(Malformed::NegativeLength(n))),
            n => Ok(Some((4, n as u64))),
        }
    }

    /// Whether received bytes wait here (so a read would not block).
    pub(crate) fn buffered(&self) -> bool {
        self.start < self.end || self.size.is_some()
    }

    /// Takes more bytes from the socket into the buffer; `Ok(false)` at end of file.
    fn fill(&mut self, stream: &Stream, deadline: &Deadline, spin: Duration) -> Result<bool> {
        if self.buf.is_empty() {
            self.buf = vec![0u8; CHUNK];
        }
        if self.start == self.end {
            self.start = 0;
            self.end = 0;
        } else if self.end == self.buf.len() {
            self.buf.copy_within(self.start..self.end, 0);
            self.end -= self.start;
            self.start = 0;
        }
        let n = stream.read_some(&mut self.buf[self.end..], deadline, spin)?;
        self.end += n;
        Ok(n > 0)
    }

    /// Reads one frame of at most `limit` bytes; spins up to `spin` before
    /// each wait. `Err(Eof)` when the stream ends between frames.
    pub(crate) fn read(
        &mut self,
        stream: &Stream,
        limit: usize,
        deadline: &Deadline,
        spin: Duration,
    ) -> Result<Vec<u8>> {
        loop {
            let Some(size) = self.size else {
                match self.header()? {
                    Some((_, announced)) if announced > limit as u64 => {
                        return Err(Error::FrameTooLarge {
                            size: announced,
                            limit,
                        });
                    }
                    Some((header_len, announced)) => {
                        self.start += header_len;
                        self.size = Some(announced as usize);
                    }
                    None => {
                        if !self.fill(stream, deadline, spin)? {
                            return Err(self.eof());
                        }
                    }
                }
                continue;
            };
            let available = self.end - self.start;
            if self.body.is_empty() && available >= size {
                // The common case: the whole frame is in the buffer.
                let frame = self.buf[self.start..self.start + size].to_vec();
                self.start += size;
                self.size = None;
                return Ok(frame);
            }
            let take = available.min(size - self.body.len());
            self.body
                .extend_from_slice(&self.buf[self.start..self.start + take]);
            self.start += take;
            if self.body.len() == size {
                self.size = None;
                return Ok(std::mem::take(&mut self.body));
            }
            if size - self.body.len() < CHUNK {
                if !self.fill(stream, deadline, spin)? {
                    return Err(self.eof());
                }
                continue;
            }
            // A large remainder: straight into the frame's own vector.
            let have = self.body.len();
            self.body.resize((have + GROWTH).min(size), 0);
            let read = stream.read_some(&mut self.body[have..], deadline, spin);
            let n = match read {
                Ok(n) => n,
                Err(error) => {
                    self.body.truncate(have);
                    return Err(error);
                }
            };
            self.body.truncate(have + n);
            if n == 0 {
                return Err(self.eof());
            }
        }
    }

    fn eof(&self) -> Error {
        if self.buffered() {
            Error::Malformed(Malformed::TruncatedFrame)
        } else {
            Error::Eof
        }
    }
}

/// A failed write, and whether part of the frame had gone out.
#[derive(Debug)]
pub(crate) struct WriteFailure {
    pub(crate) error: Error,
    pub(crate) started: bool,
}

/// Writes `payload` as one frame.
pub(crate) fn write_frame(
    stream: &Stream,
    payload: &[u8],
    deadline: &Deadline,
) -> std::result::Result<(), WriteFailure> {
    let (head, head_len) = header(payload.len());
    let mut written = 0usize;
    let mut write_all = |bytes: &[u8]| -> Result<()> {
        let mut at = 0;
        while at < bytes.len() {
            let n = stream.write_some(&bytes[at..], deadline)?;
            at += n;
            written += n;
        }
        Ok(())
    };
    let result = if payload.len() <= GATHER {
        let mut gathered = Vec::with_capacity(head_len + payload.len());
        gathered.extend_from_slice(&head[..head_len]);
        gathered.extend_from_slice(payload);
        write_all(&gathered)
    } else {
        write_all(&head[..head_len]).and_then(|()| write_all(payload))
    };
    result.map_err(|error| WriteFailure {
        error,
        started: written > 0,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use nix::sys::socket::{AddressFamily, SockFlag, SockType, socketpair};

    fn pair() -> (Stream, Stream) {
        let (a, b) = socketpair(
            AddressFamily::Unix,
            SockType::Stream,
            None,
            SockFlag::SOCK_CLOEXEC,
        )
        .expect("socketpair");
        (Stream::new(a), Stream::new(b))
    }

    fn raw_write(stream: &Stream, bytes: &[u8]) {
        let mut at = 0;
        while at < bytes.len() {
            at += stream
                .write_some(&bytes[at..], &Deadline::forever())
                .expect("write");
        }
    }

    #[test]
    fn headers_follow_cpython() {
        // struct.pack("!i", 5) and, past 0x7fffffff, "!i" -1 then "!Q" n.
        assert_eq!(header(5).0[..4], [0, 0, 0, 5]);
        assert_eq!(header(5).1, 4);
        let (long, len) = header(0x8000_0000);
        assert_eq!(len, 12);
        assert_eq!(long, [0xff, 0xff, 0xff, 0xff, 0, 0, 0, 0, 0x80, 0, 0, 0]);
    }

    #[test]
    fn frames_round_trip_and_resume_after_a_timeout() {
        let (a, b) = pair();
        write_frame(&a, b"hello", &Deadline::forever()).expect("write");
        let mut reader = FrameReader::default();
        let deadline = Deadline::forever();
        assert_eq!(
            reader
                .read(&b, 100, &deadline, Duration::ZERO)
                .expect("read"),
            b"hello"
        );
        // Half a frame, then a timeout, then the rest: nothing is lost.
        raw_write(&a, &[0, 0, 0, 3, b'a']);
        let short = Deadline::after(Some(Duration::from_millis(20)));
        assert!(matches!(
            reader.read(&b, 100, &short, Duration::ZERO),
            Err(Error::Timeout)
        ));
        raw_write(&a, b"bc");
        assert_eq!(
            reader
                .read(&b, 100, &deadline, Duration::ZERO)
                .expect("read"),
            b"abc"
        );
    }

    #[test]
    fn frames_that_arrive_together_are_read_one_by_one() {
        let (a, b) = pair();
        let mut both = Vec::new();
        for payload in [&b"first"[..], b"", b"third"] {
            let (head, len) = header(payload.len());
            both.extend_from_slice(&head[..len]);
            both.extend_from_slice(payload);
        }
        raw_write(&a, &both);
        let mut reader = FrameReader::default();
        let deadline = Deadline::forever();
        for expected in [&b"first"[..], b"", b"third"] {
            let got = reader
                .read(&b, 100, &deadline, Duration::ZERO)
                .expect("read");
            assert_eq!(got, expected);
        }
        assert!(!reader.buffered());
    }

    #[test]
    fn oversized_and_negative_prefixes_are_refused() {
        let (a, b) = pair();
        raw_write(&a, &[0x7f, 0xff, 0xff, 0xff]);
        let mut reader = FrameReader::default();
        assert!(matches!(
            reader.read(&b, 1024, &Deadline::forever(), Duration::ZERO),
            Err(Error::FrameTooLarge {
                size: 0x7fff_ffff,
                limit: 1024
            })
        ));
        let (a, b) = pair();
        raw_write(&a, &(-1i32).to_be_bytes());
        raw_write(&a, &u64::MAX.to_be_bytes());
        let mut reader = FrameReader::default();
        assert!(matches!(
            reader.read(&b, 1024, &Deadline::forever(), Duration::ZERO),
            Err(Error::FrameTooLarge { .. })
        ));
        let (a, b) = pair();
        raw_write(&a, &(-7i32).to_be_bytes());
        let mut reader = FrameReader::default();
        assert!(matches!(
            reader.read(&b, 1024, &Deadline::forever(), Duration::ZERO),
            Err(Error::Malformed(Malformed::NegativeLength(-7)))
        ));
    }

    #[test]
    fn a_frame_cut_short_is_malformed_and_a_clean_end_is_eof() {
        let (a, b) = pair();
        raw_write(&a, &[0, 0, 0, 9, 1, 2]);
        drop(a);
        let mut reader = FrameReader::default();
        assert!(matches!(
            reader.read(&b, 100, &Deadline::forever(), Duration::ZERO),
            Err(Error::Malformed(Malformed::TruncatedFrame))
        ));
        let (a, b) = pair();
        drop(a);
        let mut reader = FrameReader::default();
        assert!(matches!(
            reader.read(&b, 100, &Deadline::forever(), Duration::ZERO),
            Err(Error::Eof)
        ));
    }

    #[test]
    fn large_frames_cross_in_pieces() {
        let (a, b) = pair();
        let payload: Vec<u8> = (0..3_000_000u32).map(|n| n as u8).collect();
        let expected = payload.clone();
        let writer = std::thread::spawn(move || {
            write_frame(&a, &payload, &Deadline::forever()).map_err(|f| f.error)
        });
        let mut reader = FrameReader::default();
        let got = reader
            .read(&b, 4 << 20, &Deadline::forever(), Duration::ZERO)
            .expect("read");
        writer.join().expect("thread").expect("write");
        assert_eq!(got, expected);
    }
}
