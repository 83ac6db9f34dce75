//! The byte streams between the client and tower-lsp-server, made to survive malformed input.
//!
//! tower-lsp-server 0.23 reads stdin through tokio-util's `FramedRead`, which ends its stream
//! after the first frame its codec cannot decode; tower-lsp-server's read loop then stops, and
//! the server exits. One bad frame from a client — invalid JSON, a body that is not UTF-8, a
//! message that is not JSON-RPC 2.0, a header without `Content-Length` or with a lowercase name —
//! would end the session and lose the user's unsaved context with it.
//!
//! So stdin is framed here first, on a thread of its own: every frame that tower-lsp-server will
//! decode goes on to it with a canonical header; anything else is answered here with the error
//! JSON-RPC 2.0 prescribes (Parse error, or Invalid Request with the message's id when it has
//! one) and skipped, and reading resumes at the next `Content-Length` header. Output goes
//! through a channel in whole frames, so those answers never land inside a frame the server is
//! writing. A plain thread (not tokio's stdin) also means a read blocked on a client that
//! keeps stdin open never holds up the runtime's shutdown after `exit`.

use std::io::{Read, Write};
use std::pin::Pin;
use std::task::{Context, Poll};

use serde_json::Value;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::sync::mpsc;
use tower_lsp_server::jsonrpc::{Error, ErrorCode, Id, Request, Response};

/// A header block longer than this is garbage.
const MAX_HEADER: usize = 64 << 10;
/// A larger `Content-Length` is refused at once rather than buffered for.
const MAX_MESSAGE: usize = 1 << 30;
const CONTENT_LENGTH: &[u8] = b"content-length";

/// What [`Deframer`] found next in the input.
#[derive(Debug, PartialEq)]
pub enum Frame {
    /// The body of a message tower-lsp-server will decode.
    Message(Vec<u8>),
    /// Input that is not such a message: the error to answer with, and the id to answer to.
    Invalid { id: Id, error: Error },
}

/// Cuts a byte stream into LSP frames (`Content-Length: N\r\n\r\n` and N bytes of body).
#[derive(Default)]
pub struct Deframer {
    buf: Vec<u8>,
    /// The header has been read: the body starts at this offset of `buf` and has this length.
    body: Option<(usize, usize)>,
    /// After garbage: drop input up to the next `Content-Length` header.
    resyncing: bool,
}

impl Deframer {
    pub fn push(&mut self, bytes: &[u8]) {
        self.buf.extend_from_slice(bytes);
    }

    /// The next complete frame, or `None` until more input arrives.
    pub fn next_frame(&mut self) -> Option<Frame> {
        if self.resyncing {
            match find_content_length(&self.buf) {
                Some(at) => {
                    self.buf.drain(..at);
                    self.resyncing = false;
                }
                None => {
                    // Keep what could be the start of a header split across reads.
                    let keep = CONTENT_LENGTH.len() - 1;
                    if self.buf.len() > keep {
                        self.buf.drain(..self.buf.len() - keep);
                    }
                    return None;
                }
            }
        }
        if let Some((start, len)) = self.body {
            if self.buf.len() < start + len {
                return None;
            }
            let body = self.buf[start..start + len].to_vec();
            self.buf.drain(..start + len);
            self.body = None;
            return Some(check_body(body));
        }
        let scan = &self.buf[..self.buf.len().min(MAX_HEADER)];
        let Some(end) = scan.windows(4).position(|w| w == b"\r\n\r\n") else {
            if self.buf.len() < MAX_HEADER {
                return None;
            }
            return Some(self.garbage("no end of the header block within 64 KiB".into()));
        };
        match parse_header(&self.buf[..end]) {
            Ok(len) if len <= MAX_MESSAGE => {
                self.body = Some((end + 4, len));
                self.next_frame()
            }
            Ok(len) => Some(self.garbage(format!("Content-Length {len} is over the limit of {MAX_MESSAGE} bytes"))),
            Err(why) => Some(self.garbage(why)),
        }
    }

