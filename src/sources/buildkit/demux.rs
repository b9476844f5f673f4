//! A Docker exec without a TTY multiplexes stdout and stderr on the hijacked
//! connection: each frame is an 8-byte header (stream, 3 zero bytes, big-endian
//! length) and its payload. `Demux` hands stdout to the reader (the gRPC connection),
//! keeps the first bytes of stderr for error messages, and passes writes (stdin)
//! straight through.

use std::io;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, ready};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

/// What is kept of the exec's stderr (e.g. "buildctl: not found").
pub(crate) const MAX_STDERR_BYTES: usize = 16 << 10;
const HEADER: usize = 8;
const READ_CHUNK: usize = 64 << 10;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Stream {
    Stdout,
    /// stderr, and the daemon's own "systemerr" frames.
    Stderr,
}

/// The frame parser, fed bytes as they come.
#[derive(Debug, Default)]
pub(crate) struct Frames {
    header: [u8; HEADER],
    have: usize,
    /// Payload bytes left in the current frame, and whose they are.
    left: usize,
    stream: Option<Stream>,
}

impl Frames {
    /// Splits `input` into payload pieces, calling `out` for each. An unknown stream
    /// byte means this is not a multiplexed exec stream.
    pub(crate) fn feed(
        &mut self,
        mut input: &[u8],
        mut out: impl FnMut(Stream, &[u8]),
    ) -> io::Result<()> {
        while !input.is_empty() {
            if self.left == 0 {
                let take = (HEADER - self.have).min(input.len());
                self.header[self.have..self.have + take].copy_from_slice(&input[..take]);
                self.have += take;
                input = &input[take..];
                if self.have < HEADER {
                    break;
                }
                self.have = 0;
                self.stream = Some(match self.header[0] {
                    1 => Stream::Stdout,
                    2 | 3 => Stream::Stderr,
                    b => {
                        return Err(io::Error::new(
                            io::ErrorKind::InvalidData,
                            format!(
                                "the exec stream is not Docker's multiplexed stream (frame of \
                                 stream {b})"
                            ),
                        ));
                    }
                });
                let len = u32::from_be_bytes([
                    self.header[4],
                    self.header[5],
                    self.header[6],
                    self.header[7],
                ]);
                self.left = len as usize;
                continue;
            }
            let take = self.left.min(input.len());
            if let Some(stream) = self.stream {
                out(stream, &input[..take]);
            }
            self.left -= take;
            input = &input[take..];
        }
        Ok(())
    }

    /// True between frames, where a stream may end cleanly.
    pub(crate) fn at_boundary(&self) -> bool {
        self.have == 0 && self.left == 0
    }
}

/// The exec's stderr, shared with whoever explains a failure.
#[derive(Clone, Debug, Default)]
pub(crate) struct Stderr(Arc<Mutex<Vec<u8>>>);

impl Stderr {
    fn push(&self, bytes: &[u8]) {
        let mut kept = self.0.lock().unwrap_or_else(|p| p.into_inner());
        let room = MAX_STDERR_BYTES.saturating_sub(kept.len());
        kept.extend_from_slice(&bytes[..bytes.len().min(room)]);
    }

    /// What stderr held, as text, trimmed.
    pub(crate) fn text(&self) -> String {
        let kept = self.0.lock().unwrap_or_else(|p| p.into_inner());
        String::from_utf8_lossy(&kept).trim().to_string()
    }
}

pub(crate) struct Demux<S> {
    inner: S,
    frames: Frames,
    /// stdout bytes parsed but not yet handed to the reader.
    pending: Vec<u8>,
    offset: usize,
    /// Where raw bytes are read into, allocated once.
    raw: Box<[u8]>,
    stderr: Stderr,
}

impl<S> Demux<S> {
    pub(crate) fn new(inner: S, stderr: Stderr) -> Self {
        Self {
            inner,
            frames: Frames::default(),
            pending: Vec::new(),
            offset: 0,
            raw: vec![0u8; READ_CHUNK].into_boxed_slice(),
            stderr,
        }
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for Demux<S> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        loop {
            if this.offset < this.pending.len() {
                let n = (this.pending.len() - this.offset).min(buf.remaining());
                buf.put_slice(&this.pending[this.offset..this.offset + n]);
                this.offset += n;
                return Poll::Ready(Ok(()));
            }
            this.pending.clear();
            this.offset = 0;
            let mut raw = ReadBuf::new(&mut this.raw);
            ready!(Pin::new(&mut this.inner).poll_read(cx, &mut raw))?;
            let got = raw.filled();
            if got.is_empty() {
                if !this.frames.at_boundary() {
                    return Poll::Ready(Err(io::Error::new(
                        io::ErrorKind::UnexpectedEof,
                        "the exec stream ended in the middle of a frame",
                    )));
                }
                return Poll::Ready(Ok(()));
            }
            let (pending, stderr) = (&mut this.pending, &this.stderr);
            this.frames.feed(got, |stream, bytes| match stream {
                Stream::Stdout => pending.extend_from_slice(bytes),
                Stream::Stderr => stderr.push(bytes),
            })?;
        }
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for Demux<S> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().inner).poll_write(cx, buf)
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    fn frame(stream: u8, payload: &[u8]) -> Vec<u8> {
        let mut f = vec![stream, 0, 0, 0];
        f.extend_from_slice(&(payload.len() as u32).to_be_bytes());
        f.extend_from_slice(payload);
        f
    }

