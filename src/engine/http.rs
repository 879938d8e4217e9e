//! A small, strict HTTP/1.1 client over a unix socket: one request per
//! connection (`Connection: close`), no request bodies, and a response read
//! under a size cap. One deadline bounds the whole call — connecting,
//! sending, and the whole answer — so that an engine trickling its answer
//! a byte at a time, or sending an endless chunked body, cannot hold the
//! caller past its limit.
//!
//! Response bodies are framed by `Content-Length`, or by `Transfer-Encoding:
//! chunked` (chunk extensions ignored, trailers skipped). With neither, the
//! body runs to the end of the connection, as HTTP/1.1 says for a response
//! that is closed after it; a cut there cannot be told from the end, but
//! every answer the engine's client reads is JSON, which then fails to
//! parse. 1xx, 204 and 304 responses have no body. Both framings at once, an
//! unknown transfer coding, a malformed line, or an end of the connection
//! before the framing says the body is complete is an error.

use std::io::{self, Read};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::ffi::OsStrExt;
use std::path::Path;
use std::time::{Duration, Instant};

use crate::error::{describe, Error, Result};
use crate::sys;

/// The most a response (headers and body) may be.
pub const MAX_RESPONSE: usize = 32 << 20;

/// The longest status, header, chunk-size or trailer line. The engine's are
/// well under 1 KiB; the limit keeps a peer that never sends a line end
/// from making every read rescan a growing buffer.
const MAX_LINE: usize = 64 << 10;

pub struct Response {
    pub status: u16,
    /// The reason phrase (`Conflict`), possibly empty.
    pub reason: String,
    pub body: Vec<u8>,
}

/// Sends `METHOD path` (no request body) and reads the whole response,
/// all within `timeout`. Errors name the call: `GET /v1.40/containers/json: ...`.
pub fn request(socket: &Path, timeout: Duration, method: &str, path: &str) -> Result<Response> {
    exchange(socket, timeout, method, path).map_err(|e| e.context(format_args!("{method} {path}")))
}

fn exchange(socket: &Path, timeout: Duration, method: &str, path: &str) -> Result<Response> {
    // The path is written into the request line as it is: refuse anything
    // that could end the line or the request early.
    if !path.starts_with('/') || path.bytes().any(|b| b <= b' ' || b == 0x7f) {
        return Err(Error::new("refusing a malformed request path"));
    }
    let deadline = Instant::now() + timeout;
    let fd = connect(socket, timeout)?;
    let mut req = format!(
        "{method} {path} HTTP/1.1\r\nHost: docker\r\nUser-Agent: balena-extension-runtime/{}\r\nConnection: close\r\n",
        crate::VERSION
    );
    if method != "GET" && method != "HEAD" {
        req.push_str("Content-Length: 0\r\n");
    }
    req.push_str("\r\n");
    sys::write_all(fd.as_raw_fd(), req.as_bytes())
        .map_err(|e| io_error("cannot send the request", timeout, &e))?;
    response(&mut Socket { fd, deadline }, timeout)
}

/// The connected socket, read through `sys::read` (plain read(2)) once
/// poll(2) says there is something, and not past the call's deadline.
struct Socket {
    fd: OwnedFd,
    deadline: Instant,
}

impl Read for Socket {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let fd = self.fd.as_raw_fd();
        loop {
            let left = self.deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Err(io::ErrorKind::TimedOut.into());
            }
            let mut fds = [libc::pollfd {
                fd,
                events: libc::POLLIN,
                revents: 0,
            }];
            // Rounded up, so that a last fraction of a millisecond does not
            // become a busy loop of zero-length polls.
            let ms = (left.as_secs().min(1 << 20) * 1000 + u64::from(left.subsec_millis()) + 1)
                as libc::c_int;
            if sys::poll(&mut fds, ms)? > 0 {
                return sys::read(fd, buf);
            }
        }
    }
}

