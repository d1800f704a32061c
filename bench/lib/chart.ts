/**
 * A two-axis line chart as SVG, written by hand: time (left axis) and peak
 * RSS (right axis) against journal size, with the time's linear fit and the
 * RSS target drawn for comparison.
 */

export interface ChartPoint {
  x: number;
  seconds: number | null;
  cpuSeconds?: number | null;
  rssMb: number | null;
}

export interface ChartOptions {
  title: string;
  xLabel: string;
  fit?: { a: number; b: number; label: string } | null;
  rssTargetMb?: number;
}

/** An axis maximum at or above v whose five ticks are round (1, 2, 2.5 or 5 x 10^k apart). */
export function niceCeil(v: number): number {
  if (!(v > 0)) return 1;
  const step = v / 5;
  const e = 10 ** Math.floor(Math.log10(step));
  for (const m of [1, 2, 2.5, 5, 10]) if (m * e >= step * (1 - 1e-9)) return 5 * m * e;
  return 50 * e;
}

function esc(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}

/** A tick label with as many decimals as the tick step needs. */
function tick(v: number, step: number): string {
  let d = 0;
  while (d < 3 && Math.abs(step * 10 ** d - Math.round(step * 10 ** d)) > 1e-6) d++;
  return v.toFixed(d);
}

function fmt(v: number): string {
  return Number.isInteger(v) ? String(v) : v.toFixed(v < 1 ? 2 : 1);
}

