/**
 * Recorded response vs replayed response -> the list of differences, named
 * the way `--report` names them: "status", "header:NAME", "body",
 * "json:$.items[3].price", "error". Pure: no I/O, no clock.
 */
import crypto from 'node:crypto';
import { decodeBody } from '../export/bodies';

/**
 * Headers that differ between two healthy runs of the same server, so they
 * say nothing about the response: timestamps, server banners, per-request ids
 * and cookies.
 */
export const NOISY_HEADERS: readonly string[] = ['date', 'age', 'expires', 'last-modified', 'server', 'set-cookie', 'x-request-id', 'traceparent'];

/**
 * Connection-specific fields (RFC 9110 §7.6.1; RFC 9113 §8.2.2 forbids them
 * in HTTP/2): they describe the hop, not the response, and differ between an
 * HTTP/1.1 and an HTTP/2 run of the same exchange.
 */
const HOP_BY_HOP = new Set(['connection', 'keep-alive', 'proxy-connection', 'transfer-encoding', 'upgrade']);

/** At most this many JSON paths per exchange: a wholly different document is one finding, not thousands. */
export const MAX_JSON_PATHS = 20;

export interface ResponseView {
  /** undefined: no final response (reset, error, not recorded) */
  status?: number;
  /** lower-case names, pseudo-headers excluded, in order */
  headers: [string, string][];
  body: Buffer;
  /** why no response arrived */
  error?: string;
}

export interface CompareOptions {
  /** lower-case names, on top of NOISY_HEADERS */
  ignoreHeaders?: Iterable<string>;
  /** JSON paths (`$.a.b`, `$.items[*].price`, `items[3]`) whose subtrees are not compared */
  ignoreJson?: string[];
}

/** A prepared comparison: the ignore lists parsed once for the whole replay. */
export interface Comparator {
  (recorded: ResponseView, replayed: ResponseView): string[];
}

export function comparator(opts: CompareOptions = {}): Comparator {
  const ignored = new Set<string>(NOISY_HEADERS);
  for (const h of opts.ignoreHeaders ?? []) ignored.add(h.toLowerCase());
  const ignoreJson = (opts.ignoreJson ?? []).map(jsonPathMatcher);
  return (rec, rep) => {
    if (rep.error !== undefined || rep.status === undefined) {
      // Both sides failing the same way (a recorded reset, replayed as a reset) is a match.
      return rec.error !== undefined && rec.status === undefined && rep.status === undefined ? [] : ['error'];
    }
    const diffs: string[] = [];
    if (rec.status !== rep.status) diffs.push('status');
    diffs.push(...headerDiffs(rec.headers, rep.headers, ignored));
    diffs.push(...bodyDiffs(rec, rep, ignoreJson));
    return diffs;
  };
}

/** Values of each compared header, joined as RFC 9110 §5.3 combines field lines. */
function headerMap(h: [string, string][], ignored: Set<string>): Map<string, string> {
  const m = new Map<string, string>();
  for (const [rawName, v] of h) {
    const n = rawName.toLowerCase();
    if (n.startsWith(':') || ignored.has(n) || HOP_BY_HOP.has(n)) continue;
    m.set(n, m.has(n) ? `${m.get(n)}, ${v}` : v);
  }
  return m;
}

export function headerDiffs(rec: [string, string][], rep: [string, string][], ignored: Set<string> = new Set(NOISY_HEADERS)): string[] {
  const a = headerMap(rec, ignored);
  const b = headerMap(rep, ignored);
  const out: string[] = [];
  for (const [n, v] of a) if (b.get(n) !== v) out.push(`header:${n}`);
  for (const n of b.keys()) if (!a.has(n)) out.push(`header:${n}`);
  return out;
}

const header = (h: [string, string][], name: string): string | undefined => h.find(([n]) => n.toLowerCase() === name)?.[1];

