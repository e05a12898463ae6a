// The firmware-size trend as SVG geometry (pure, no DOM): one line each for
// text, data and bss over the commits of one repository and profile, oldest
// on the left. `/api/sizes` answers newest first in commit order (by
// first-parent depth, which the worker records at checkout); the chart
// reverses it. Also a firmware's use of its size budget.

export const SERIES = ['text', 'data', 'bss'];

/** A y-axis top that reads well: 1, 2 or 5 times a power of ten, ≥ max. */
export function niceCeiling(max) {
  if (!(max > 0)) return 1;
  const power = 10 ** Math.floor(Math.log10(max));
  for (const step of [1, 2, 5, 10]) {
    if (step * power >= max) return step * power;
  }
  return 10 * power;
}

/**
 * Points of each series in a `width` × `height` box with `pad` around the
 * plot; `x` spreads the commits evenly (one commit sits in the middle).
 */
export function chartGeometry(sizes, { width = 640, height = 220, pad = 36 } = {}) {
  const entries = [...sizes].reverse();
  const top = niceCeiling(Math.max(0, ...entries.flatMap((e) => SERIES.map((s) => e[s]))));
  const plotW = width - 2 * pad;
  const plotH = height - 2 * pad;
  const x = (i) => pad + (entries.length === 1 ? plotW / 2 : (i * plotW) / (entries.length - 1));
  const y = (v) => pad + plotH - (v / top) * plotH;
  const round = (n) => Math.round(n * 10) / 10;
  const series = SERIES.map((name) => ({
    name,
    points: entries.map((e, i) => ({ x: round(x(i)), y: round(y(e[name])), value: e[name], commit: e.commit })),
  }));
  return {
    width, height, top, series,
    labels: entries.map((e, i) => ({ x: round(x(i)), text: e.commit ? e.commit.slice(0, 7) : e.queue_id })),
    baseline: round(y(0)),
  };
}

/** The `points` attribute of an SVG polyline. */
export const polylinePoints = (points) => points.map((p) => `${p.x},${p.y}`).join(' ');

/** "+120 B" / "−8 B" / "±0 B": how the newest entry differs from the one before. */
export function latestChange(sizes, name) {
  if (sizes.length < 2) return null;
  return signedBytes(sizes[0][name] - sizes[1][name]);
}

/** `used` as a whole percentage of `budget`, rounded up (as the projector counts it); null without one. */
export function percentOf(used, budget) {
  if (!(budget > 0)) return null;
  return Math.ceil((used * 100) / budget);
}

/**
 * A firmware's use of its budget: flash is text + data, RAM data + bss.
 * `budget` as the view has it (`{flash_bytes, ram_bytes}`) or a size entry's
 * `flash_budget` / `ram_budget`. Each part null without a budget for it.
 */
export function budgetUse(size, budget) {
  const part = (used, most) => (most ? { used, budget: most, percent: percentOf(used, most), over: used > most } : null);
  return {
    flash: part(size.text + size.data, budget?.flash_bytes ?? budget?.flash_budget ?? null),
    ram: part(size.data + size.bss, budget?.ram_bytes ?? budget?.ram_budget ?? null),
  };
}

/** "+120 B" / "−8 B" / "±0 B" for a signed byte count. */
export function signedBytes(delta) {
  if (delta === 0) return '±0 B';
  return `${delta > 0 ? '+' : '−'}${Math.abs(delta)} B`;
}
