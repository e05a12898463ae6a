// A board's live console: xterm.js (vendored, see vendor/README.md) on the
// WebSocket `GET /api/boards/{worker}/{board}/console`. The server sends a
// JSON hello (naming this page's token), then the board's recent output and
// what it prints live as binary frames, and JSON notices as text frames;
// keystrokes go back as binary frames. Only the reserver's input reaches
// the board — the gateway drops anyone else's — and the note above the
// screen says which this page is. A dropped socket reconnects, starting the
// screen over since the server replays its recent output.

import { Terminal } from './xterm.mjs';
import { consoleFrame, consoleUrl } from './boards.js';
import { h, replace } from './dom.js';

const RETRY_MS = 2000;

/** `onHello(token)`: the gateway named this page's token (on each connect). */
export function boardConsole(worker, board, { onHello }) {
  const status = h('span', { class: 'conn conn-connecting', 'data-test': 'console-status' }, 'connecting…');
  const note = h('p', { class: 'console-note muted small', 'data-test': 'console-note' });
  const notice = h('p', { class: 'log-note', 'data-test': 'console-notice', hidden: true });
  const screen = h('div', { class: 'console-screen', 'data-test': 'console' });
  const element = h('section', { class: 'card console-panel', 'aria-label': 'Console' },
    h('div', { class: 'log-toolbar' }, h('h2', {}, 'Console'), status), note, notice, screen);

  const term = new Terminal({
    rows: 24, cols: 100, scrollback: 5000, cursorBlink: true, fontSize: 13,
    fontFamily: 'ui-monospace, SFMono-Regular, Menlo, Consolas, monospace',
  });
  const encoder = new TextEncoder();
  let socket = null;
  let timer = null;
  let opened = 0;
  let stopped = false;

  function setStatus(kind, text) {
    status.className = `conn conn-${kind}`;
    status.dataset.state = kind;
    status.textContent = text;
  }

  function showNotice(message) {
    notice.hidden = false;
    notice.textContent = message;
  }

  function send(bytes) {
    if (socket?.readyState === WebSocket.OPEN) socket.send(bytes);
  }

  function connect() {
    socket = new WebSocket(consoleUrl(window.location, worker, board));
    socket.binaryType = 'arraybuffer';
    socket.onopen = () => {
      // A reconnect replays the recent output: start the screen over.
      if (opened++ > 0) term.reset();
      setStatus('live', 'live');
    };
    socket.onmessage = (event) => {
      if (typeof event.data !== 'string') {
        term.write(new Uint8Array(event.data));
        return;
      }
      const frame = consoleFrame(event.data);
      if (frame.kind === 'hello') onHello(frame.token);
      else if (frame.kind === 'notice') showNotice(frame.message);
      else term.write(frame.text);
    };
    socket.onclose = (event) => {
      if (stopped) return;
      setStatus('reconnecting', `closed${event.reason ? `: ${event.reason}` : ''} · reconnecting`);
      timer = setTimeout(connect, RETRY_MS);
    };
  }

  term.onData((data) => send(encoder.encode(data)));
  // Mouse reports and the like that are not UTF-8 text.
  term.onBinary((data) => send(Uint8Array.from(data, (c) => c.charCodeAt(0) & 0xff)));

  return {
    element,
    /** Opens the terminal (its element must be in the page to be measured) and connects. */
    start() {
      term.open(screen);
      connect();
    },
    /** Says whether this page's keystrokes reach the board now: boards.js's `consoleNote`. */
    setNote({ mode, text }) {
      replace(note, text);
      note.dataset.mode = mode;
      // A notice ("your input is not sent") is stale once the page may type.
      if (mode === 'read-write') notice.hidden = true;
    },
    destroy() {
      stopped = true;
      clearTimeout(timer);
      socket?.close();
      term.dispose();
    },
  };
}
