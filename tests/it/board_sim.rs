//! A simulated board for the board tests, no hardware needed: the qemu-arm
//! example's firmware (built once per test process) in QEMU. `power_on`
//! starts QEMU in its own session (pidfile), its serial either a TCP
//! server that waits for the worker's connection (so no banner is lost) or
//! a pseudo-terminal symlinked at `<dir>/tty` (the worker opens it as a
//! `device` at its baud; QEMU starts halted and the profile's `flash`
//! lets it run once the console had time to open it). `power_off` kills
//! it. `health` boots the firmware alone into a file and looks for its
//! banner. A `broken` file in the board's folder makes it fail to boot
//! (QEMU stays halted) and its health command fail. Every power action
//! is appended to `<dir>/power.log`.
//!
//! Boards live in `<root>/<name>`: the profile's `flash` is
//! `sh <root>/{board}/flash.sh` for every sim board under one root.

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

/// The firmware, built once per test process.
fn firmware() -> &'static Path {
    static FIRMWARE: OnceLock<PathBuf> = OnceLock::new();
    FIRMWARE.get_or_init(|| {
        crate::stack::require_tools(&["arm-none-eabi-gcc", "qemu-system-arm", "make", "python3"]);
        let dir = Path::new(env!("CARGO_TARGET_TMPDIR"))
            .join(format!("board-sim-{}", std::process::id()));
        let example = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/qemu-arm/firmware");
        crate::engine::copy_dir(&example, &dir);
        let built = std::process::Command::new("make")
            .arg("-C")
            .arg(&dir)
            .output()
            .unwrap();
        assert!(built.status.success(), "building the firmware: {built:?}");
        // The machine in a config file, not on the command line: tests
        // that look for a QEMU left running (`processes_with("mps2-an385")`)
        // do not take a sim board, alive while its test runs, for theirs.
        std::fs::write(
            dir.join("machine.cfg"),
            "[machine]\n  type = \"mps2-an385\"\n",
        )
        .unwrap();
        dir.join("build/fw.elf")
    })
}

/// `-readconfig` of the firmware's machine, and its `-kernel`.
fn machine_and_kernel() -> String {
    let elf = firmware();
    let cfg = elf
        .parent()
        .and_then(Path::parent)
        .unwrap()
        .join("machine.cfg");
    format!("-readconfig {} -kernel {}", cfg.display(), elf.display())
}

/// How a sim board's serial reaches the worker.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Wiring {
    Tcp(u16),
    Pty,
}

pub struct SimBoard {
    pub dir: PathBuf,
    wiring: Wiring,
}

impl SimBoard {
    /// A board whose serial is a TCP server on a free port.
    pub fn tcp(dir: &Path) -> Self {
        let port = testarena::nats_server::free_port().unwrap();
        Self::make(dir, Wiring::Tcp(port))
    }

    /// A board whose serial is a pseudo-terminal at `<dir>/tty`.
    pub fn pty(dir: &Path) -> Self {
        Self::make(dir, Wiring::Pty)
    }

    /// The `flash` command of a board profile for sim boards under `root`.
    pub fn flash_command(root: &Path) -> String {
        format!("sh {}/{{board}}/flash.sh", root.display())
    }

    fn make(dir: &Path, wiring: Wiring) -> Self {
        std::fs::create_dir_all(dir).unwrap();
        let board = Self {
            dir: dir.to_owned(),
            wiring,
        };
        for (name, script) in [
            ("power_on.sh", board.power_on_script()),
            ("power_off.sh", board.power_off_script()),
            ("flash.sh", board.flash_script()),
            ("health.sh", board.health_script()),
        ] {
            std::fs::write(dir.join(name), script).unwrap();
        }
        board
    }

    /// Its `[boards.<name>]` table for a worker's config.
    pub fn worker_toml_table(&self, name: &str, labels: &[&str]) -> String {
        let serial = match self.wiring {
            Wiring::Tcp(port) => format!("{{ tcp = \"127.0.0.1:{port}\" }}"),
            Wiring::Pty => format!(
                "{{ device = \"{}\", baud = 115200 }}",
                self.dir.join("tty").display()
            ),
        };
        let labels: Vec<String> = labels.iter().map(|l| format!("{l:?}")).collect();
        let dir = self.dir.display();
        format!(
            "[boards.{name}]\nlabels = [{}]\nserial = {serial}\npower_on = \"sh {dir}/power_on.sh\"\npower_off = \"sh {dir}/power_off.sh\"\nhealth = \"sh {dir}/health.sh\"\n",
            labels.join(", ")
        )
    }

    /// From now on it does not boot, and its health command fails.
    pub fn break_boot(&self) {
        std::fs::write(self.dir.join("broken"), "").unwrap();
    }

