// Turns one log line with ANSI escape sequences into styled segments.
//
// Only SGR (`ESC[...m`) changes the style: bold, dim, italic, underline,
// inverse, the 16 basic colours (30–37, 90–97 and their backgrounds), and
// 256-colour / truecolour (38;5;n, 38;2;r;g;b). Every other escape (cursor
// moves, erase, OSC titles) is dropped, as are stray control characters. A
// carriage return keeps what a terminal would show: the text after the last
// one. Styles reset at each line; tools that colour output reset per line.
//
// Pure — no DOM — so the output is data: the page turns `fg`/`bg` numbers
// 0–15 into classes (palette in app.css) and strings into rgb() colours.

// CSI (ESC [ params intermediates final), OSC (ESC ] … BEL or ESC \), or any
// other two-byte escape.
const ESCAPES = /\x1b\[([0-?]*)([ -/]*)([@-~])|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)?|\x1b[@-_]?/g;
const CONTROLS = /[\x00-\x08\x0b-\x1f\x7f]/g;

const PLAIN = Object.freeze({
  fg: null, bg: null, bold: false, dim: false, italic: false, underline: false, inverse: false,
});

/** [{text, style}] with `style` as in PLAIN; adjacent text with one style is one segment. */
export function parseAnsi(line) {
  const text = afterCarriageReturn(String(line));
  const segments = [];
  let style = PLAIN;
  let last = 0;
  for (const match of text.matchAll(ESCAPES)) {
    push(segments, text.slice(last, match.index), style);
    last = match.index + match[0].length;
    if (match[3] === 'm' && match[2] === '') style = applySgr(style, match[1]);
  }
  push(segments, text.slice(last), style);
  return segments;
}

/** The line's text without any escape sequence. */
export function stripAnsi(line) {
  return parseAnsi(line).map((s) => s.text).join('');
}

function afterCarriageReturn(text) {
  const trimmed = text.replace(/\r+$/, '');
  const cr = trimmed.lastIndexOf('\r');
  return cr === -1 ? trimmed : trimmed.slice(cr + 1);
}

function push(segments, raw, style) {
  const text = raw.replace(CONTROLS, '');
  if (!text) return;
  const prev = segments[segments.length - 1];
  if (prev && prev.style === style) prev.text += text;
  else segments.push({ text, style });
}

function applySgr(style, params) {
  const codes = params === '' ? [0] : params.split(/[;:]/).map((p) => (p === '' ? 0 : Number(p)));
  let next = { ...style };
  for (let i = 0; i < codes.length; i++) {
    const c = codes[i];
    if (c === 0) next = { ...PLAIN };
    else if (c === 1) next.bold = true;
    else if (c === 2) next.dim = true;
    else if (c === 3) next.italic = true;
    else if (c === 4) next.underline = true;
    else if (c === 7) next.inverse = true;
    else if (c === 21 || c === 22) { next.bold = false; next.dim = false; }
    else if (c === 23) next.italic = false;
    else if (c === 24) next.underline = false;
    else if (c === 27) next.inverse = false;
    else if (c >= 30 && c <= 37) next.fg = c - 30;
    else if (c >= 90 && c <= 97) next.fg = c - 90 + 8;
    else if (c === 39) next.fg = null;
    else if (c >= 40 && c <= 47) next.bg = c - 40;
    else if (c >= 100 && c <= 107) next.bg = c - 100 + 8;
    else if (c === 49) next.bg = null;
    else if (c === 38 || c === 48) {
      const [colour, used] = extendedColour(codes, i + 1);
      i += used;
      if (colour !== undefined) next[c === 38 ? 'fg' : 'bg'] = colour;
    }
  }
  return Object.freeze(next);
}

/** `5;n` or `2;r;g;b` after a 38/48: [colour, how many codes it used]. */
function extendedColour(codes, at) {
  const byte = (n) => Number.isInteger(n) && n >= 0 && n <= 255;
  if (codes[at] === 5 && byte(codes[at + 1])) return [palette256(codes[at + 1]), 2];
  if (codes[at] === 2 && byte(codes[at + 1]) && byte(codes[at + 2]) && byte(codes[at + 3])) {
    return [`rgb(${codes[at + 1]}, ${codes[at + 2]}, ${codes[at + 3]})`, 4];
  }
  return [undefined, codes.length - at];
}

/** xterm's 256 colours: 0–15 stay palette indices, then a 6×6×6 cube and a grey ramp. */
function palette256(n) {
  if (n < 16) return n;
  if (n >= 232) {
    const v = 8 + (n - 232) * 10;
    return `rgb(${v}, ${v}, ${v})`;
  }
  const levels = [0, 95, 135, 175, 215, 255];
  const i = n - 16;
  return `rgb(${levels[Math.floor(i / 36)]}, ${levels[Math.floor(i / 6) % 6]}, ${levels[i % 6]})`;
}
