//! splice(2) through a pipe: bytes move socket → pipe → socket inside the
//! kernel, never copied to user space. Pipes are pooled per thread because
//! creating one costs two syscalls and two descriptors, and an idle
//! connection should hold none.

use std::cell::RefCell;
use std::io;
use std::os::fd::{AsFd, OwnedFd};

use nix::fcntl::{OFlag, SpliceFFlags};

/// Bytes moved per splice call: the default pipe capacity (16 pages).
pub const CHUNK: usize = 64 * 1024;

/// Pipes kept per thread for reuse; beyond this they are closed.
const POOL_MAX: usize = 256;

/// A non-blocking pipe used as the in-kernel buffer between two sockets.
#[derive(Debug)]
pub struct Pipe {
    read: OwnedFd,
    write: OwnedFd,
}

impl Pipe {
    pub fn new() -> io::Result<Pipe> {
        let (read, write) = nix::unistd::pipe2(OFlag::O_NONBLOCK | OFlag::O_CLOEXEC)?;
        Ok(Pipe { read, write })
    }

    /// Takes a pipe from this thread's pool, or makes one.
    pub fn take() -> io::Result<Pipe> {
        match POOL.with(|p| p.borrow_mut().pop()) {
            Some(p) => Ok(p),
            None => Pipe::new(),
        }
    }

    /// Returns an EMPTY pipe to this thread's pool. A pipe that may still
    /// hold bytes must be dropped instead, or they would leak into another
    /// connection.
    pub fn give_back(self) {
        POOL.with(|p| {
            let mut pool = p.borrow_mut();
            if pool.len() < POOL_MAX {
                pool.push(self);
            }
        });
    }

    /// Moves up to `len` bytes from `src` (a socket) into the pipe.
    /// `Ok(0)` means `src` reached end of stream.
    pub fn fill_from(&self, src: impl AsFd, len: usize) -> io::Result<usize> {
        splice(src, &self.write, len)
    }

    /// Moves up to `len` bytes from the pipe into `dst` (a socket).
    pub fn drain_to(&self, dst: impl AsFd, len: usize) -> io::Result<usize> {
        splice(&self.read, dst, len)
    }
}

thread_local! {
    static POOL: RefCell<Vec<Pipe>> = const { RefCell::new(Vec::new()) };
}

fn splice(from: impl AsFd, to: impl AsFd, len: usize) -> io::Result<usize> {
    let flags = SpliceFFlags::SPLICE_F_MOVE | SpliceFFlags::SPLICE_F_NONBLOCK;
    loop {
        match nix::fcntl::splice(from.as_fd(), None, to.as_fd(), None, len, flags) {
            Err(nix::errno::Errno::EINTR) => continue,
            r => return r.map_err(io::Error::from),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{Read, Write};
    use std::net::{TcpListener, TcpStream};

    #[test]
    fn moves_bytes_between_sockets() {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let mut a = TcpStream::connect(l.local_addr().unwrap()).unwrap();
        let (b, _) = l.accept().unwrap();
        let l2 = TcpListener::bind("127.0.0.1:0").unwrap();
        let c = TcpStream::connect(l2.local_addr().unwrap()).unwrap();
        let (mut d, _) = l2.accept().unwrap();

        a.write_all(b"hello splice").unwrap();
        let pipe = Pipe::take().unwrap();
        let mut n = 0;
        while n == 0 {
            n = match pipe.fill_from(&b, CHUNK) {
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => 0,
                Err(e) => panic!("{e}"),
            };
        }
        assert_eq!(pipe.drain_to(&c, n).unwrap(), n);
        let mut got = vec![0; n];
        d.read_exact(&mut got).unwrap();
        assert_eq!(&got, b"hello splice");

        drop(a);
        // End of stream reads as 0 once the peer closed.
        loop {
            match pipe.fill_from(&b, CHUNK) {
                Ok(0) => break,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => continue,
                other => panic!("unexpected {other:?}"),
            }
        }
        pipe.give_back();
    }
}
