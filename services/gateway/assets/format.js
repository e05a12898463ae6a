// How times, durations and counts read on the page.

const number = new Intl.NumberFormat();
export const formatCount = (n) => number.format(n);

export function parseTime(iso) {
  if (!iso) return null;
  const t = Date.parse(iso);
  return Number.isNaN(t) ? null : t;
}

/** "850 ms", "3.1 s", "2 min 05 s", "1 h 02 min". */
export function formatDuration(ms) {
  if (ms === null || ms === undefined || Number.isNaN(ms)) return '—';
  ms = Math.max(0, ms);
  if (ms < 1000) return `${Math.round(ms)} ms`;
  const s = ms / 1000;
  if (s < 60) return `${s < 10 ? s.toFixed(1) : Math.floor(s)} s`;
  const total = Math.floor(s);
  const h = Math.floor(total / 3600);
  const m = Math.floor((total % 3600) / 60);
  const sec = total % 60;
  if (h > 0) return `${h} h ${String(m).padStart(2, '0')} min`;
  return `${m} min ${String(sec).padStart(2, '0')} s`;
}

/** "just now", "12 s ago", "3 min ago", "2 h ago", "4 d ago". */
export function formatAge(iso, now = Date.now()) {
  const t = parseTime(iso);
  if (t === null) return '—';
  const s = Math.max(0, Math.floor((now - t) / 1000));
  if (s < 5) return 'just now';
  if (s < 60) return `${s} s ago`;
  if (s < 3600) return `${Math.floor(s / 60)} min ago`;
  if (s < 86400) return `${Math.floor(s / 3600)} h ago`;
  return `${Math.floor(s / 86400)} d ago`;
}

export function formatTime(iso) {
  const t = parseTime(iso);
  return t === null ? '—' : new Date(t).toLocaleString();
}

/** How long a queue ran, or has been running so far; null before it starts. */
export function queueDurationMs(view, now = Date.now()) {
  const start = parseTime(view.started_at);
  if (start === null) return null;
  const end = parseTime(view.finished_at) ?? now;
  return end - start;
}

export const shortCommit = (commit) => (commit ? commit.slice(0, 10) : '—');

/** "1 test", "2 tests". */
export const plural = (n, word, many = `${word}s`) => `${formatCount(n)} ${n === 1 ? word : many}`;

/** "512 B", "70.2 KiB", "3.0 MiB", "1.2 GiB". */
export function formatBytes(n) {
  if (n === null || n === undefined) return '—';
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let value = n;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit += 1;
  }
  return unit === 0 ? `${value} B` : `${value.toFixed(1)} ${units[unit]}`;
}