    /// Answers a malformed header and skips to where the next message may begin.
    fn garbage(&mut self, why: String) -> Frame {
        self.buf.drain(..1);
        self.resyncing = true;
        Frame::Invalid { id: Id::Null, error: error(ErrorCode::ParseError, format!("malformed message header: {why}")) }
    }
}

/// The offset of the next `Content-Length` (any case), where a message may begin.
fn find_content_length(buf: &[u8]) -> Option<usize> {
    buf.windows(CONTENT_LENGTH.len()).position(|w| w.eq_ignore_ascii_case(CONTENT_LENGTH))
}

fn error(code: ErrorCode, message: String) -> Error {
    Error { code, message: message.into(), data: None }
}

/// The body length a header block declares. Header names are case-insensitive (LSP's headers
/// are HTTP's); `Content-Type` is not checked, since the body must be UTF-8 JSON whatever it
/// says; blank lines before the header are tolerated.
fn parse_header(block: &[u8]) -> Result<usize, String> {
    let text = std::str::from_utf8(block).map_err(|_| "the header is not ASCII".to_string())?;
    let mut length = None;
    for (i, line) in text.split("\r\n").filter(|l| !l.is_empty()).enumerate() {
        let (name, value) =
            line.split_once(':').ok_or_else(|| format!("header line {} ({} bytes) is not `Name: value`", i + 1, line.len()))?;
        if name.trim().eq_ignore_ascii_case("content-length") {
            length = Some(value.trim().parse::<usize>().map_err(|e| format!("Content-Length is not a byte count: {e}"))?);
        }
    }
    length.ok_or_else(|| "no Content-Length header".to_string())
}

/// A body tower-lsp-server will decode, or the error to answer it with.
fn check_body(body: Vec<u8>) -> Frame {
    let text = match std::str::from_utf8(&body) {
        Ok(text) => text,
        Err(e) => return Frame::Invalid { id: Id::Null, error: error(ErrorCode::ParseError, format!("the message is not UTF-8: {e}")) },
    };
    // tower-lsp-server decodes a message as a response or else a request (an untagged enum of
    // its public `Response` and `Request`): accept exactly what it accepts.
    if serde_json::from_str::<Request>(text).is_ok() || serde_json::from_str::<Response>(text).is_ok() {
        return Frame::Message(body);
    }
    match serde_json::from_str::<Value>(text) {
        Err(e) => Frame::Invalid { id: Id::Null, error: error(ErrorCode::ParseError, format!("the message is not valid JSON: {e}")) },
        Ok(value) => {
            let id = value.get("id").and_then(|id| serde_json::from_value::<Id>(id.clone()).ok()).unwrap_or(Id::Null);
            let message = "not a JSON-RPC 2.0 message: it needs `\"jsonrpc\": \"2.0\"`, a string `method` (or a `result` or `error`) and a number or string `id`";
            Frame::Invalid { id, error: error(ErrorCode::InvalidRequest, message.into()) }
        }
    }
}

fn encode(response: &Response) -> Vec<u8> {
    let body = serde_json::to_string(response).expect("a response serialises");
    format!("Content-Length: {}\r\n\r\n{body}", body.len()).into_bytes()
}

/// Reads stdin until it closes, passing good frames to the server and answering bad ones.
fn read_stdin(to_server: mpsc::Sender<Vec<u8>>, replies: mpsc::WeakUnboundedSender<Vec<u8>>) {
    let mut stdin = std::io::stdin().lock();
    let mut deframer = Deframer::default();
    let mut chunk = vec![0u8; 64 << 10];
    loop {
        let n = match stdin.read(&mut chunk) {
            Ok(0) => return,
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => {
                tracing::error!("cannot read stdin: {e}");
                return;
            }
        };
        deframer.push(&chunk[..n]);
        while let Some(frame) = deframer.next_frame() {
            match frame {
                Frame::Message(body) => {
                    let header = format!("Content-Length: {}\r\n\r\n", body.len()).into_bytes();
                    if to_server.blocking_send(header).is_err() || to_server.blocking_send(body).is_err() {
                        return; // The server has stopped.
                    }
                }
                Frame::Invalid { id, error } => {
                    tracing::warn!("invalid message from the client: {}", error.message);
                    let Some(out) = replies.upgrade() else { return };
                    let _ = out.send(encode(&Response::from_error(id, error)));
                }
            }
        }
    }
}

