//! An abort on one side reaches the other side as an abort (a reset), not
//! as a clean end of stream: a client must be able to tell a response cut
//! short by the server from a complete one, and a server a request the
//! client abandoned from one it finished.

#![allow(clippy::unwrap_used)] // tests: a panic is the failure report

mod common;

use std::io::ErrorKind;
use std::time::Duration;

use common::*;
use rampart_proxy::Mode;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// Resets `s` (SO_LINGER 0, then close).
fn reset(s: TcpStream) {
    socket2::SockRef::from(&s)
        .set_linger(Some(Duration::ZERO))
        .unwrap();
    drop(s);
}

/// Reads until end of stream or an error; returns the bytes and how it
/// ended.
async fn read_to_end_or_error(s: &mut TcpStream) -> (usize, std::io::Result<()>) {
    let mut total = 0;
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        let read = tokio::time::timeout(Duration::from_secs(5), s.read(&mut buf)).await;
        match read.expect("the connection neither ended nor failed within 5 s") {
            Ok(0) => return (total, Ok(())),
            Ok(n) => total += n,
            Err(e) => return (total, Err(e)),
        }
    }
}

/// A server that reads the request, sends `len` bytes of its response and
/// then resets: a response cut short.
async fn cut_short(len: usize) -> Backend {
    spawn_backend_with(move |mut s| async move {
        let mut request = [0u8; 7];
        if s.read_exact(&mut request).await.is_ok() {
            let _ = s.write_all(&vec![b'x'; len]).await;
            // Let the bytes reach the proxy before the reset does.
            tokio::time::sleep(Duration::from_millis(50)).await;
            reset(s);
        }
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_reset_mid_response_reaches_the_client_as_a_reset() {
    // 1 000 bytes take the copy path in both modes; 1 MiB fills whole
    // buffers, which in splice mode moves to splice(2).
    for len in [1_000, 1 << 20] {
        let b = cut_short(len).await;
        for mode in [Mode::Splice, Mode::Copy] {
            let h = Harness::start(
                &config("", "", r#"{ name = "r", addr = "{S0}" }"#),
                &[b.addr],
                mode,
            )
            .await;
            let mut s = TcpStream::connect(h.addr).await.unwrap();
            s.write_all(b"request").await.unwrap();
            let (got, end) = read_to_end_or_error(&mut s).await;
            let kind = end.as_ref().map_err(std::io::Error::kind);
            assert_eq!(
                kind,
                Err(ErrorKind::ConnectionReset),
                "{mode:?}, {len} bytes: the client saw {end:?} after {got} bytes"
            );
            assert!(got <= len);
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_reset_mid_request_reaches_the_server_as_a_reset() {
    for mode in [Mode::Splice, Mode::Copy] {
        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
        let b = spawn_backend_with(move |mut s| {
            let tx = tx.clone();
            async move {
                let _ = tx.send(read_to_end_or_error(&mut s).await);
            }
        })
        .await;
        let h = Harness::start(
            &config("", "", r#"{ name = "r", addr = "{S0}" }"#),
            &[b.addr],
            mode,
        )
        .await;
        let mut s = TcpStream::connect(h.addr).await.unwrap();
        s.write_all(b"half a request").await.unwrap();
        let be = h.proxy.backend("be").unwrap().clone();
        assert!(eventually(Duration::from_secs(2), || be.servers[0].active() == 1).await);
        // Let the bytes reach the server before the reset does.
        tokio::time::sleep(Duration::from_millis(50)).await;
        reset(s);
        let (got, end) = tokio::time::timeout(Duration::from_secs(5), rx.recv())
            .await
            .unwrap()
            .unwrap();
        let kind = end.as_ref().map_err(std::io::Error::kind);
        assert_eq!(
            kind,
            Err(ErrorKind::ConnectionReset),
            "{mode:?}: the server saw {end:?} after {got} bytes"
        );
    }
}