    pub fn fix_boot(&self) {
        let _ = std::fs::remove_file(self.dir.join("broken"));
    }

    /// Its power actions so far, `on` and `off`, oldest first.
    pub fn power_log(&self) -> Vec<String> {
        std::fs::read_to_string(self.dir.join("power.log"))
            .unwrap_or_default()
            .lines()
            .map(str::to_owned)
            .collect()
    }

    /// The process id of its QEMU while powered on.
    pub fn qemu_pid(&self) -> Option<u32> {
        let pid = std::fs::read_to_string(self.dir.join("qemu.pid")).ok()?;
        let pid: u32 = pid.trim().parse().ok()?;
        Path::new(&format!("/proc/{pid}")).exists().then_some(pid)
    }

    fn qemu_line(&self) -> String {
        let dir = self.dir.display();
        let serial = match self.wiring {
            Wiring::Tcp(port) => format!("-serial tcp:127.0.0.1:{port},server=on,wait=on"),
            Wiring::Pty => {
                format!("-S -monitor unix:{dir}/monitor.sock,server=on,wait=off -serial pty")
            }
        };
        let monitor = match self.wiring {
            Wiring::Tcp(_) => "-monitor none $halt",
            Wiring::Pty => "",
        };
        format!(
            "qemu-system-arm {} -display none {monitor} {serial} -pidfile {dir}/qemu.pid",
            machine_and_kernel()
        )
    }

    fn power_on_script(&self) -> String {
        let dir = self.dir.display();
        let link = match self.wiring {
            Wiring::Tcp(_) => String::new(),
            Wiring::Pty => format!(
                "i=0; until grep -q 'redirected to /dev/pts/' {dir}/qemu.log; do i=$((i+1)); [ $i -lt 100 ] || exit 1; sleep 0.05; done\n\
                 ln -sf \"$(grep -o '/dev/pts/[0-9]*' {dir}/qemu.log | head -n1)\" {dir}/tty\n"
            ),
        };
        format!(
            "set -e\necho on >> {dir}/power.log\n\
             [ -s {dir}/qemu.pid ] && kill -9 \"$(cat {dir}/qemu.pid)\" 2>/dev/null || true\n\
             rm -f {dir}/qemu.pid {dir}/tty {dir}/monitor.sock\n\
             halt=''; [ -e {dir}/broken ] && halt='-S'\n\
             setsid {} </dev/null >{dir}/qemu.log 2>&1 &\n\
             i=0; until [ -s {dir}/qemu.pid ]; do i=$((i+1)); [ $i -lt 100 ] || exit 1; sleep 0.05; done\n\
             {link}echo powered on\n",
            self.qemu_line()
        )
    }

    fn power_off_script(&self) -> String {
        let dir = self.dir.display();
        format!(
            "echo off >> {dir}/power.log\n\
             [ -s {dir}/qemu.pid ] && kill -9 \"$(cat {dir}/qemu.pid)\" 2>/dev/null\n\
             rm -f {dir}/qemu.pid {dir}/tty {dir}/monitor.sock\nexit 0\n"
        )
    }

    /// TCP: nothing to do (QEMU runs once the console connects). Pty: the
    /// halted CPU is let run once a process (the worker's console) has the
    /// tty open, unless the board is broken.
    fn flash_script(&self) -> String {
        let dir = self.dir.display();
        match self.wiring {
            Wiring::Tcp(_) => "echo flashed\n".to_owned(),
            Wiring::Pty => format!(
                "[ -e {dir}/broken ] && {{ echo flashed, but it does not start; exit 0; }}\n\
                 pts=$(readlink {dir}/tty)\n\
                 i=0; until find /proc/[0-9]*/fd -lname \"$pts\" 2>/dev/null | grep -q .; do i=$((i+1)); [ $i -lt 200 ] || break; sleep 0.05; done\n\
                 python3 -c 'import socket, sys, time; s = socket.socket(socket.AF_UNIX); s.connect(sys.argv[1]); s.sendall(b\"cont\\n\"); time.sleep(0.2)' {dir}/monitor.sock\n\
                 echo flashed\n"
            ),
        }
    }

    fn health_script(&self) -> String {
        let dir = self.dir.display();
        format!(
            "[ -e {dir}/broken ] && {{ echo the board does not boot; exit 1; }}\n\
             rm -f {dir}/health.out\n\
             timeout 3 qemu-system-arm {} -display none -monitor none -serial file:{dir}/health.out\n\
             grep -q READY {dir}/health.out && echo booted\n",
            machine_and_kernel()
        )
    }
}

impl Drop for SimBoard {
    fn drop(&mut self) {
        if let Some(pid) = self.qemu_pid() {
            // SAFETY: kill(2) of the QEMU this board started.
            unsafe {
                libc::kill(pid as i32, libc::SIGKILL);
            }
        }
    }
}