/// Connects within `timeout`. A connect to a unix socket whose listen
/// queue is full blocks until the server accepts; Linux bounds that wait by
/// the socket's send timeout (SO_SNDTIMEO), so it is set before connecting
/// and the connect then fails with EAGAIN. It bounds sending the request
/// too; reading the answer is bounded by the call's deadline (`Socket`).
fn connect(socket: &Path, timeout: Duration) -> Result<OwnedFd> {
    let fail = |e: &io::Error| {
        // Connecting to a file that is no socket fails as if refused.
        use std::os::unix::fs::FileTypeExt;
        if std::fs::metadata(socket).is_ok_and(|m| !m.file_type().is_socket()) {
            return Error::new(format!(
                "cannot connect to {}: not a socket",
                socket.display()
            ));
        }
        let hint = match e.raw_os_error() {
            Some(libc::ENOENT) | Some(libc::ECONNREFUSED) => " (is the engine running?)",
            _ => "",
        };
        Error::new(format!(
            "cannot connect to {}: {}{hint}",
            socket.display(),
            describe(e)
        ))
    };
    // SAFETY: sockaddr_un is plain data, valid when zeroed.
    let mut addr: libc::sockaddr_un = unsafe { std::mem::zeroed() };
    let bytes = socket.as_os_str().as_bytes();
    if bytes.len() >= addr.sun_path.len() || bytes.contains(&0) {
        return Err(fail(&io::Error::from_raw_os_error(libc::ENAMETOOLONG)));
    }
    addr.sun_family = libc::AF_UNIX as libc::sa_family_t;
    for (dst, src) in addr.sun_path.iter_mut().zip(bytes) {
        *dst = *src as libc::c_char;
    }
    // SAFETY: plain socket creation; the fd is checked and then owned.
    let fd = unsafe { libc::socket(libc::AF_UNIX, libc::SOCK_STREAM | libc::SOCK_CLOEXEC, 0) };
    if fd < 0 {
        return Err(fail(&io::Error::last_os_error()));
    }
    // SAFETY: `fd` is a new socket nothing else owns.
    let owned = unsafe { OwnedFd::from_raw_fd(fd) };
    set_timeout(fd, libc::SO_SNDTIMEO, timeout).map_err(|e| fail(&e))?;
    let len = std::mem::size_of::<libc::sa_family_t>() + bytes.len() + 1;
    // SAFETY: `addr` is a valid sockaddr_un of at least `len` bytes. A unix
    // socket is left unconnected by an interrupted connect: retrying is safe.
    match sys::retry(|| unsafe {
        libc::connect(
            fd,
            (&addr as *const libc::sockaddr_un).cast(),
            len as libc::socklen_t,
        )
    }) {
        Ok(_) => Ok(owned),
        Err(e) if e.kind() == io::ErrorKind::WouldBlock => Err(Error::new(format!(
            "{} did not accept the connection within {} (its queue is full)",
            socket.display(),
            seconds(timeout)
        ))),
        Err(e) => Err(fail(&e)),
    }
}

