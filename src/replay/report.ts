/**
 * Replay results as text and JSON Lines: one line per exchange while running,
 * the `--report` objects, the closing summary grouped by method, normalised
 * path and kind of difference, the `--dry-run` plan and its curl rendering.
 * Pure functions of the data.
 */
import { shellQuote } from '../export/export';
import { plural } from '../words';
import type { Plan, PlanItem, SkippedItem } from './plan';

export interface ExchangeResult {
  item: PlanItem;
  status?: number;
  latencyMs?: number;
  error?: string;
  diffs: string[];
  /** ms after its deadline the request was issued */
  lateMs: number;
}

const fmtMs = (v: number | undefined): string => (v === undefined ? '-' : v < 10 ? v.toFixed(1) : Math.round(v).toString());

/** `=` match, `~` differs, `!` error; then conn/stream, method, path, status and latency recorded→replayed. */
export function exchangeLine(r: ExchangeResult): string {
  const mark = r.error !== undefined ? '!' : r.diffs.length ? '~' : '=';
  const rec = r.item.recorded;
  const base = `${mark} ${r.item.conn}/${r.item.stream} ${r.item.method} ${r.item.path} ${rec.status ?? '-'}→${r.status ?? '-'} ${fmtMs(rec.latencyMs)}→${fmtMs(r.latencyMs)} ms`;
  if (r.error !== undefined) return `${base}  ${r.error}`;
  return r.diffs.length ? `${base}  ${r.diffs.join(' ')}` : base;
}

/** One `--report` object (JSON Lines), for a replayed or a skipped exchange. */
export function reportObject(r: ExchangeResult | SkippedItem): Record<string, unknown> {
  if ('reason' in r) return { kind: 'exchange', conn: r.conn, stream: r.stream, method: r.method ?? null, path: r.path ?? null, skipped: r.reason };
  const rec = r.item.recorded;
  const o: Record<string, unknown> = {
    kind: 'exchange',
    conn: r.item.conn,
    stream: r.item.stream,
    method: r.item.method,
    path: r.item.path,
    status: [rec.status ?? null, r.status ?? null],
    latencyMs: [round(rec.latencyMs), round(r.latencyMs)],
    match: r.error === undefined && r.diffs.length === 0,
    diffs: r.diffs,
  };
  if (r.error !== undefined) o.error = r.error;
  return o;
}

const round = (v: number | undefined): number | null => (v === undefined ? null : Math.round(v * 1000) / 1000);

/**
 * `/orders/12345/items?id=9` -> `/orders/{id}/items?id`: segments that are
 * numbers, UUIDs, long hex or long opaque tokens become `{id}`; the query
 * keeps its keys only.
 */
export function normalisePath(p: string): string {
  const q = p.indexOf('?');
  const pathPart = q < 0 ? p : p.slice(0, q);
  const segs = pathPart.split('/').map((s) => {
    if (s === '') return s;
    if (/^\d+$/.test(s)) return '{id}';
    if (/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i.test(s)) return '{id}';
    if (/^[0-9a-f]{12,}$/i.test(s)) return '{id}';
    // A long token mixing letters and digits (base64url ids, hashes) is an id, a word is not.
    if (s.length >= 16 && /^[A-Za-z0-9_-]+$/.test(s) && /\d/.test(s) && /[A-Za-z]/.test(s)) return '{id}';
    return s;
  });
  let out = segs.join('/');
  if (q >= 0) {
    const keys = p
      .slice(q + 1)
      .split('&')
      .filter(Boolean)
      .map((kv) => kv.split('=')[0]);
    out += `?${[...new Set(keys)].sort().join('&')}`;
  }
  return out;
}

/** The kind of a difference for grouping: JSON array indices become [*]. */
export function diffKind(d: string): string {
  return d.startsWith('json:') ? d.replace(/\[\d+\]/g, '[*]') : d;
}

export interface SummaryGroup {
  method: string;
  path: string;
  kind: string;
  count: number;
  example: ExchangeResult;
}

/** Differing exchanges grouped by (method, normalised path, kind of difference: the set of diffs), largest group first. */
export function groupDiffs(results: ExchangeResult[]): SummaryGroup[] {
  const groups = new Map<string, SummaryGroup>();
  for (const r of results) {
    if (r.error === undefined && r.diffs.length === 0) continue;
    // The kind is the whole set of differences: one line per way a path differs, not one per header.
    const kind = r.error !== undefined ? `error: ${r.error}` : [...new Set(r.diffs.map(diffKind))].join(' ');
    const path = normalisePath(r.item.path);
    const key = `${r.item.method} ${path} ${kind}`;
    const g = groups.get(key);
    if (g) g.count++;
    else groups.set(key, { method: r.item.method, path, kind, count: 1, example: r });
  }
  return [...groups.values()].sort((a, b) => b.count - a.count || a.path.localeCompare(b.path) || a.kind.localeCompare(b.kind));
}

