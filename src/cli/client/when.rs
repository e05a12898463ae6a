//! Times and durations as the terminal shows them: a recent time as an age
//! ("2 min ago"), an older one as local time, `--utc` as UTC for scripts.
//! Pure: the clock and the local offset come in as arguments (the offset is
//! read once, by `local_offset`, before the runtime starts any thread).

use time::format_description::well_known::Rfc3339;
use time::macros::format_description;
use time::{OffsetDateTime, UtcOffset};

/// How absolute times are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TimeStyle {
    /// Ages for the last day, then local time at this offset.
    Local(UtcOffset),
    /// Always an absolute UTC time, for scripts and logs.
    Utc,
}

pub fn parse(iso: &str) -> Option<OffsetDateTime> {
    OffsetDateTime::parse(iso, &Rfc3339).ok()
}

/// "just now", "45 s ago", "2 min ago", "3 h ago".
pub fn age(then: OffsetDateTime, now: OffsetDateTime) -> String {
    let s = (now - then).whole_seconds().max(0);
    match s {
        0..5 => "just now".into(),
        5..60 => format!("{s} s ago"),
        60..3600 => format!("{} min ago", s / 60),
        _ => format!("{} h ago", s / 3600),
    }
}

/// When something happened: an age within the last day, else a date and time.
pub fn when(iso: &str, now: OffsetDateTime, style: TimeStyle) -> String {
    let Some(then) = parse(iso) else {
        return iso.to_owned();
    };
    match style {
        TimeStyle::Utc => then
            .to_offset(UtcOffset::UTC)
            .format(format_description!(
                "[year]-[month]-[day] [hour]:[minute]:[second]Z"
            ))
            .unwrap_or_else(|_| iso.to_owned()),
        TimeStyle::Local(_) if (now - then).whole_hours() < 24 => age(then, now),
        TimeStyle::Local(offset) => then
            .to_offset(offset)
            .format(format_description!("[year]-[month]-[day] [hour]:[minute]"))
            .unwrap_or_else(|_| iso.to_owned()),
    }
}

/// "850 ms", "3.1 s", "42 s", "2 min 05 s", "1 h 02 min" — as the dashboard writes them.
pub fn duration(ms: u64) -> String {
    if ms < 1000 {
        return format!("{ms} ms");
    }
    if ms < 10_000 {
        return format!("{}.{} s", ms / 1000, (ms % 1000) / 100);
    }
    let s = ms / 1000;
    match s {
        0..60 => format!("{s} s"),
        60..3600 => format!("{} min {:02} s", s / 60, s % 60),
        _ => format!("{} h {:02} min", s / 3600, (s % 3600) / 60),
    }
}

/// How long a queue ran, or has run so far; `None` before it started.
pub fn run_time(
    started_at: Option<&str>,
    finished_at: Option<&str>,
    now: OffsetDateTime,
) -> Option<u64> {
    let start = parse(started_at?)?;
    let end = finished_at.and_then(parse).unwrap_or(now);
    u64::try_from((end - start).whole_milliseconds()).ok()
}

/// The machine's UTC offset now, or `None` when it cannot be known.
///
/// `localtime_r` after `tzset` is what `date` does; it is safe while no other
/// thread changes the environment, which holds because the CLI calls this
/// before its runtime starts.
pub fn local_offset() -> Option<UtcOffset> {
    let now: libc::time_t = OffsetDateTime::now_utc().unix_timestamp();
    // SAFETY: `tm` is a plain C struct that `localtime_r` fills; both
    // pointers are valid for the call, and no other thread exists yet.
    extern "C" {
        // POSIX; the libc crate does not bind it.
        fn tzset();
    }
    let gmtoff = unsafe {
        tzset();
        let mut tm: libc::tm = std::mem::zeroed();
        if libc::localtime_r(&now, &mut tm).is_null() {
            return None;
        }
        tm.tm_gmtoff
    };
    UtcOffset::from_whole_seconds(i32::try_from(gmtoff).ok()?).ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::{datetime, offset};

    const NOW: OffsetDateTime = datetime!(2026-11-25 12:00:00 UTC);

    #[test]
    fn a_recent_time_reads_as_an_age() {
        let local = TimeStyle::Local(offset!(+1));
        assert_eq!(when("2026-11-25T11:58:00Z", NOW, local), "2 min ago");
        assert_eq!(when("2026-11-25T11:59:58Z", NOW, local), "just now");
        assert_eq!(when("2026-11-25T11:59:15Z", NOW, local), "45 s ago");
        assert_eq!(when("2026-11-25T09:00:00Z", NOW, local), "3 h ago");
    }

    #[test]
    fn an_older_time_reads_as_local_time_and_utc_is_always_absolute() {
        let local = TimeStyle::Local(offset!(+1));
        assert_eq!(
            when("2026-11-23T05:14:11.49Z", NOW, local),
            "2026-11-23 06:14"
        );
        assert_eq!(
            when("2026-11-25T11:58:00Z", NOW, TimeStyle::Utc),
            "2026-11-25 11:58:00Z"
        );
        assert_eq!(when("not a time", NOW, local), "not a time");
    }

    #[test]
    fn durations_read_like_the_dashboard() {
        assert_eq!(duration(850), "850 ms");
        assert_eq!(duration(3_150), "3.1 s");
        assert_eq!(duration(42_000), "42 s");
        assert_eq!(duration(125_000), "2 min 05 s");
        assert_eq!(duration(3_720_000), "1 h 02 min");
    }

    #[test]
    fn a_running_queue_has_run_until_now() {
        let started = Some("2026-11-25T11:59:00Z");
        assert_eq!(run_time(started, None, NOW), Some(60_000));
        assert_eq!(
            run_time(started, Some("2026-11-25T11:59:30Z"), NOW),
            Some(30_000)
        );
        assert_eq!(run_time(None, None, NOW), None);
    }
}
