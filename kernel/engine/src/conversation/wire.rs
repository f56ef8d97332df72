//! Frames on a Unix stream socket: a 4-byte big-endian length, then that many
//! bytes of JSON. A frame may carry one file descriptor (`SCM_RIGHTS`), which
//! travels with its first byte.
//!
//! Readers never read past the frame they are after, so a descriptor sent with
//! the next frame is received by the call that reads that frame.

use nix::sys::socket::{ControlMessage, ControlMessageOwned, MsgFlags, recvmsg, sendmsg};
use serde::Serialize;
use serde::de::DeserializeOwned;
use std::io::{IoSlice, IoSliceMut, Read, Write};
use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd, OwnedFd};
use std::os::unix::net::UnixStream;
use thiserror::Error;

/// The largest frame accepted: cells may print a lot, but not this much at once.
pub const MAX_FRAME: u32 = 1 << 30;

/// Why a frame could not be sent or received.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum WireError {
    /// The socket failed.
    #[error("socket error: {0}")]
    Io(#[from] std::io::Error),
    /// The peer announced a frame over [`MAX_FRAME`].
    #[error("a frame of {0} bytes is over the limit")]
    TooLarge(u32),
    /// The frame is not a message of the expected type.
    #[error("malformed message: {0}")]
    Decode(#[from] serde_json::Error),
    /// The peer closed the socket in the middle of a frame.
    #[error("the peer closed the connection mid-frame")]
    Truncated,
}

fn encode<T: Serialize>(message: &T) -> Result<Vec<u8>, WireError> {
    let body = serde_json::to_vec(message)?;
    let length = u32::try_from(body.len()).unwrap_or(u32::MAX);
    if length > MAX_FRAME {
        return Err(WireError::TooLarge(length));
    }
    let mut frame = Vec::with_capacity(4 + body.len());
    frame.extend_from_slice(&length.to_be_bytes());
    frame.extend_from_slice(&body);
    Ok(frame)
}

/// Sends one message.
pub fn send<T: Serialize>(mut stream: &UnixStream, message: &T) -> Result<(), WireError> {
    let frame = encode(message)?;
    stream.write_all(&frame)?;
    Ok(())
}

/// Sends one message with a file descriptor attached.
pub fn send_with_fd<T: Serialize>(
    stream: &UnixStream,
    message: &T,
    fd: BorrowedFd<'_>,
) -> Result<(), WireError> {
    let frame = encode(message)?;
    let fds = [fd.as_raw_fd()];
    let control = [ControlMessage::ScmRights(&fds)];
    let sent = sendmsg::<()>(
        stream.as_raw_fd(),
        &[IoSlice::new(&frame)],
        &control,
        MsgFlags::MSG_NOSIGNAL,
        None,
    )
    .map_err(std::io::Error::from)?;
    // The descriptor went with the first bytes; the rest is plain data.
    let mut stream = stream;
    stream.write_all(&frame[sent..])?;
    Ok(())
}

/// Receives one message; `None` when the peer closed the socket between frames.
pub fn recv<T: DeserializeOwned>(stream: &UnixStream) -> Result<Option<T>, WireError> {
    let mut length = [0u8; 4];
    if !read_exact_or_eof(stream, &mut length)? {
        return Ok(None);
    }
    read_body(stream, u32::from_be_bytes(length)).map(Some)
}

/// Receives one message and the descriptor sent with it, if any.
pub fn recv_with_fd<T: DeserializeOwned>(
    stream: &UnixStream,
) -> Result<Option<(T, Option<OwnedFd>)>, WireError> {
    let mut length = [0u8; 4];
    let mut space = nix::cmsg_space!([std::os::fd::RawFd; 1]);
    let (read, fd) = loop {
        let mut iov = [IoSliceMut::new(&mut length)];
        match recvmsg::<()>(
            stream.as_raw_fd(),
            &mut iov,
            Some(&mut space),
            MsgFlags::MSG_CMSG_CLOEXEC,
        ) {
            Ok(received) => {
                let mut fd = None;
                for message in received.cmsgs().map_err(std::io::Error::from)? {
                    if let ControlMessageOwned::ScmRights(fds) = message {
                        for raw in fds {
                            // SAFETY: the kernel just installed `raw` in this
                            // process for us; nothing else owns it.
                            let owned = unsafe { OwnedFd::from_raw_fd(raw) };
                            if fd.is_none() {
                                fd = Some(owned);
                            }
                        }
                    }
                }
                break (received.bytes, fd);
            }
            Err(nix::errno::Errno::EINTR) => continue,
            Err(error) => return Err(WireError::Io(error.into())),
        }
    };
    if read == 0 {
        return Ok(None);
    }
    if read < length.len() {
        let mut stream = stream;
        stream
            .read_exact(&mut length[read..])
            .map_err(|_| WireError::Truncated)?;
    }
    let message = read_body(stream, u32::from_be_bytes(length))?;
    Ok(Some((message, fd)))
}

fn read_body<T: DeserializeOwned>(mut stream: &UnixStream, length: u32) -> Result<T, WireError> {
    if length > MAX_FRAME {
        return Err(WireError::TooLarge(length));
    }
    let mut body = vec![0u8; length as usize];
    stream
        .read_exact(&mut body)
        .map_err(|error| match error.kind() {
            std::io::ErrorKind::UnexpectedEof => WireError::Truncated,
            _ => WireError::Io(error),
        })?;
    Ok(serde_json::from_slice(&body)?)
}

/// Fills `buffer`; false if the stream ended before its first byte.
fn read_exact_or_eof(mut stream: &UnixStream, buffer: &mut [u8]) -> Result<bool, WireError> {
    let mut filled = 0;
    while filled < buffer.len() {
        match stream.read(&mut buffer[filled..]) {
            Ok(0) if filled == 0 => return Ok(false),
            Ok(0) => return Err(WireError::Truncated),
            Ok(n) => filled += n,
            Err(error) if error.kind() == std::io::ErrorKind::Interrupted => {}
            Err(error) => return Err(WireError::Io(error)),
        }
    }
    Ok(true)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_round_trip_and_end_cleanly() {
        let (a, b) = UnixStream::pair().expect("pair");
        send(&a, &vec!["one", "two"]).expect("send");
        send(&a, &42u32).expect("send");
        drop(a);
        assert_eq!(
            recv::<Vec<String>>(&b).expect("recv"),
            Some(vec!["one".into(), "two".into()])
        );
        assert_eq!(recv::<u32>(&b).expect("recv"), Some(42));
        assert_eq!(recv::<u32>(&b).expect("eof"), None);
    }

    #[test]
    fn a_descriptor_travels_with_its_frame_only() {
        let (a, b) = UnixStream::pair().expect("pair");
        let (passed, mut far_end) = UnixStream::pair().expect("pair");
        send(&a, &"before").expect("send");
        send_with_fd(&a, &"with", std::os::fd::AsFd::as_fd(&passed)).expect("send");
        drop(passed);
        let (first, none) = recv_with_fd::<String>(&b).expect("recv").expect("frame");
        assert_eq!((first.as_str(), none.is_none()), ("before", true));
        let (second, fd) = recv_with_fd::<String>(&b).expect("recv").expect("frame");
        assert_eq!(second, "with");
        let mut received = UnixStream::from(fd.expect("a descriptor"));
        received.write_all(b"hi").expect("write");
        let mut buffer = [0u8; 2];
        far_end.read_exact(&mut buffer).expect("read");
        assert_eq!(&buffer, b"hi");
    }

    #[test]
    fn oversized_and_truncated_frames_are_errors() {
        let (mut a, b) = UnixStream::pair().expect("pair");
        a.write_all(&(MAX_FRAME + 1).to_be_bytes()).expect("write");
        assert!(matches!(recv::<u32>(&b), Err(WireError::TooLarge(_))));
        let (mut a, b) = UnixStream::pair().expect("pair");
        a.write_all(&10u32.to_be_bytes()).expect("write");
        a.write_all(b"{").expect("write");
        drop(a);
        assert!(matches!(recv::<u32>(&b), Err(WireError::Truncated)));
    }
}
