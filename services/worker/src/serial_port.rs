//! Opens a board's serial: a TCP connection, or a tty device set raw (no
//! echo, no line discipline, 8N1, no flow control) at its baud rate with
//! termios. Either way the caller gets a reading and a writing half that
//! tokio polls (a tty through epoll, like a pipe), so a console task never
//! holds a thread of the blocking pool.

use std::os::fd::AsRawFd;
use std::os::unix::fs::OpenOptionsExt;

use tokio::io::{AsyncRead, AsyncWrite};

use crate::boards_config::Serial;

pub(crate) type Reader = Box<dyn AsyncRead + Send + Unpin>;
pub(crate) type Writer = Box<dyn AsyncWrite + Send + Unpin>;

/// The serial opened, or why it cannot be.
pub(crate) async fn open(serial: &Serial) -> Result<(Reader, Writer), String> {
    match serial {
        Serial::Tcp(addr) => {
            let stream = tokio::net::TcpStream::connect(addr.as_str())
                .await
                .map_err(|e| format!("connecting to {addr}: {e}"))?;
            let (read, write) = stream.into_split();
            Ok((Box::new(read), Box::new(write)))
        }
        Serial::Device { path, baud } => open_tty(path, *baud).map_err(|e| format!("{path}: {e}")),
    }
}

fn open_tty(path: &str, baud: u32) -> std::io::Result<(Reader, Writer)> {
    let file = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .custom_flags(libc::O_NOCTTY | libc::O_NONBLOCK)
        .open(path)?;
    set_raw(&file, baud)?;
    let writer = file.try_clone()?;
    let read = tokio::net::unix::pipe::Receiver::from_file_unchecked(file)?;
    let write = tokio::net::unix::pipe::Sender::from_file_unchecked(writer)?;
    Ok((Box::new(read), Box::new(write)))
}

/// termios: raw, 8N1, receiver on, modem lines ignored, at `baud`.
fn set_raw(file: &std::fs::File, baud: u32) -> std::io::Result<()> {
    let speed = speed_of(baud).ok_or_else(|| {
        std::io::Error::new(std::io::ErrorKind::InvalidInput, format!("baud {baud}"))
    })?;
    let fd = file.as_raw_fd();
    // SAFETY: termios is plain data filled by tcgetattr on an fd we own;
    // every call is checked.
    unsafe {
        let mut tio: libc::termios = std::mem::zeroed();
        if libc::tcgetattr(fd, &mut tio) != 0 {
            return Err(std::io::Error::last_os_error());
        }
        libc::cfmakeraw(&mut tio);
        tio.c_cflag |= libc::CLOCAL | libc::CREAD;
        tio.c_cflag &= !(libc::CSTOPB | libc::PARENB | libc::CRTSCTS);
        tio.c_cc[libc::VMIN] = 1;
        tio.c_cc[libc::VTIME] = 0;
        if libc::cfsetispeed(&mut tio, speed) != 0 || libc::cfsetospeed(&mut tio, speed) != 0 {
            return Err(std::io::Error::last_os_error());
        }
        if libc::tcsetattr(fd, libc::TCSANOW, &tio) != 0 {
            return Err(std::io::Error::last_os_error());
        }
    }
    Ok(())
}

/// Pure: the termios speed of a baud rate boards_config.rs accepts.
fn speed_of(baud: u32) -> Option<libc::speed_t> {
    Some(match baud {
        1200 => libc::B1200,
        2400 => libc::B2400,
        4800 => libc::B4800,
        9600 => libc::B9600,
        19200 => libc::B19200,
        38400 => libc::B38400,
        57600 => libc::B57600,
        115200 => libc::B115200,
        230400 => libc::B230400,
        460800 => libc::B460800,
        500000 => libc::B500000,
        576000 => libc::B576000,
        921600 => libc::B921600,
        1000000 => libc::B1000000,
        1152000 => libc::B1152000,
        1500000 => libc::B1500000,
        2000000 => libc::B2000000,
        3000000 => libc::B3000000,
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_accepted_baud_rate_has_a_termios_speed() {
        for baud in crate::boards_config::BAUD_RATES {
            assert!(speed_of(baud).is_some(), "{baud}");
        }
        assert_eq!(speed_of(115200), Some(libc::B115200));
        assert_eq!(speed_of(1234), None);
    }
}
