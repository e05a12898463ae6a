//! The terminal in raw mode for `testarena console`: every key goes to the
//! board as typed (no line editing, no echo, Ctrl-C is a byte), and the
//! terminal as it was comes back when the guard drops, however the
//! console ends.

/// Raw mode on stdin while it lives; `None` from `enter` when stdin is not
/// a terminal (a pipe is read as it is).
pub struct RawTerminal {
    saved: libc::termios,
}

impl RawTerminal {
    pub fn enter() -> Option<Self> {
        // SAFETY: isatty, tcgetattr, cfmakeraw and tcsetattr only read and
        // write the termios struct we own, for fd 0.
        unsafe {
            if libc::isatty(libc::STDIN_FILENO) != 1 {
                return None;
            }
            let mut saved: libc::termios = std::mem::zeroed();
            if libc::tcgetattr(libc::STDIN_FILENO, &mut saved) != 0 {
                return None;
            }
            let mut raw = saved;
            libc::cfmakeraw(&mut raw);
            if libc::tcsetattr(libc::STDIN_FILENO, libc::TCSANOW, &raw) != 0 {
                return None;
            }
            Some(Self { saved })
        }
    }
}

impl Drop for RawTerminal {
    fn drop(&mut self) {
        // SAFETY: restores the attributes read in `enter`, for fd 0.
        unsafe {
            libc::tcsetattr(libc::STDIN_FILENO, libc::TCSANOW, &self.saved);
        }
    }
}