export interface RunFigures {
  /** wall time from the first deadline to the last response, ms */
  elapsedMs: number;
  /** undefined at --speed max: sends follow responses there, not deadlines */
  late?: { median: number; p99: number; max: number };
  peak: number;
  held: number;
  limit?: number;
}

/** The closing summary lines. */
export function summaryLines(plan: Plan, results: ExchangeResult[], f: RunFigures): string[] {
  const matched = results.filter((r) => r.error === undefined && r.diffs.length === 0).length;
  const errors = results.filter((r) => r.error !== undefined).length;
  const differ = results.length - matched - errors;
  const lines: string[] = [];
  lines.push(
    `replayed ${plural(results.length, 'exchange')} on ${plural(plan.conns.length, 'connection')} in ${(f.elapsedMs / 1000).toFixed(2)} s: ` +
      `${matched} matched, ${differ} differed, ${plural(errors, 'error')}; ${plan.skipped.length} skipped`,
  );
  lines.push(`concurrency: peak ${f.peak} streams in flight (recorded peak ${plan.recordedPeak})`);
  if (f.held > 0) {
    lines.push(
      `held back: ${plural(f.held, 'stream')} of ${results.filter((r) => r.item.protocol === 'h2').length} waited for a free slot: the target allows ` +
        `${f.limit ?? '?'} concurrent streams (SETTINGS_MAX_CONCURRENT_STREAMS), the recording had ${plan.recordedPeak} in flight`,
    );
  }
  lines.push(f.late ? `send lateness: median ${f.late.median.toFixed(1)} ms, p99 ${f.late.p99.toFixed(1)} ms` : 'send lateness: none at --speed max (no deadlines)');
  for (const g of groupDiffs(results)) {
    const e = g.example;
    lines.push(`${e.error !== undefined ? '!' : '~'} ${g.count}× ${g.method} ${g.path} ${g.kind} (e.g. ${e.item.conn}/${e.item.stream} ${e.item.path})`);
  }
  for (const [reason, n] of countReasons(plan.skipped)) lines.push(`skipped ${n}: ${reason}`);
  return lines;
}

function countReasons(skipped: SkippedItem[]): Map<string, number> {
  const m = new Map<string, number>();
  for (const s of skipped) m.set(s.reason, (m.get(s.reason) ?? 0) + 1);
  return m;
}

/** `--dry-run`: what would be sent, and what not. */
export function planLines(plan: Plan, durationMs: number, speedLabel: string): string[] {
  const lines: string[] = [];
  const methods = new Map<string, number>();
  for (const it of plan.items) methods.set(it.method, (methods.get(it.method) ?? 0) + 1);
  lines.push(`plan: ${plural(plan.items.length, 'stream')} on ${plural(plan.conns.length, 'connection')}, ${plan.skipped.length} skipped`);
  lines.push(`methods: ${[...methods].map(([m, n]) => `${m} ${n}`).join(', ') || 'none'}`);
  lines.push(`duration at speed ${speedLabel}: ${(durationMs / 1000).toFixed(2)} s`);
  lines.push(`peak concurrency: ${plan.recordedPeak} streams`);
  for (const c of plan.conns) {
    lines.push(`conn ${c.id} (${c.protocol === 'h2' ? 'HTTP/2' : 'HTTP/1.1'}): ${plural(c.items.length, 'stream')}`);
    for (const it of c.items) lines.push(`  ${it.stream} ${it.method} ${it.path}${it.body.length ? ` (${it.body.reduce((n, p) => n + p.data.length, 0)} body bytes)` : ''}`);
  }
  for (const s of plan.skipped) lines.push(`skip ${s.conn}/${s.stream} ${s.method ?? '-'} ${s.path ?? '-'}: ${s.reason}`);
  if (plan.sensitive.size) {
    const names = [...plan.sensitive].map(([n, k]) => `${n} (${k})`).join(', ');
    lines.push(`sensitive headers found: ${names}; ${plan.sensitiveDropped ? 'dropped (--keep-sensitive sends them)' : 'sent (--keep-sensitive)'}`);
  } else lines.push('sensitive headers found: none');
  return lines;
}

/**
 * One request as a curl command line (`--dry-run --format curl`), to re-run
 * it by hand. A body goes through a file, written by the caller.
 */
export function curlCommand(it: PlanItem, target: URL | undefined, bodyFile?: string): string {
  const base = target ? target.origin : `https://${it.authority ?? 'localhost'}`;
  const args = ['curl', it.protocol === 'h2' ? (base.startsWith('https:') ? '--http2' : '--http2-prior-knowledge') : '--http1.1'];
  if (it.method === 'HEAD') args.push('--head');
  else if (it.method !== 'GET' || bodyFile) args.push('-X', it.method);
  for (const [k, v] of it.headers) args.push('-H', `${k}: ${v}`);
  if (bodyFile) args.push('--data-binary', `@${bodyFile}`);
  args.push(base + it.path);
  return args.map((a, i) => (i === 0 || /^--?[A-Za-z0-9-]+$/.test(a) ? a : shellQuote(a))).join(' ');
}
