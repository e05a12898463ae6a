// How a queue's source reads in a tight column: `host/path` without the
// scheme, user or `.git`, shortened in the middle so the host and the
// repository's name both stay visible (two repos named `firmware` differ in
// what comes before the name). Pure.

/** `https://user@git.example.com/team/fw.git` → `git.example.com/team/fw`; `git@host:team/fw` → `host/team/fw`. */
export function sourceLabel(repo) {
  let text = String(repo ?? '').trim();
  text = text.replace(/^[a-z][a-z0-9+.-]*:\/\//i, '');         // scheme
  if (!text.startsWith('/')) {
    text = text.replace(/^[^@/]+@/, '');                           // user@
    text = text.replace(/^([^/:]+):(?!\d+(\/|$))/, '$1/');         // scp-style host:path
  }
  return text.replace(/\/+$/, '').replace(/\.git$/, '') || String(repo ?? '');
}

/**
 * `text` at most `max` characters, cut in the middle with "…". The end keeps
 * the last path segment whole when it fits, since that is the name.
 */
export function shortenMiddle(text, max) {
  const s = String(text);
  if (s.length <= max) return s;
  if (max <= 1) return '…';
  const lastSegment = s.slice(s.lastIndexOf('/') + 1);
  const even = Math.floor((max - 1) / 2);
  const tail = Math.min(max - 2, Math.max(even, lastSegment.length + 1));
  const head = max - 1 - tail;
  return `${s.slice(0, head)}…${s.slice(s.length - tail)}`;
}
