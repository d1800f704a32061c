/**
 * A hand-written HAR 1.2 structure check (http://www.softwareishard.com/blog/har-12-spec/):
 * every required member with its type. Returns the problems found, [] when valid.
 */
type Obj = Record<string, unknown>;

export function harProblems(har: unknown): string[] {
  const out: string[] = [];
  const isObj = (v: unknown): v is Obj => typeof v === 'object' && v !== null && !Array.isArray(v);
  const need = (o: Obj, at: string, key: string, type: 'string' | 'number' | 'object' | 'array'): unknown => {
    const v = o[key];
    const ok = type === 'array' ? Array.isArray(v) : type === 'object' ? isObj(v) : typeof v === type;
    if (!ok) out.push(`${at}.${key}: want ${type}, got ${Array.isArray(v) ? 'array' : v === null ? 'null' : typeof v}`);
    return ok ? v : undefined;
  };
  const opt = (o: Obj, at: string, key: string, type: 'string' | 'number'): void => {
    if (key in o && typeof o[key] !== type) out.push(`${at}.${key}: want ${type} when present`);
  };
  const pairs = (v: unknown, at: string): void => {
    for (const [i, p] of ((v as unknown[]) ?? []).entries()) {
      if (!isObj(p)) {
        out.push(`${at}[${i}]: want object`);
        continue;
      }
      need(p, `${at}[${i}]`, 'name', 'string');
      need(p, `${at}[${i}]`, 'value', 'string');
    }
  };
  if (!isObj(har)) return ['root: want object'];
  const log = need(har, 'root', 'log', 'object') as Obj | undefined;
  if (!log) return out;
  if (log.version !== '1.2') out.push(`log.version: want "1.2", got ${JSON.stringify(log.version)}`);
  const creator = need(log, 'log', 'creator', 'object') as Obj | undefined;
  if (creator) {
    need(creator, 'log.creator', 'name', 'string');
    need(creator, 'log.creator', 'version', 'string');
  }
  if ('pages' in log && !Array.isArray(log.pages)) out.push('log.pages: want array when present');
  const entries = (need(log, 'log', 'entries', 'array') as unknown[] | undefined) ?? [];
  entries.forEach((e, i) => {
    const at = `log.entries[${i}]`;
    if (!isObj(e)) return void out.push(`${at}: want object`);
    const started = need(e, at, 'startedDateTime', 'string') as string | undefined;
    // ISO 8601 with a time zone, as the spec's example.
    if (started !== undefined && !/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:\d\d)$/.test(started)) out.push(`${at}.startedDateTime: not ISO 8601`);
    const time = need(e, at, 'time', 'number') as number | undefined;
    const rq = need(e, at, 'request', 'object') as Obj | undefined;
    if (rq) {
      for (const k of ['method', 'url', 'httpVersion'] as const) need(rq, `${at}.request`, k, 'string');
      for (const k of ['cookies', 'headers', 'queryString'] as const) need(rq, `${at}.request`, k, 'array');
      pairs(rq.headers, `${at}.request.headers`);
      pairs(rq.queryString, `${at}.request.queryString`);
      for (const k of ['headersSize', 'bodySize'] as const) need(rq, `${at}.request`, k, 'number');
      if (typeof rq.url === 'string') {
        try {
          new URL(rq.url);
        } catch {
          out.push(`${at}.request.url: not an absolute URL`);
        }
      }
    }
    const rs = need(e, at, 'response', 'object') as Obj | undefined;
    if (rs) {
      need(rs, `${at}.response`, 'status', 'number');
      for (const k of ['statusText', 'httpVersion', 'redirectURL'] as const) need(rs, `${at}.response`, k, 'string');
      for (const k of ['cookies', 'headers'] as const) need(rs, `${at}.response`, k, 'array');
      pairs(rs.headers, `${at}.response.headers`);
      for (const k of ['headersSize', 'bodySize'] as const) need(rs, `${at}.response`, k, 'number');
      const c = need(rs, `${at}.response`, 'content', 'object') as Obj | undefined;
      if (c) {
        need(c, `${at}.response.content`, 'size', 'number');
        need(c, `${at}.response.content`, 'mimeType', 'string');
        opt(c, `${at}.response.content`, 'compression', 'number');
        opt(c, `${at}.response.content`, 'text', 'string');
        opt(c, `${at}.response.content`, 'encoding', 'string');
      }
    }
    need(e, at, 'cache', 'object');
    const t = need(e, at, 'timings', 'object') as Obj | undefined;
    if (t) {
      for (const k of ['send', 'wait', 'receive'] as const) {
        const v = need(t, `${at}.timings`, k, 'number') as number | undefined;
        if (v !== undefined && v < 0) out.push(`${at}.timings.${k}: must be >= 0`);
      }
      for (const k of ['blocked', 'dns', 'connect', 'ssl'] as const) {
        if (k in t && (typeof t[k] !== 'number' || ((t[k] as number) < 0 && t[k] !== -1))) out.push(`${at}.timings.${k}: a number >= 0 or -1`);
      }
      // The spec: time is the sum of the timings that apply.
      const sum = (['blocked', 'dns', 'connect', 'send', 'wait', 'receive'] as const).reduce((a, k) => a + (typeof t[k] === 'number' && (t[k] as number) > 0 ? (t[k] as number) : 0), 0);
      if (time !== undefined && Math.abs(sum - time) > 0.01) out.push(`${at}.time ${time} is not the sum of its timings ${sum}`);
    }
    opt(e, at, 'serverIPAddress', 'string');
    opt(e, at, 'connection', 'string');
    opt(e, at, 'comment', 'string');
  });
  return out;
}