/// SO_SNDTIMEO (or SO_RCVTIMEO). Zero would mean no limit: at least 1 ms.
fn set_timeout(fd: RawFd, option: libc::c_int, t: Duration) -> io::Result<()> {
    let t = t.max(Duration::from_millis(1));
    let tv = libc::timeval {
        // Capped so that a 32-bit time_t cannot wrap. The field types are
        // inferred, not named: the libc crate deprecates its musl time_t
        // aliases (they are to become 64-bit with musl 1.2's ABI).
        tv_sec: t.as_secs().min(i32::MAX as u64) as _,
        tv_usec: t.subsec_micros() as _,
    };
    // SAFETY: setsockopt reads one timeval, of the size given.
    let ret = unsafe {
        libc::setsockopt(
            fd,
            libc::SOL_SOCKET,
            option,
            (&tv as *const libc::timeval).cast(),
            std::mem::size_of::<libc::timeval>() as libc::socklen_t,
        )
    };
    if ret < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

fn io_error(what: &str, timeout: Duration, err: &io::Error) -> Error {
    match err.kind() {
        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut => {
            Error::new(format!("engine did not answer within {}", seconds(timeout)))
        }
        _ => Error::io(what, err),
    }
}

/// `30s`, `200ms`.
fn seconds(d: Duration) -> String {
    if d.subsec_millis() == 0 && d.as_secs() > 0 {
        format!("{}s", d.as_secs())
    } else {
        format!("{}ms", d.as_millis() as u64)
    }
}

/// Parses a complete response as read from the socket (status line,
/// headers, body framed by Content-Length or chunked): what the fuzz target
/// drives. Bytes after the framed body are ignored, as on the socket.
pub fn parse_response(mut bytes: &[u8]) -> Result<Response> {
    response(&mut bytes, Duration::ZERO)
}

/// Reads one response from `src`, no further than its framing says.
/// `timeout` only words the error when a read times out.
pub fn read_response<R: Read>(src: &mut R, timeout: Duration) -> Result<Response> {
    response(src, timeout)
}

/// What responses are read from. Its one method keeps a trait object of it
/// small, where a `dyn Read` would bring every default method of `Read`.
trait Source {
    fn pull(&mut self, buf: &mut [u8]) -> io::Result<usize>;
}

impl<R: Read> Source for R {
    fn pull(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.read(buf)
    }
}

fn response(src: &mut dyn Source, timeout: Duration) -> Result<Response> {
    let mut r = Reader {
        src,
        buf: Vec::new(),
        pos: 0,
        total: 0,
        timeout,
    };
    let line = r.line("the status line")?;
    let (status, reason) = status_line(line)?;
    let mut length = None;
    let mut chunked = false;
    loop {
        let line = r.line("the headers")?;
        if line.is_empty() {
            break;
        }
        let (name, value) = header(line)?;
        if same_word(name, b"content-length") {
            let n = number(value, 10).ok_or_else(|| bad("malformed Content-Length", value))?;
            if length.is_some_and(|l| l != n) {
                return Err(Error::new("conflicting Content-Length headers"));
            }
            length = Some(n);
        } else if same_word(name, b"transfer-encoding") {
            if !same_word(value, b"chunked") {
                return Err(bad("unsupported Transfer-Encoding", value));
            }
            chunked = true;
        }
    }
    let mut body = Vec::new();
    if status < 200 || status == 204 || status == 304 {
        // No body by definition.
    } else if chunked {
        if length.is_some() {
            return Err(Error::new(
                "both Content-Length and Transfer-Encoding: refusing an ambiguous body",
            ));
        }
        r.chunks(&mut body)?;
    } else if let Some(n) = length {
        if n > MAX_RESPONSE as u64 {
            return Err(too_large());
        }
        r.take(n as usize, &mut body)?;
    } else {
        r.rest(&mut body)?;
    }
    Ok(Response {
        status,
        reason,
        body,
    })
}

fn too_large() -> Error {
    Error::new(format!(
        "answer is larger than {} MiB: refusing it",
        MAX_RESPONSE >> 20
    ))
}

/// `HTTP/1.1 409 Conflict` → (409, "Conflict"); the reason may be absent.
fn status_line(line: &[u8]) -> Result<(u16, String)> {
    let bad = || bad("malformed status line", line);
    let rest = line
        .strip_prefix(b"HTTP/1.1 ")
        .or_else(|| line.strip_prefix(b"HTTP/1.0 "))
        .ok_or_else(bad)?;
    let (code, reason) = match rest.get(3) {
        None => (rest, &b""[..]),
        Some(b' ') => (&rest[..3], &rest[4..]),
        Some(_) => return Err(bad()),
    };
    let status = match number(code, 10) {
        Some(n) if code.len() == 3 && (100..600).contains(&n) => n as u16,
        _ => return Err(bad()),
    };
    if !reason.iter().all(|&b| is_text(b)) {
        return Err(bad());
    }
    Ok((status, String::from_utf8_lossy(reason).into_owned()))
}

/// `Name: value` → (name, value without surrounding blanks). Names are
/// tokens; values have no control character but tab. A folded line (one
/// starting with a blank) is refused, as HTTP/1.1 now requires.
fn header(line: &[u8]) -> Result<(&[u8], &[u8])> {
    let bad = || bad("malformed header line", line);
    let colon = line.iter().position(|&b| b == b':').ok_or_else(bad)?;
    let (name, value) = (&line[..colon], &line[colon + 1..]);
    let token = |b: &u8| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(b);
    if name.is_empty() || !name.iter().all(token) || !value.iter().all(|&b| is_text(b)) {
        return Err(bad());
    }
    Ok((name, value.trim_ascii()))
}

/// `word` equals `lower` (lower-case ASCII) but for case. A loop of its
/// own: the standard library's slice comparison costs several times more.
fn same_word(word: &[u8], lower: &[u8]) -> bool {
    word.len() == lower.len()
        && word
            .iter()
            .zip(lower)
            .all(|(a, b)| a.to_ascii_lowercase() == *b)
}

/// Visible characters, blanks, and bytes above ASCII (RFC 9110 field text).
fn is_text(b: u8) -> bool {
    b == b'\t' || (b >= b' ' && b != 0x7f)
}

/// A whole number in `radix` (10 or 16), digits only, at most what u64
/// holds. Empty, signs and blanks are refused.
fn number(digits: &[u8], radix: u32) -> Option<u64> {
    if digits.is_empty() {
        return None;
    }
    let mut n: u64 = 0;
    for &b in digits {
        let d = (b as char).to_digit(radix)?;
        n = n.checked_mul(radix as u64)?.checked_add(d as u64)?;
    }
    Some(n)
}

/// `what "line"`: the line quoted, escaped, cut at 80 bytes.
fn bad(what: &str, line: &[u8]) -> Error {
    let shown = String::from_utf8_lossy(&line[..line.len().min(80)]);
    Error::new(format!("{what} {}", crate::json::quote(&shown)))
}

/// Buffered reading under the response cap. `buf[pos..]` is what was read
/// and not yet consumed; `total` counts every byte taken from `src`.
struct Reader<'a> {
    src: &'a mut dyn Source,
    buf: Vec<u8>,
    pos: usize,
    total: usize,
    timeout: Duration,
}