/// The server's input: the frames the stdin thread passed on; end of input when it stops.
pub struct ChannelReader {
    rx: mpsc::Receiver<Vec<u8>>,
    chunk: Vec<u8>,
    pos: usize,
}

impl AsyncRead for ChannelReader {
    fn poll_read(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<std::io::Result<()>> {
        let this = &mut *self;
        while this.pos == this.chunk.len() {
            match this.rx.poll_recv(cx) {
                Poll::Ready(Some(chunk)) => (this.chunk, this.pos) = (chunk, 0),
                Poll::Ready(None) => return Poll::Ready(Ok(())),
                Poll::Pending => return Poll::Pending,
            }
        }
        let n = buf.remaining().min(this.chunk.len() - this.pos);
        buf.put_slice(&this.chunk[this.pos..this.pos + n]);
        this.pos += n;
        Poll::Ready(Ok(()))
    }
}

/// The server's output. tower-lsp-server writes whole frames and then flushes, so what has
/// been written by a flush is whole frames; they go to stdout as one piece.
pub struct ChannelWriter {
    buf: Vec<u8>,
    tx: mpsc::UnboundedSender<Vec<u8>>,
}

impl AsyncWrite for ChannelWriter {
    fn poll_write(mut self: Pin<&mut Self>, _: &mut Context<'_>, bytes: &[u8]) -> Poll<std::io::Result<usize>> {
        self.buf.extend_from_slice(bytes);
        Poll::Ready(Ok(bytes.len()))
    }

