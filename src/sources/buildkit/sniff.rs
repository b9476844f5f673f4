//! Keeps the first bytes a peer sends, so that a failed connection can say what the
//! peer is when it is not an HTTP/2 (gRPC) server: an HTTP/1 server, say, whose answer
//! h2 gives up on with nothing more than "connection closed".

use std::io;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

/// Enough for an HTTP/2 frame header, an HTTP/1 status line, or the error Docker
/// writes when an exec cannot start.
pub(crate) const KEEP: usize = 512;
const FRAME_HEADER: usize = 9;
const SETTINGS: u8 = 0x04;

/// The first bytes read on the current connection, shared with whoever explains.
#[derive(Clone, Debug, Default)]
pub(crate) struct FirstBytes(Arc<Mutex<Vec<u8>>>);

impl FirstBytes {
    pub(crate) fn clear(&self) {
        self.0.lock().unwrap_or_else(|p| p.into_inner()).clear();
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.0.lock().unwrap_or_else(|p| p.into_inner()).is_empty()
    }

    fn push(&self, bytes: &[u8]) {
        let mut kept = self.0.lock().unwrap_or_else(|p| p.into_inner());
        let room = KEEP.saturating_sub(kept.len());
        kept.extend_from_slice(&bytes[..bytes.len().min(room)]);
    }

    /// What the peer said, when enough of it shows it is not HTTP/2.
    pub(crate) fn not_http2(&self) -> Option<String> {
        let kept = self.0.lock().unwrap_or_else(|p| p.into_inner());
        not_http2(&kept)
    }
}

/// An HTTP/2 server starts with a SETTINGS frame on stream 0; anything else that is
/// long enough to tell is described by its first line.
pub(crate) fn not_http2(first: &[u8]) -> Option<String> {
    if first.len() < FRAME_HEADER {
        return None;
    }
    if first[3] == SETTINGS && first[5..FRAME_HEADER] == [0, 0, 0, 0] {
        return None;
    }
    let line = first.split(|&b| b == b'\n').next().unwrap_or(first);
    let line = String::from_utf8_lossy(line);
    Some(format!("{:?}", line.trim_end()))
}

pub(crate) struct Sniff<S> {
    inner: S,
    first: FirstBytes,
    seen: usize,
}

impl<S> Sniff<S> {
    pub(crate) fn new(inner: S, first: FirstBytes) -> Self {
        Self {
            inner,
            first,
            seen: 0,
        }
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for Sniff<S> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let before = buf.filled().len();
        let r = Pin::new(&mut this.inner).poll_read(cx, buf);
        if this.seen < KEEP {
            let new = &buf.filled()[before..];
            this.first.push(new);
            this.seen += new.len();
        }
        r
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for Sniff<S> {
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

    #[test]
    fn http2_settings_pass_and_anything_else_is_described() {
        // dockerd's first frame after the /grpc upgrade.
        assert_eq!(
            not_http2(b"\x00\x00\x1e\x04\x00\x00\x00\x00\x00\x00\x05"),
            None
        );
        assert_eq!(
            not_http2(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n"),
            Some("\"HTTP/1.1 400 Bad Request\"".to_string())
        );
        assert_eq!(not_http2(b"HTTP/1"), None, "too short to tell");
        // Control characters from the peer come out escaped.
        assert_eq!(
            not_http2(b"\x1b[2Jhello world\n"),
            Some("\"\\u{1b}[2Jhello world\"".to_string())
        );
    }

    #[tokio::test]
    async fn sniff_keeps_only_the_first_bytes() {
        let (mut near, far) = tokio::io::duplex(4 * KEEP);
        let first = FirstBytes::default();
        let mut s = Sniff::new(far, first.clone());
        near.write_all(&[b'a'; 2 * KEEP]).await.unwrap();
        drop(near);
        let mut all = Vec::new();
        s.read_to_end(&mut all).await.unwrap();
        assert_eq!(all.len(), 2 * KEEP);
        assert_eq!(first.0.lock().unwrap().len(), KEEP);
    }
}
