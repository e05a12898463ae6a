// The queue list's filters and their two spellings: the page's URL
// (`#/?repo=…&status=Finished&cursor=…&from=51`, so a filtered list can be
// shared and survives a reload) and the API's query string. Pure.
//
// Pages go by the API's `cursor` (the next page's key; `from` is only the
// first row's number, for the "51–100 of …" line). `page=N` links made
// before cursors still open their page.

export const STATUSES = ['Waiting', 'Running', 'Finished', 'Error', 'Cancelled'];

/** Text filters, in the order the form shows them. `q` searches everything. */
export const TEXT_FILTERS = ['q', 'repo', 'ref', 'commit', 'profile'];

/**
 * Bisect step queues: `null` leaves them out (the API's default,
 * `exclude`), `include` lists them too, `only` lists nothing else.
 */
export const BISECT_STEPS = ['include', 'only'];

/** Any case of a status name → its canonical spelling; anything else → null. */
export function canonicalStatus(value) {
  if (!value) return null;
  const lower = String(value).trim().toLowerCase();
  return STATUSES.find((s) => s.toLowerCase() === lower) ?? null;
}

/** A cursor as the API gives them (URL-safe base64), else null. */
const validCursor = (value) => (/^[A-Za-z0-9_-]{1,256}$/.test(value ?? '') ? value : null);

/** The filters a URL's query asks for; unknown keys and empty values are dropped. */
export function filtersFromParams(params) {
  const filters = { status: canonicalStatus(params.get('status')), page: 1 };
  for (const key of TEXT_FILTERS) {
    const value = (params.get(key) ?? '').trim();
    filters[key] = value || null;
  }
  const bisect = params.get('bisect');
  filters.bisect = BISECT_STEPS.includes(bisect) ? bisect : null;
  const page = Number.parseInt(params.get('page') ?? '1', 10);
  filters.page = Number.isFinite(page) && page > 1 ? page : 1;
  filters.cursor = validCursor(params.get('cursor'));
  const from = Number.parseInt(params.get('from') ?? '1', 10);
  filters.from = filters.cursor && Number.isFinite(from) && from > 1 ? from : 1;
  return filters;
}

/** The same filters from their first page: what a change of filter links to. */
export const firstPage = (filters) => ({ ...filters, page: 1, cursor: null, from: 1 });

/** The page after this one: `cursor` is the answer's `next_cursor`, `from` its first row's number. */
export const pageAfter = (filters, cursor, from) => ({ ...filters, page: 1, cursor, from });

function setFilters(query, filters) {
  for (const key of TEXT_FILTERS) {
    const value = filters[key]?.trim();
    if (value) query.set(key, value);
  }
  if (filters.status) query.set('status', filters.status);
  if (filters.bisect) query.set('bisect', filters.bisect);
}

/** The list page's hash for these filters: `#/` when there are none. */
export function listHash(filters) {
  const query = new URLSearchParams();
  setFilters(query, filters);
  if (filters.cursor) {
    query.set('cursor', filters.cursor);
    if ((filters.from ?? 1) > 1) query.set('from', String(filters.from));
  } else if ((filters.page ?? 1) > 1) {
    query.set('page', String(filters.page));
  }
  const text = query.toString();
  return text ? `#/?${text}` : '#/';
}

/** `GET /api/queues`'s query string: by `cursor` when there is one. */
export function apiQuery(filters, perPage) {
  const query = new URLSearchParams(filters.cursor
    ? { cursor: filters.cursor, per_page: String(perPage) }
    : { page: String(filters.page ?? 1), per_page: String(perPage) });
  setFilters(query, filters);
  return query;
}

/** True when anything but the page narrows the list. */
export const isFiltered = (filters) => Boolean(filters.status) || filters.bisect === 'only'
  || TEXT_FILTERS.some((k) => filters[k]);

/** "Finished queues matching repo “fw”, ref “main”" — what the empty state and title say. */
export function describeFilters(filters) {
  const words = TEXT_FILTERS.filter((k) => filters[k])
    .map((k) => `${k === 'q' ? 'search' : k} “${filters[k]}”`);
  const kind = filters.bisect === 'only' ? 'bisect step queues' : 'queues';
  const what = filters.status ? `${filters.status.toLowerCase()} ${kind}` : kind;
  return words.length ? `${what} matching ${words.join(', ')}` : what;
}
