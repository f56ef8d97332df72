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
//!   stream never loses its place.
//! - **Writes that cannot be resumed.** A write interrupted after some of the
//!   frame went out would leave the peer waiting for the rest; [`write_frame`]
//!   says whether anything was written ([`WriteFailure::started`]) so the
//!   owner can refuse later writes instead of sending a torn stream.

use crate::interrupt::Deadline;
use crate::multiprocessing::{Error, Malformed, Result};
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

/// The state of a frame being received; kept between calls.
#[derive(Debug, Default)]
pub(crate) struct FrameReader {
    header: [u8; 12],
    /// Header bytes received so far.
    have_header: usize,
    /// The payload's size, once the header is complete.
    size: Option<usize>,
    body: Vec<u8>,
    have_body: usize,
}

impl FrameReader {
    /// How many header bytes are needed in all, given those received.
    fn header_len(&self) -> Result<usize> {
        if self.have_header < 4 {
            return Ok(4);
        }
        let short = i32::from_be_bytes([
            self.header[0],
            self.header[1],
            self.header[2],
            self.header[3],
        ]);
        match short {
            -1 => Ok(12),
            n if n < 0 => Err(Error::Malformed(Malformed::NegativeLength(n))),
            _ => Ok(4),
        }
    }

    fn announced(&self) -> u64 {
        if self.have_header == 12 {
            let mut long = [0u8; 8];
            long.copy_from_slice(&self.header[4..]);
            u64::from_be_bytes(long)
        } else {
            i32::from_be_bytes([
                self.header[0],
                self.header[1],
                self.header[2],
                self.header[3],
            ]) as u64
        }
    }

    /// Whether part of a frame has been received.
    pub(crate) fn in_frame(&self) -> bool {
        self.have_header > 0
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
            let size = match self.size {
                Some(size) => size,
                None => {
                    let needed = self.header_len()?;
                    if self.have_header < needed {
                        let range = self.have_header..needed;
                        let n = stream.read_some(&mut self.header[range], deadline, spin)?;
                        if n == 0 {
                            return Err(self.eof());
                        }
                        self.have_header += n;
                        continue;
                    }
                    let announced = self.announced();
                    if announced > limit as u64 {
                        return Err(Error::FrameTooLarge {
                            size: announced,
                            limit,
                        });
                    }
                    self.size = Some(announced as usize);
                    announced as usize
                }
            };
            if self.have_body == size {
                let body = std::mem::take(&mut self.body);
                *self = FrameReader::default();
                return Ok(body);
            }
            if self.body.len() == self.have_body {
                let grown = (self.have_body + GROWTH).min(size);
                self.body.resize(grown, 0);
            }
            let n = stream.read_some(&mut self.body[self.have_body..], deadline, spin)?;
            if n == 0 {
                return Err(self.eof());
            }
            self.have_body += n;
        }
    }

    fn eof(&self) -> Error {
        if self.in_frame() {
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