impl Reader<'_> {
    /// Reads more into `buf`; false at the end of the connection.
    fn fill(&mut self) -> Result<bool> {
        self.buf.drain(..self.pos);
        self.pos = 0;
        let mut chunk = [0u8; 16 << 10];
        loop {
            match self.src.pull(&mut chunk) {
                Ok(0) => return Ok(false),
                Ok(n) => {
                    self.total += n;
                    if self.total > MAX_RESPONSE {
                        return Err(too_large());
                    }
                    self.buf.extend_from_slice(&chunk[..n]);
                    return Ok(true);
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(io_error("cannot read the answer", self.timeout, &e)),
            }
        }
    }

    fn truncated(&self, what: &str) -> Error {
        if self.total == 0 {
            return Error::new("connection closed without an answer");
        }
        Error::new(format!("answer cut short in {what}"))
    }

    /// The next line, without its CRLF.
    fn line(&mut self, what: &str) -> Result<&[u8]> {
        loop {
            let start = self.pos;
            if let Some(lf) = self.buf[start..].iter().position(|&b| b == b'\n') {
                self.pos += lf + 1;
                let line = &self.buf[start..start + lf];
                return line
                    .strip_suffix(b"\r")
                    .ok_or_else(|| bad("malformed line (LF without CR)", line));
            }
            let unread = &self.buf[start..];
            if unread.len() > MAX_LINE {
                return Err(Error::new(format!(
                    "a line in {what} is longer than {} KiB",
                    MAX_LINE >> 10
                )));
            }
            if !self.fill()? {
                return Err(self.truncated(what));
            }
        }
    }

    /// Moves the next `n` bytes to `out`.
    fn take(&mut self, mut n: usize, out: &mut Vec<u8>) -> Result<()> {
        loop {
            let unread = &self.buf[self.pos..];
            let k = n.min(unread.len());
            out.extend_from_slice(&unread[..k]);
            self.pos += k;
            n -= k;
            if n == 0 {
                return Ok(());
            }
            if !self.fill()? {
                return Err(self.truncated("the body"));
            }
        }
    }

    /// Moves everything up to the end of the connection to `out`.
    fn rest(&mut self, out: &mut Vec<u8>) -> Result<()> {
        loop {
            out.extend_from_slice(&self.buf[self.pos..]);
            self.pos = self.buf.len();
            if !self.fill()? {
                return Ok(());
            }
        }
    }

    /// A chunked body: `SIZE[;ext]` lines, each followed by that many bytes
    /// and a CRLF, up to a zero size; then trailer lines up to an empty one.
    fn chunks(&mut self, out: &mut Vec<u8>) -> Result<()> {
        loop {
            let line = self.line("a chunk size")?;
            let digits = match line.iter().position(|&b| b == b';') {
                Some(i) => line[..i].trim_ascii_end(),
                None => line,
            };
            let size = number(digits, 16).ok_or_else(|| bad("malformed chunk size", line))?;
            if size == 0 {
                break;
            }
            if size > (MAX_RESPONSE - out.len()) as u64 {
                return Err(too_large());
            }
            self.take(size as usize, out)?;
            if !self.line("the body")?.is_empty() {
                return Err(Error::new("a chunk is longer than its size says"));
            }
        }
        while !self.line("the trailer")?.is_empty() {}
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(bytes: &[u8]) -> Result<Response> {
        parse_response(bytes)
    }

    fn err(bytes: &[u8]) -> String {
        parse(bytes).err().expect("an error").msg
    }

    /// Hands out one byte per read: every buffer boundary gets crossed.
    struct Trickle<'a>(&'a [u8]);

    impl Read for Trickle<'_> {
        fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
            match (self.0.split_first(), buf.first_mut()) {
                (Some((&b, rest)), Some(dst)) => {
                    *dst = b;
                    self.0 = rest;
                    Ok(1)
                }
                _ => Ok(0),
            }
        }
    }

    #[test]
    fn reads_a_content_length_body_and_ignores_what_follows() {
        let r = parse(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 5\r\n\r\nhelloEXTRA").unwrap();
        assert_eq!((r.status, r.reason.as_str()), (200, "OK"));
        assert_eq!(r.body, b"hello");
    }

    #[test]
    fn reads_chunks_with_extensions_and_a_trailer_byte_by_byte() {
        let raw = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: Chunked\r\n\r\n3;name=v\r\nabc\r\nA ;x\r\n0123456789\r\n0\r\nX-Trailer: 1\r\n\r\n";
        assert_eq!(parse(raw).unwrap().body, b"abc0123456789");
        let r = read_response(&mut Trickle(raw), Duration::ZERO).unwrap();
        assert_eq!(r.body, b"abc0123456789");
    }

    #[test]
    fn without_framing_the_body_runs_to_the_end_and_204_has_none() {
        assert_eq!(
            parse(b"HTTP/1.0 200 OK\r\n\r\n[1,2]").unwrap().body,
            b"[1,2]"
        );
        let r = parse(b"HTTP/1.1 204 No Content\r\n\r\nignored").unwrap();
        assert_eq!((r.status, r.body.len()), (204, 0));
        assert_eq!(parse(b"HTTP/1.1 404\r\n\r\n").unwrap().reason, "");
    }

    #[test]
    fn a_body_cut_short_is_an_error() {
        let e = err(b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc");
        assert_eq!(e, "answer cut short in the body");
        let e = err(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nabcde\r\n");
        assert_eq!(e, "answer cut short in a chunk size");
        let e = err(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nab");
        assert_eq!(e, "answer cut short in the body");
        assert_eq!(
            err(b"HTTP/1.1 200 OK\r\nServer: x"),
            "answer cut short in the headers"
        );
        assert_eq!(err(b""), "connection closed without an answer");
        assert_eq!(err(b"HTTP/1.1"), "answer cut short in the status line");
    }

    #[test]
    fn garbage_is_refused_with_the_line_shown() {
        let e = err(b"SSH-2.0-OpenSSH_9\r\n\r\n");
        assert_eq!(e, "malformed status line \"SSH-2.0-OpenSSH_9\"");
        for bad in [
            &b"HTTP/1.1 20 OK\r\n\r\n"[..],
            b"HTTP/1.1 2000 OK\r\n\r\n",
            b"HTTP/1.1 099 X\r\n\r\n",
            b"HTTP/2 200 OK\r\n\r\n",
            b"HTTP/1.1 200 O\x01K\r\n\r\n",
        ] {
            assert!(err(bad).starts_with("malformed status line"), "{bad:?}");
        }
        for bad in [
            &b"Content Length: 1"[..],
            b": 1",
            b"NoColon",
            b" folded: x",
            b"X: a\x00b",
        ] {
            let mut raw = b"HTTP/1.1 200 OK\r\n".to_vec();
            raw.extend_from_slice(bad);
            raw.extend_from_slice(b"\r\n\r\n");
            assert!(err(&raw).starts_with("malformed header line"), "{bad:?}");
        }
        assert!(err(b"HTTP/1.1 200 OK\nX: y\n\n").contains("LF without CR"));
        assert!(err(b"HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n").contains("Content-Length"));
        assert!(err(b"HTTP/1.1 200 OK\r\nContent-Length: 1 2\r\n\r\n").contains("Content-Length"));
        let e = err(b"HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nab");
        assert_eq!(e, "conflicting Content-Length headers");
        let e = err(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\n\r\n");
        assert_eq!(e, "unsupported Transfer-Encoding \"gzip, chunked\"");
        let e = err(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nContent-Length: 3\r\n\r\n");
        assert!(
            e.starts_with("both Content-Length and Transfer-Encoding"),
            "{e}"
        );
        let e = err(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n");
        assert_eq!(e, "malformed chunk size \"zz\"");
        let e = err(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n1\r\nabc\r\n0\r\n\r\n");
        assert_eq!(e, "a chunk is longer than its size says");
        let long = [b'a'; MAX_LINE + 2];
        assert!(err(&long).contains("longer than 64 KiB"));
    }

    #[test]
    fn the_size_cap_holds_for_declared_chunked_and_unframed_bodies() {
        let e = err(b"HTTP/1.1 200 OK\r\nContent-Length: 33554433\r\n\r\n");
        assert_eq!(e, "answer is larger than 32 MiB: refusing it");
        let e = err(b"HTTP/1.1 200 OK\r\nContent-Length: 99999999999999999999999\r\n\r\n");
        assert!(e.contains("malformed Content-Length"), "{e}");
        let e = err(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2000001\r\n");
        assert_eq!(e, "answer is larger than 32 MiB: refusing it");
        let mut raw = b"HTTP/1.1 200 OK\r\n\r\n".to_vec();
        raw.resize(MAX_RESPONSE + 1, b'x');
        assert_eq!(err(&raw), "answer is larger than 32 MiB: refusing it");
    }

    #[test]
    fn numbers_are_digits_only() {
        assert_eq!(number(b"0", 10), Some(0));
        assert_eq!(number(b"fF", 16), Some(255));
        assert_eq!(number(b"18446744073709551615", 10), Some(u64::MAX));
        for bad in [&b""[..], b"+1", b" 1", b"18446744073709551616", b"1_0"] {
            assert_eq!(number(bad, 10), None);
        }
    }

    #[test]
    fn durations_read_naturally() {
        assert_eq!(seconds(Duration::from_secs(30)), "30s");
        assert_eq!(seconds(Duration::from_millis(200)), "200ms");
        assert_eq!(seconds(Duration::from_millis(1500)), "1500ms");
    }
}