function bodyDiffs(rec: ResponseView, rep: ResponseView, ignoreJson: RegExp[]): string[] {
  // Compare what the content-encoding carries: the same JSON may compress differently.
  const a = decodeBody(rec.body, header(rec.headers, 'content-encoding')).data;
  const b = decodeBody(rep.body, header(rep.headers, 'content-encoding')).data;
  const ja = parseJson(a, header(rec.headers, 'content-type'));
  const jb = ja === NOT_JSON ? NOT_JSON : parseJson(b, header(rep.headers, 'content-type'));
  if (ja !== NOT_JSON && jb !== NOT_JSON) {
    return jsonDiff(ja, jb)
      .filter((p) => !ignoreJson.some((re) => re.test(p)))
      .slice(0, MAX_JSON_PATHS)
      .map((p) => `json:${p}`);
  }
  // Equal bytes <=> equal length and sha256; comparing the bytes skips two hashes per exchange.
  if (!a.equals(b)) return ['body'];
  return [];
}

export function sha256(b: Uint8Array): string {
  return crypto.createHash('sha256').update(b).digest('hex');
}

const NOT_JSON = Symbol('not JSON');

/** A body is compared as JSON when it says so, or when it plainly is an object or array. */
function parseJson(b: Buffer, contentType: string | undefined): unknown {
  if (b.length === 0) return NOT_JSON;
  const declared = contentType !== undefined && /[/+]json\b/i.test(contentType);
  const first = b.subarray(0, 64).toString('utf8').trimStart()[0];
  if (!declared && first !== '{' && first !== '[') return NOT_JSON;
  try {
    return JSON.parse(b.toString('utf8')) as unknown;
  } catch {
    return NOT_JSON;
  }
}

const IDENT = /^[A-Za-z_$][A-Za-z0-9_$]*$/;

/** `$.a.b[3]`, with `['odd key']` for keys that are not identifiers. */
export function childPath(parent: string, key: string | number): string {
  if (typeof key === 'number') return `${parent}[${key}]`;
  return IDENT.test(key) ? `${parent}.${key}` : `${parent}[${JSON.stringify(key).replace(/^"|"$/g, "'")}]`;
}

/**
 * Structural differences as JSON paths, depth first in document order: a
 * changed scalar, a changed type, a key or array element on one side only.
 * Key order and whitespace do not matter (RFC 8259 §4: objects are unordered).
 */
export function jsonDiff(a: unknown, b: unknown, path = '$', out: string[] = [], limit = MAX_JSON_PATHS * 50): string[] {
  if (out.length >= limit) return out;
  const kind = (v: unknown): string => (v === null ? 'null' : Array.isArray(v) ? 'array' : typeof v);
  const ka = kind(a);
  if (ka !== kind(b)) {
    out.push(path);
    return out;
  }
  if (ka === 'array') {
    const x = a as unknown[];
    const y = b as unknown[];
    for (let i = 0; i < Math.max(x.length, y.length); i++) {
      if (i >= x.length || i >= y.length) out.push(childPath(path, i));
      else jsonDiff(x[i], y[i], childPath(path, i), out, limit);
    }
    return out;
  }
  if (ka === 'object') {
    const x = a as Record<string, unknown>;
    const y = b as Record<string, unknown>;
    for (const k of Object.keys(x)) {
      if (!Object.prototype.hasOwnProperty.call(y, k)) out.push(childPath(path, k));
      else jsonDiff(x[k], y[k], childPath(path, k), out, limit);
    }
    for (const k of Object.keys(y)) if (!Object.prototype.hasOwnProperty.call(x, k)) out.push(childPath(path, k));
    return out;
  }
  if (a !== b) out.push(path);
  return out;
}

/**
 * `--ignore-json` pattern -> a matcher of the diff paths it covers: the path
 * itself and everything below it. `[*]` (or `.*`) matches any index or key;
 * a leading `$` is optional.
 */
export function jsonPathMatcher(pattern: string): RegExp {
  let p = pattern.trim();
  if (!p.startsWith('$')) p = p.startsWith('[') ? `$${p}` : `$.${p}`;
  const escaped = p
    .split(/(\[\*\]|\.\*)/)
    .map((part) => (part === '[*]' ? '\\[[^\\]]*\\]' : part === '.*' ? '(?:\\.[^.[]+|\\[[^\\]]*\\])' : part.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')))
    .join('');
  return new RegExp(`^${escaped}(?=$|[.[])`);
}
