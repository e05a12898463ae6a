//! Keeps the process's secrets out of `/proc/<pid>/environ` and
//! `/proc/<pid>/cmdline`, where any process of the same user (a task the
//! worker runs, say) could read them.
//!
//! Both files show the memory the kernel laid out at exec, whatever
//! `setenv` does later. So at start every variable's value is copied to the
//! heap (the process keeps its whole environment, for git and the like) and
//! wiped in that block; TestArena's own secret variables are dropped
//! altogether, and secret flags are overwritten in the command line. The
//! process is also made non-dumpable, so a process of the same user without
//! `CAP_SYS_PTRACE` cannot read its memory at all (docs/operations.md has
//! the guarantee and its limits).

use std::ffi::{c_char, CStr};

/// TestArena's variables that hold a secret: dropped from the environment.
const SECRET_VARIABLES: [&str; 2] = ["TESTARENA_NATS_PASSWORD", "TESTARENA_API_TOKENS"];

/// Flags whose value is a secret (`--flag value` or `--flag=value`).
const SECRET_FLAGS: [&str; 2] = ["--nats-password", "--api-tokens"];

/// Call once at start, before any thread exists and after the command line
/// and environment have been parsed.
pub fn scrub_process() {
    // SAFETY: prctl(PR_SET_DUMPABLE) changes only this process's flags.
    unsafe {
        libc::prctl(libc::PR_SET_DUMPABLE, 0, 0, 0, 0);
    }
    scrub_environment();
    scrub_command_line();
}

extern "C" {
    static mut environ: *mut *mut c_char;
    static program_invocation_name: *mut c_char;
}

fn scrub_environment() {
    let variables: Vec<_> = std::env::vars_os().collect();
    // SAFETY: single-threaded at this point (see `scrub_process`); the
    // pointers come from libc's `environ`, each a NUL-terminated string that
    // we overwrite only within its own length.
    unsafe {
        let mut entry = environ;
        while !entry.is_null() && !(*entry).is_null() {
            let text = CStr::from_ptr(*entry).to_bytes();
            if let Some(value) = value_range(text) {
                std::ptr::write_bytes((*entry).add(value.start), 0, value.len());
            }
            entry = entry.add(1);
        }
    }
    // setenv stores a heap copy: the process keeps its values, /proc does not.
    for (name, value) in variables {
        if SECRET_VARIABLES.iter().any(|s| name == *s) {
            std::env::remove_var(&name);
        } else {
            std::env::set_var(&name, &value);
        }
    }
}

/// Where the value of a `NAME=value` entry lies.
fn value_range(entry: &[u8]) -> Option<std::ops::Range<usize>> {
    let eq = entry.iter().position(|&b| b == b'=')?;
    Some(eq + 1..entry.len())
}

fn scrub_command_line() {
    let Ok(cmdline) = std::fs::read("/proc/self/cmdline") else {
        return;
    };
    let ranges = secret_argument_ranges(&cmdline);
    if ranges.is_empty() {
        return;
    }
    // SAFETY: the kernel lays the arguments out back to back from argv[0],
    // which glibc's `program_invocation_name` points at. We write only after
    // checking that this memory holds exactly what /proc shows, and only
    // within it.
    unsafe {
        let start = program_invocation_name as *mut u8;
        if start.is_null() {
            return;
        }
        let block = std::slice::from_raw_parts_mut(start, cmdline.len());
        if block != cmdline.as_slice() {
            return;
        }
        for range in ranges {
            block[range].fill(b'*');
        }
    }
}

/// Byte ranges, in `/proc/self/cmdline`'s NUL-separated form, of the values
/// of secret flags.
fn secret_argument_ranges(cmdline: &[u8]) -> Vec<std::ops::Range<usize>> {
    let mut ranges = Vec::new();
    let mut offset = 0;
    let mut value_follows = false;
    for arg in cmdline.split(|&b| b == 0) {
        let range = offset..offset + arg.len();
        offset += arg.len() + 1;
        if std::mem::take(&mut value_follows) {
            ranges.push(range);
            continue;
        }
        for flag in SECRET_FLAGS {
            let flag = flag.as_bytes();
            if arg == flag {
                value_follows = true;
            } else if arg.len() > flag.len() && arg.starts_with(flag) && arg[flag.len()] == b'=' {
                ranges.push(range.start + flag.len() + 1..range.end);
            }
        }
    }
    ranges
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_the_value_of_an_entry() {
        assert_eq!(value_range(b"TESTARENA_NATS_PASSWORD=abc"), Some(24..27));
        assert_eq!(value_range(b"EMPTY="), Some(6..6));
        assert_eq!(value_range(b"A=b=c"), Some(2..5));
        assert_eq!(value_range(b"garbage"), None);
    }

    #[test]
    fn finds_secret_flag_values_in_both_spellings() {
        let cmdline =
            b"testarena\0worker\0--nats-password\0s3cret\0--api-tokens=t0k\0--nats-user\0w\0";
        let ranges = secret_argument_ranges(cmdline);
        let values: Vec<&[u8]> = ranges.iter().map(|r| &cmdline[r.clone()]).collect();
        assert_eq!(values, [b"s3cret".as_slice(), b"t0k".as_slice()]);
    }

    #[test]
    fn a_flag_that_only_starts_like_a_secret_one_is_kept() {
        assert!(secret_argument_ranges(b"x\0--nats-password-file\0/run/p\0").is_empty());
    }
}
