//! The engine client against a fake engine: a unix socket in a temp dir,
//! served by a thread that answers one request with canned bytes.

mod common;

use std::io::{Read, Write};
use std::os::fd::AsRawFd;
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::PathBuf;
use std::thread::{self, JoinHandle};
use std::time::Duration;

use balena_extension_runtime::engine::{http, Engine};
use common::TempDir;

/// Long enough for any loaded machine; only the hanging cases wait it out.
const TIMEOUT: Duration = Duration::from_secs(20);

/// The request as the server saw it, up to the empty line.
fn read_request(s: &mut UnixStream) -> String {
    let mut req = Vec::new();
    let mut byte = [0u8; 1];
    while !req.ends_with(b"\r\n\r\n") {
        match s.read(&mut byte) {
            Ok(1) => req.push(byte[0]),
            _ => break,
        }
    }
    String::from_utf8(req).unwrap()
}

struct Fake {
    _dir: TempDir,
    socket: PathBuf,
    server: Option<JoinHandle<String>>,
}

impl Fake {
    /// Answers one request with `answer`, then closes the connection.
    fn answering(answer: impl Into<Vec<u8>>) -> Fake {
        let answer = answer.into();
        Fake::serving(move |s| {
            let _ = s.write_all(&answer);
        })
    }

    /// Reads the request, then runs `then` on the connection.
    fn serving(then: impl FnOnce(&mut UnixStream) + Send + 'static) -> Fake {
        let dir = TempDir::new("engine");
        let socket = dir.join("engine.sock");
        let listener = UnixListener::bind(&socket).unwrap();
        let server = thread::spawn(move || {
            let (mut s, _) = listener.accept().unwrap();
            let req = read_request(&mut s);
            then(&mut s);
            req
        });
        Fake {
            _dir: dir,
            socket,
            server: Some(server),
        }
    }

    fn engine(&self, timeout: Duration) -> Engine {
        Engine::new(self.socket.clone(), timeout)
    }

    /// The request the server received.
    fn request(mut self) -> String {
        self.server.take().unwrap().join().unwrap()
    }
}

