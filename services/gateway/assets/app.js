// The dashboard's entry: a hash router (`#/`, `#/?status=Running&page=2`,
// `#/queue/<id>`, `#/tests?state=flaky`, `#/test?repo=...&task=...`, `#/workers`, `#/sizes?repo=...&profile=...`,
// `#/bisects`, `#/bisect/<id>`, `#/boards`, `#/board/<worker>/<board>`), so the gateway serves one page and every view has a URL
// that can be shared. Each page is mounted into <main> and destroyed (its
// timers and streams closed) when the route changes.

import { h, replace } from './dom.js';
import { listPage } from './list_page.js';
import { queuePage } from './queue_page.js';
import { workersPage } from './workers_page.js';
import { testsPage } from './tests_page.js';
import { testPage } from './test_page.js';
import { testFromParams } from './test_history.js';
import { sizesPage } from './sizes_page.js';
import { bisectsPage } from './bisects_page.js';
import { bisectPage } from './bisect_page.js';
import { boardsPage } from './boards_page.js';
import { boardPage } from './board_page.js';
import { boardFromPath } from './boards.js';

const root = document.getElementById('app');
const flashBox = document.getElementById('flash');
let current = null;
let flashTimer = null;

/** A short message at the top that outlives a route change. */
function flash(text, kind = 'info') {
  clearTimeout(flashTimer);
  flashBox.className = `flash flash-${kind}`;
  flashBox.dataset.kind = kind;
  replace(flashBox, text);
  flashBox.hidden = false;
  flashTimer = setTimeout(() => { flashBox.hidden = true; }, kind === 'error' ? 8000 : 4000);
}

const ctx = { flash };

/** An id from the URL's path, as it was before `encodeURIComponent`. */
function pathId(segment) {
  try { return decodeURIComponent(segment); } catch { return segment; }
}

function route() {
  current?.destroy();
  current = null;
  const hash = window.location.hash.replace(/^#/, '') || '/';
  const [path, query = ''] = hash.split('?');
  const params = new URLSearchParams(query);
  const queue = path.match(/^\/queue\/([^/]+)\/?$/);
  const tests = path === '/tests' || path === '/test';
  const workers = path === '/workers';
  const bisect = path.match(/^\/bisect\/([^/]+)\/?$/);
  const bisects = path === '/bisects' || bisect !== null;
  const sizes = path === '/sizes';
  const board = boardFromPath(path);
  const boards = path === '/boards' || board !== null;
  document.querySelector('[data-nav="queues"]')?.classList.toggle('active', !queue && !tests && !workers && !bisects && !sizes && !boards);
  document.querySelector('[data-nav="boards"]')?.classList.toggle('active', boards);
  document.querySelector('[data-nav="sizes"]')?.classList.toggle('active', sizes);
  document.querySelector('[data-nav="bisects"]')?.classList.toggle('active', bisects);
  document.querySelector('[data-nav="tests"]')?.classList.toggle('active', tests);
  document.querySelector('[data-nav="workers"]')?.classList.toggle('active', workers);
  if (path === '/' || path === '') {
    current = listPage(root, params, ctx);
  } else if (workers) {
    current = workersPage(root, ctx);
  } else if (path === '/boards') {
    current = boardsPage(root);
  } else if (board) {
    current = boardPage(root, board, ctx);
  } else if (path === '/test') {
    current = testPage(root, testFromParams(params));
  } else if (tests) {
    current = testsPage(root, params, ctx);
  } else if (path === '/sizes') {
    current = sizesPage(root, params);
  } else if (path === '/bisects') {
    current = bisectsPage(root);
  } else if (bisect) {
    current = bisectPage(root, pathId(bisect[1]), ctx);
  } else if (queue) {
    current = queuePage(root, pathId(queue[1]), ctx);
  } else {
    document.title = 'Not found · TestArena';
    replace(root, h('div', { class: 'state', 'data-test': 'not-found' },
      h('p', { class: 'state-title' }, 'There is no page here.'),
      h('a', { class: 'btn', href: '#/' }, 'All queues')));
  }
  window.scrollTo(0, 0);
}

window.addEventListener('hashchange', route);
route();