    fn split(input: &[u8], piece: usize) -> (Vec<u8>, Vec<u8>, io::Result<()>) {
        let (mut out, mut err) = (Vec::new(), Vec::new());
        let mut frames = Frames::default();
        for chunk in input.chunks(piece) {
            let r = frames.feed(chunk, |s, b| match s {
                Stream::Stdout => out.extend_from_slice(b),
                Stream::Stderr => err.extend_from_slice(b),
            });
            if r.is_err() {
                return (out, err, r);
            }
        }
        (out, err, Ok(()))
    }

    #[test]
    fn frames_split_at_any_boundary() {
        let mut input = frame(1, b"PRI * HTTP/2.0");
        input.extend(frame(2, b"warning"));
        input.extend(frame(1, b""));
        input.extend(frame(1, &[7u8; 3000]));
        input.extend(frame(3, b"system"));
        for piece in [1, 3, 7, 8, 9, 100, 10_000] {
            let (out, err, r) = split(&input, piece);
            r.unwrap();
            let mut want = b"PRI * HTTP/2.0".to_vec();
            want.extend([7u8; 3000]);
            assert_eq!(out, want, "piece {piece}");
            assert_eq!(err, b"warningsystem", "piece {piece}");
        }
    }

    #[test]
    fn a_raw_stream_is_refused() {
        // What a plain HTTP/2 peer (or an exec with a TTY) would send: stream 0 is
        // stdin, which the daemon never sends back.
        let (_, _, r) = split(b"\x00\x00\x12\x04\x00\x00\x00\x00\x00", 64);
        assert!(r.unwrap_err().to_string().contains("stream 0"));
        let (_, _, r) = split(b"HTTP/1.1 400 Bad Request\r\n", 64);
        let e = r.unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::InvalidData);
        assert!(e.to_string().contains("stream 72"), "{e}");
    }

    #[test]
    fn stderr_is_kept_up_to_its_bound() {
        let s = Stderr::default();
        s.push(b"  buildctl: not found\n");
        assert_eq!(s.text(), "buildctl: not found");
        s.push(&vec![b'x'; MAX_STDERR_BYTES * 2]);
        assert_eq!(s.0.lock().unwrap().len(), MAX_STDERR_BYTES);
    }

    #[tokio::test]
    async fn demux_reads_stdout_and_writes_through() {
        let (mut near, far) = tokio::io::duplex(64);
        let stderr = Stderr::default();
        let mut demux = Demux::new(far, stderr.clone());
        let writer = tokio::spawn(async move {
            let mut all = frame(1, b"hello ");
            all.extend(frame(2, b"oops"));
            all.extend(frame(1, &[b'z'; 500]));
            near.write_all(&all).await.unwrap();
            let mut got = [0u8; 5];
            near.read_exact(&mut got).await.unwrap();
            assert_eq!(&got, b"stdin");
            drop(near);
        });
        demux.write_all(b"stdin").await.unwrap();
        let mut out = Vec::new();
        demux.read_to_end(&mut out).await.unwrap();
        writer.await.unwrap();
        assert_eq!(&out[..6], b"hello ");
        assert_eq!(out.len(), 506);
        assert_eq!(stderr.text(), "oops");
    }

    #[tokio::test]
    async fn a_stream_cut_inside_a_frame_is_an_error() {
        let (mut near, far) = tokio::io::duplex(64);
        let mut demux = Demux::new(far, Stderr::default());
        let mut cut = frame(1, b"0123456789");
        cut.truncate(12);
        near.write_all(&cut).await.unwrap();
        drop(near);
        let mut out = Vec::new();
        let e = demux.read_to_end(&mut out).await.unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::UnexpectedEof);
        assert_eq!(out, b"0123");
    }
}