fn ok_json(body: &str) -> String {
    format!(
        "HTTP/1.1 200 OK\r\nApi-Version: 1.41\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    )
}

fn status(code: &str, body: &str) -> String {
    format!(
        "HTTP/1.1 {code}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    )
}

#[test]
fn sends_a_closing_request_and_reads_a_content_length_body() {
    let fake = Fake::answering(ok_json(
        r#"[{"Id":"3f2a","ImageID":"sha256:11","State":"running","Labels":null}]"#,
    ));
    let list = fake.engine(TIMEOUT).containers(false).unwrap();
    assert_eq!(list.len(), 1);
    assert_eq!(
        (
            list[0].id.as_str(),
            list[0].image_id.as_str(),
            list[0].state.as_str()
        ),
        ("3f2a", "sha256:11", "running")
    );
    let req = fake.request();
    let lines: Vec<&str> = req.split("\r\n").collect();
    assert_eq!(lines[0], "GET /v1.40/containers/json?all=1 HTTP/1.1");
    assert!(lines.contains(&"Host: docker"), "{req}");
    assert!(lines.contains(&"Connection: close"), "{req}");
    assert!(
        lines
            .iter()
            .any(|l| l.starts_with("User-Agent: balena-extension-runtime/")),
        "{req}"
    );
    assert!(!req.contains("Content-Length"), "{req}");
}

#[test]
fn reads_a_chunked_body_with_extensions_and_a_trailer() {
    let fake = Fake::serving(|s| {
        // Sent in pieces, so that chunks straddle reads.
        for piece in [
            &b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nContent-Type: application/json\r\n\r\n"[..],
            b"a;ext=1\r\n[{\"Id\":\"a\"\r\n",
            b"22\r\n,\"ImageID\":\"i\",\"State\":\"dead\"},{\"I\r\n",
            b"28\r\nd\":\"b\",\"ImageID\":\"j\",\"State\":\"created\"}]\r\n",
            b"0\r\nX-Checksum: none\r\n\r\n",
        ] {
            s.write_all(piece).unwrap();
            s.flush().unwrap();
            thread::sleep(Duration::from_millis(5));
        }
    });
    let list = fake.engine(TIMEOUT).containers(true).unwrap();
    let got: Vec<(&str, &str)> = list
        .iter()
        .map(|c| (c.id.as_str(), c.state.as_str()))
        .collect();
    assert_eq!(got, [("a", "dead"), ("b", "created")]);
    assert!(fake.request().starts_with(
        "GET /v1.40/containers/json?all=1&filters=%7B%22label%22:%5B%22io.balena.image.class%3Doverlay%22%5D%7D HTTP/1.1\r\n"
    ));
}

#[test]
fn an_error_status_carries_the_engines_message() {
    let fake = Fake::answering(status(
        "409 Conflict",
        r#"{"message":"You cannot remove a running container 3f2a. Stop the container before attempting removal or force remove"}"#,
    ));
    let e = fake
        .engine(TIMEOUT)
        .remove_image("sha256:11")
        .err()
        .unwrap();
    assert_eq!(
        e.msg,
        "engine: DELETE /v1.40/images/sha256:11: 409: You cannot remove a running container 3f2a. Stop the container before attempting removal or force remove"
    );
    let req = fake.request();
    assert!(
        req.starts_with("DELETE /v1.40/images/sha256:11 HTTP/1.1\r\n"),
        "{req}"
    );
    assert!(req.contains("\r\nContent-Length: 0\r\n"), "{req}");
}

#[test]
fn an_error_status_without_json_shows_status_and_reason() {
    let fake = Fake::answering(
        "HTTP/1.1 500 Internal Server Error\r\nContent-Length: 9\r\n\r\n<html/>\r\n",
    );
    let e = fake.engine(TIMEOUT).dangling_volumes().err().unwrap();
    assert_eq!(
        e.msg,
        "engine: GET /v1.40/volumes?filters=%7B%22dangling%22:%5B%22true%22%5D%7D: 500 Internal Server Error"
    );
}

#[test]
fn truncated_bodies_are_errors() {
    let fake = Fake::answering("HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n[{\"Id\":");
    let e = fake.engine(TIMEOUT).extension_images().err().unwrap();
    assert!(
        e.msg.starts_with("engine: GET /v1.40/images/json?filters=")
            && e.msg.ends_with(": answer cut short in the body"),
        "{}",
        e.msg
    );
    let fake =
        Fake::answering("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n4\r\n[{}]\r\n");
    let e = fake.engine(TIMEOUT).extension_images().err().unwrap();
    assert!(
        e.msg.ends_with(": answer cut short in a chunk size"),
        "{}",
        e.msg
    );
}

#[test]
fn oversized_answers_are_refused() {
    let fake = Fake::answering("HTTP/1.1 200 OK\r\nContent-Length: 40000000\r\n\r\n[");
    let e = fake.engine(TIMEOUT).containers(false).err().unwrap();
    assert_eq!(
        e.msg,
        "engine: GET /v1.40/containers/json?all=1: answer is larger than 32 MiB: refusing it"
    );
    // No length declared: the body runs to the end, and is cut at the cap.
    let fake = Fake::serving(|s| {
        let _ = s.write_all(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n\r\n[");
        let block = vec![b' '; 1 << 20];
        for _ in 0..40 {
            if s.write_all(&block).is_err() {
                return;
            }
        }
        let _ = s.write_all(b"]");
    });
    let e = fake.engine(TIMEOUT).containers(false).err().unwrap();
    assert!(
        e.msg
            .ends_with(": answer is larger than 32 MiB: refusing it"),
        "{}",
        e.msg
    );
}

#[test]
fn an_engine_that_never_answers_hits_the_time_limit() {
    // Holds the connection open without answering until the client gives up.
    let fake = Fake::serving(|s| {
        let _ = s.read(&mut [0u8; 1]);
    });
    let e = fake
        .engine(Duration::from_millis(200))
        .inspect_container("3f2a")
        .err()
        .unwrap();
    assert_eq!(
        e.msg,
        "engine: GET /v1.40/containers/3f2a/json: engine did not answer within 200ms"
    );
    fake.request();
}

#[test]
fn a_full_listen_queue_hits_the_connect_time_limit() {
    let dir = TempDir::new("engine-backlog");
    let socket = dir.join("engine.sock");
    let listener = UnixListener::bind(&socket).unwrap();
    // A queue of one pending connection, taken by a client nobody accepts.
    // SAFETY: listen on a socket this test owns.
    assert_eq!(unsafe { libc::listen(listener.as_raw_fd(), 0) }, 0);
    let _first = UnixStream::connect(&socket).unwrap();
    let e = Engine::new(socket.clone(), Duration::from_millis(200))
        .remove_volume("v1")
        .err()
        .unwrap();
    assert_eq!(
        e.msg,
        format!(
            "engine: DELETE /v1.40/volumes/v1: {} did not accept the connection within 200ms (its queue is full)",
            socket.display()
        )
    );
}

#[test]
fn garbage_instead_of_http_is_an_error() {
    let fake = Fake::answering("SSH-2.0-OpenSSH_9.2\r\n");
    let e = fake.engine(TIMEOUT).containers(false).err().unwrap();
    assert_eq!(
        e.msg,
        "engine: GET /v1.40/containers/json?all=1: malformed status line \"SSH-2.0-OpenSSH_9.2\""
    );
    let fake = Fake::answering("HTTP/1.1 200 OK\r\nContent-Length 2\r\n\r\n[]");
    let e = fake.engine(TIMEOUT).containers(false).err().unwrap();
    assert!(
        e.msg
            .ends_with(": malformed header line \"Content-Length 2\""),
        "{}",
        e.msg
    );
}

#[test]
fn a_missing_socket_is_named() {
    let dir = TempDir::new("engine-missing");
    let socket = dir.join("balena-engine.sock");
    let e = Engine::new(socket.clone(), TIMEOUT)
        .containers(true)
        .err()
        .unwrap();
    assert!(
        e.msg.ends_with(&format!(
            ": cannot connect to {}: no such file or directory (is the engine running?)",
            socket.display()
        )),
        "{}",
        e.msg
    );
}

#[test]
fn inspect_maps_mounts_state_and_labels() {
    let fake = Fake::answering(ok_json(
        r#"{"Id":"3f2a","Name":"/ext","Image":"sha256:11",
        "State":{"Status":"exited","ExitCode":7,"Error":""},
        "Config":{"Image":"ext:v2","Labels":{"io.balena.image.class":"overlay","io.balena.image.override":"1"}},
        "Mounts":[{"Type":"volume","Name":"boot-v","Source":"/var/lib/docker/volumes/boot-v/_data","Destination":"/boot"}]}"#,
    ));
    let c = fake
        .engine(TIMEOUT)
        .inspect_container("3f2a")
        .unwrap()
        .unwrap();
    assert_eq!((c.name.as_str(), c.image_name.as_str()), ("ext", "ext:v2"));
    assert_eq!(
        (c.status.as_str(), c.error.as_str(), c.exit_code),
        ("exited", "", 7)
    );
    assert_eq!(c.labels.len(), 2);
    assert_eq!(c.mounts.len(), 1);
    assert_eq!(
        (
            c.mounts[0].name.as_str(),
            c.mounts[0].source.as_str(),
            c.mounts[0].destination.as_str()
        ),
        ("boot-v", "/var/lib/docker/volumes/boot-v/_data", "/boot")
    );
    assert!(fake
        .request()
        .starts_with("GET /v1.40/containers/3f2a/json HTTP/1.1\r\n"));
}

#[test]
fn images_and_volumes_are_listed() {
    let fake = Fake::answering(ok_json(
        r#"[{"Id":"sha256:11","RepoTags":null,"Labels":{"io.balena.image.class":"overlay"}}]"#,
    ));
    let images = fake.engine(TIMEOUT).extension_images().unwrap();
    assert_eq!(
        (images.len(), images[0].id.as_str(), images[0].tags.len()),
        (1, "sha256:11", 0)
    );
    assert!(fake.request().starts_with(
        "GET /v1.40/images/json?filters=%7B%22label%22:%5B%22io.balena.image.class%3Doverlay%22%5D%7D HTTP/1.1\r\n"
    ));
    let fake = Fake::answering(ok_json(
        r#"{"Volumes":[{"Name":"a"},{"Name":"b","Labels":null}],"Warnings":null}"#,
    ));
    assert_eq!(fake.engine(TIMEOUT).dangling_volumes().unwrap(), ["a", "b"]);
}

#[test]
fn a_wrongly_typed_answer_names_the_call() {
    let fake = Fake::answering(ok_json(r#"{"Id":"3f2a","State":"exited"}"#));
    let e = fake
        .engine(TIMEOUT)
        .inspect_container("3f2a")
        .err()
        .unwrap();
    assert_eq!(
        e.msg,
        "engine: GET /v1.40/containers/3f2a/json: the answer is valid JSON but not a container"
    );
}

#[test]
fn removes_and_inspect_say_whether_something_was_there() {
    let gone = r#"{"message":"No such container: 3f2a"}"#;
    let fake = Fake::answering(status("404 Not Found", gone));
    assert!(!fake.engine(TIMEOUT).remove_container("3f2a").unwrap());
    assert!(fake
        .request()
        .starts_with("DELETE /v1.40/containers/3f2a?force=1&v=1 HTTP/1.1\r\n"));
    let fake = Fake::answering("HTTP/1.1 204 No Content\r\nConnection: close\r\n\r\n");
    assert!(fake.engine(TIMEOUT).remove_container("3f2a").unwrap());
    let fake = Fake::answering(status("404 Not Found", r#"{"message":"no such image"}"#));
    assert!(!fake.engine(TIMEOUT).remove_image("sha256:11").unwrap());
    let fake = Fake::answering(status(
        "404 Not Found",
        r#"{"message":"get v: no such volume"}"#,
    ));
    assert!(!fake.engine(TIMEOUT).remove_volume("a b/c").unwrap());
    assert!(fake
        .request()
        .starts_with("DELETE /v1.40/volumes/a%20b%2Fc HTTP/1.1\r\n"));
    // A container removed since the list: inspect says there is none.
    let fake = Fake::answering(status("404 Not Found", gone));
    assert!(fake
        .engine(TIMEOUT)
        .inspect_container("3f2a")
        .unwrap()
        .is_none());
    // A 404 on a listing is an error, not an empty answer.
    let fake = Fake::answering(status("404 Not Found", r#"{"message":"page not found"}"#));
    let e = fake.engine(TIMEOUT).containers(false).err().unwrap();
    assert_eq!(
        e.msg,
        "engine: GET /v1.40/containers/json?all=1: 404: page not found"
    );
}

#[test]
fn parse_response_and_the_socket_agree() {
    // The fuzz target drives parse_response; the socket path must frame the
    // same bytes the same way.
    let raw = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\n[]\r\n0\r\n\r\n";
    assert_eq!(http::parse_response(raw).unwrap().body, b"[]");
    let fake = Fake::answering(&raw[..]);
    assert!(fake.engine(TIMEOUT).containers(false).unwrap().is_empty());
}