    fn poll_flush(mut self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        if !self.buf.is_empty() {
            let frames = std::mem::take(&mut self.buf);
            if self.tx.send(frames).is_err() {
                return Poll::Ready(Err(std::io::ErrorKind::BrokenPipe.into()));
            }
        }
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        self.poll_flush(cx)
    }
}

/// Starts the stdin thread and the stdout writer. The writer's task ends once the returned
/// `ChannelWriter` is dropped (with the server) and everything it sent has been written.
pub fn stdio() -> (ChannelReader, ChannelWriter, tokio::task::JoinHandle<()>) {
    let (in_tx, in_rx) = mpsc::channel(16);
    let (out_tx, mut out_rx) = mpsc::unbounded_channel::<Vec<u8>>();
    let replies = out_tx.downgrade();
    std::thread::Builder::new().name("anneal-stdin".into()).spawn(move || read_stdin(in_tx, replies)).expect("spawn the stdin thread");
    let writer = tokio::task::spawn_blocking(move || {
        let mut stdout = std::io::stdout().lock();
        while let Some(frames) = out_rx.blocking_recv() {
            if let Err(e) = stdout.write_all(&frames).and_then(|()| stdout.flush()) {
                tracing::error!("cannot write to stdout: {e}");
                return;
            }
        }
    });
    (ChannelReader { rx: in_rx, chunk: vec![], pos: 0 }, ChannelWriter { buf: vec![], tx: out_tx }, writer)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn framed(body: &str) -> Vec<u8> {
        format!("Content-Length: {}\r\n\r\n{body}", body.len()).into_bytes()
    }

    fn frames(input: &[u8]) -> Vec<Frame> {
        let mut d = Deframer::default();
        d.push(input);
        std::iter::from_fn(|| d.next_frame()).collect()
    }

    fn code(f: &Frame) -> Option<(i64, Id)> {
        match f {
            Frame::Invalid { id, error } => Some((error.code.code(), id.clone())),
            Frame::Message(_) => None,
        }
    }

    const GOOD: &str = r#"{"jsonrpc":"2.0","id":1,"method":"shutdown"}"#;

    #[test]
    fn good_frames_pass_whole_in_any_chunking() {
        let mut input = framed(GOOD);
        input.extend(framed(r#"{"jsonrpc":"2.0","method":"initialized","params":{}}"#));
        input.extend(framed(r#"{"jsonrpc":"2.0","id":0,"result":null}"#));
        let all = frames(&input);
        assert_eq!(all.len(), 3);
        assert_eq!(all[0], Frame::Message(GOOD.as_bytes().to_vec()));
        let mut d = Deframer::default();
        let mut out = vec![];
        for b in &input {
            d.push(&[*b]);
            out.extend(std::iter::from_fn(|| d.next_frame()));
        }
        assert_eq!(out, all);
    }

    #[test]
    fn headers_are_case_insensitive_and_other_headers_ignored() {
        let input = format!("\r\ncontent-length: {}\r\nContent-Type: application/vscode-jsonrpc; charset=utf8\r\n\r\n{GOOD}", GOOD.len());
        assert_eq!(frames(input.as_bytes()), vec![Frame::Message(GOOD.as_bytes().to_vec())]);
    }

    #[test]
    fn bad_bodies_are_answered_and_the_next_frame_still_passes() {
        for (body, expected) in [
            (&b"{\"jsonrpc\":"[..], (-32700, Id::Null)),
            (b"{\"jsonrpc\":\"2.0\",\"method\":\"x\",\"params\":\"\xff\"}", (-32700, Id::Null)),
            (b"", (-32700, Id::Null)),
            (b"[1]", (-32600, Id::Null)),
            (br#"{"jsonrpc":"1.0","id":7,"method":"x"}"#, (-32600, Id::Number(7))),
            (br#"{"id":"a","method":"x"}"#, (-32600, Id::String("a".into()))),
        ] {
            let mut input = format!("Content-Length: {}\r\n\r\n", body.len()).into_bytes();
            input.extend_from_slice(body);
            input.extend(framed(GOOD));
            let all = frames(&input);
            assert_eq!(all.len(), 2, "{:?}", String::from_utf8_lossy(body));
            assert_eq!(code(&all[0]), Some(expected), "{:?}", String::from_utf8_lossy(body));
            assert!(matches!(all[1], Frame::Message(_)));
        }
    }

    #[test]
    fn bad_headers_are_answered_once_and_reading_resumes_at_the_next_header() {
        for garbage in [
            &b"Content-Type: x\r\n\r\n{\"jsonrpc\":\"2.0\"}"[..],
            b"Content-Length: twelve\r\n\r\n{}",
            b"Content-Length: 99999999999999999999999\r\n\r\n",
            b"Content-Length: 4000000000000\r\n\r\n",
            b"hello\r\n",
            b"\xff\xfe\r\n\r\n",
        ] {
            let mut input = garbage.to_vec();
            input.extend(framed(GOOD));
            let all = frames(&input);
            assert_eq!(all.len(), 2, "{:?}: {all:?}", String::from_utf8_lossy(garbage));
            assert_eq!(code(&all[0]), Some((-32700, Id::Null)));
            assert_eq!(all[1], Frame::Message(GOOD.as_bytes().to_vec()));
        }
        // A header with no end: garbage once 64 KiB have come.
        let all = frames(&vec![b'x'; MAX_HEADER + 1]);
        assert_eq!(all.len(), 1);
        assert_eq!(code(&all[0]), Some((-32700, Id::Null)));
    }

    #[test]
    fn a_header_split_across_reads_after_garbage_is_found() {
        let mut d = Deframer::default();
        let input = [&b"Content-Length: x\r\n\r\njunk"[..], &framed(GOOD)].concat();
        let split = b"Content-Length: x\r\n\r\njunk".len() + 5;
        d.push(&input[..split]);
        assert!(matches!(d.next_frame(), Some(Frame::Invalid { .. })));
        assert_eq!(d.next_frame(), None);
        d.push(&input[split..]);
        assert_eq!(d.next_frame(), Some(Frame::Message(GOOD.as_bytes().to_vec())));
    }
}