export function scalingSvg(points: ChartPoint[], o: ChartOptions): string {
  const W = 720;
  const H = 400;
  const m = { l: 70, r: 80, t: 50, b: 85 };
  const pw = W - m.l - m.r;
  const ph = H - m.t - m.b;
  const xs = points.map((p) => p.x);
  const xMax = niceCeil(Math.max(...xs, 1) * 1.05);
  const secs = points.flatMap((p) => [p.seconds ?? 0, p.cpuSeconds ?? 0]);
  const fitAtMax = o.fit ? o.fit.a + o.fit.b * xMax : 0;
  const yMax = niceCeil(Math.max(...secs, fitAtMax, 0.001) * 1.1);
  const rss = points.map((p) => p.rssMb ?? 0);
  const rMax = niceCeil(Math.max(...rss, o.rssTargetMb ?? 0) * 1.1);
  const X = (x: number): number => m.l + (x / xMax) * pw;
  const Y = (y: number): number => m.t + ph - (y / yMax) * ph;
  const R = (r: number): number => m.t + ph - (r / rMax) * ph;
  const blue = '#1f77b4';
  const orange = '#d62728';
  const el: string[] = [];
  el.push(`<rect x="0" y="0" width="${W}" height="${H}" fill="white"/>`);
  el.push(`<text x="${W / 2}" y="26" text-anchor="middle" font-size="16" font-weight="bold">${esc(o.title)}</text>`);
  // grid and ticks
  for (let i = 0; i <= 5; i++) {
    const yv = (yMax * i) / 5;
    const rv = (rMax * i) / 5;
    const y = Y(yv);
    el.push(`<line x1="${m.l}" y1="${y}" x2="${m.l + pw}" y2="${y}" stroke="#e5e5e5"/>`);
    el.push(`<text x="${m.l - 8}" y="${y + 4}" text-anchor="end" font-size="12" fill="${blue}">${tick(yv, yMax / 5)}</text>`);
    el.push(`<text x="${m.l + pw + 8}" y="${y + 4}" text-anchor="start" font-size="12" fill="${orange}">${tick(rv, rMax / 5)}</text>`);
    const xv = (xMax * i) / 5;
    el.push(`<line x1="${X(xv)}" y1="${m.t + ph}" x2="${X(xv)}" y2="${m.t + ph + 5}" stroke="black"/>`);
    el.push(`<text x="${X(xv)}" y="${m.t + ph + 20}" text-anchor="middle" font-size="12">${tick(xv, xMax / 5)}</text>`);
  }
  el.push(`<rect x="${m.l}" y="${m.t}" width="${pw}" height="${ph}" fill="none" stroke="black"/>`);
  el.push(`<text x="${m.l + pw / 2}" y="${m.t + ph + 40}" text-anchor="middle" font-size="13">${esc(o.xLabel)}</text>`);
  el.push(`<text transform="translate(18 ${m.t + ph / 2}) rotate(-90)" text-anchor="middle" font-size="13" fill="${blue}">analyze --format json: seconds</text>`);
  el.push(`<text transform="translate(${W - 16} ${m.t + ph / 2}) rotate(90)" text-anchor="middle" font-size="13" fill="${orange}">peak RSS, MB</text>`);
  if (o.fit && Number.isFinite(o.fit.a) && Number.isFinite(o.fit.b)) {
    el.push(`<line x1="${X(0)}" y1="${Y(Math.max(0, o.fit.a))}" x2="${X(xMax)}" y2="${Y(fitAtMax)}" stroke="${blue}" stroke-dasharray="6 4" stroke-width="1.5"/>`);
  }
  if (o.rssTargetMb !== undefined) {
    const y = R(o.rssTargetMb);
    el.push(`<line x1="${m.l}" y1="${y}" x2="${m.l + pw}" y2="${y}" stroke="${orange}" stroke-dasharray="2 4" stroke-width="1.5"/>`);
    el.push(`<text x="${m.l + 6}" y="${y - 6}" text-anchor="start" font-size="11" fill="${orange}">RSS target ${o.rssTargetMb} MB</text>`);
  }
  const cpuPts = points.filter((p) => p.cpuSeconds !== null && p.cpuSeconds !== undefined);
  if (cpuPts.length) {
    el.push(`<polyline fill="none" stroke="${blue}" stroke-opacity="0.55" stroke-width="1.5" points="${cpuPts.map((p) => `${X(p.x)},${Y(p.cpuSeconds as number)}`).join(' ')}"/>`);
    for (const p of cpuPts) el.push(`<circle cx="${X(p.x)}" cy="${Y(p.cpuSeconds as number)}" r="4" fill="white" stroke="${blue}" stroke-width="1.5"/>`);
  }
  const timePts = points.filter((p) => p.seconds !== null);
  const rssPts = points.filter((p) => p.rssMb !== null);
  if (timePts.length) {
    el.push(`<polyline fill="none" stroke="${blue}" stroke-width="2.5" points="${timePts.map((p) => `${X(p.x)},${Y(p.seconds as number)}`).join(' ')}"/>`);
    for (const p of timePts) {
      el.push(`<circle cx="${X(p.x)}" cy="${Y(p.seconds as number)}" r="4.5" fill="${blue}"/>`);
      el.push(`<text x="${X(p.x) - 8}" y="${Y(p.seconds as number) - 8}" text-anchor="end" font-size="11" fill="${blue}">${fmt(Number((p.seconds as number).toFixed(2)))} s</text>`);
    }
  }
  if (rssPts.length) {
    el.push(`<polyline fill="none" stroke="${orange}" stroke-width="2.5" points="${rssPts.map((p) => `${X(p.x)},${R(p.rssMb as number)}`).join(' ')}"/>`);
    for (const p of rssPts) {
      el.push(`<rect x="${X(p.x) - 4}" y="${R(p.rssMb as number) - 4}" width="8" height="8" fill="${orange}"/>`);
      el.push(`<text x="${X(p.x) + 8}" y="${R(p.rssMb as number) + 16}" text-anchor="start" font-size="11" fill="${orange}">${Math.round(p.rssMb as number)} MB</text>`);
    }
  }
  // legend, in one row under the x-axis label so it never covers a point
  const ly = H - 16;
  const items: string[] = [];
  let lx = m.l;
  const item = (glyph: (x: number) => string, label: string): void => {
    items.push(glyph(lx), `<text x="${lx + 30}" y="${ly + 4}" font-size="12">${esc(label)}</text>`);
    lx += 30 + label.length * 6.6 + 18;
  };
  item((x) => `<line x1="${x}" y1="${ly}" x2="${x + 24}" y2="${ly}" stroke="${blue}" stroke-width="2.5"/><circle cx="${x + 12}" cy="${ly}" r="4" fill="${blue}"/>`, 'wall time (median)');
  if (cpuPts.length) {
    item((x) => `<line x1="${x}" y1="${ly}" x2="${x + 24}" y2="${ly}" stroke="${blue}" stroke-opacity="0.55" stroke-width="1.5"/><circle cx="${x + 12}" cy="${ly}" r="4" fill="white" stroke="${blue}" stroke-width="1.5"/>`, 'CPU time');
  }
  item((x) => `<line x1="${x}" y1="${ly}" x2="${x + 24}" y2="${ly}" stroke="${orange}" stroke-width="2.5"/><rect x="${x + 8}" y="${ly - 4}" width="8" height="8" fill="${orange}"/>`, 'peak RSS');
  if (o.fit) item((x) => `<line x1="${x}" y1="${ly}" x2="${x + 24}" y2="${ly}" stroke="${blue}" stroke-dasharray="6 4" stroke-width="1.5"/>`, o.fit.label);
  el.push(...items);
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" font-family="sans-serif">\n${el.join('\n')}\n</svg>\n`;
}
