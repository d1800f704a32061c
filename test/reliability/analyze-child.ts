/**
 * Runs the whole analyzer, analyze(), on one journal in a process of its
 * own, so its peak RSS is the analyzer's alone, and prints one JSON line:
 *   node build/test/reliability/analyze-child.js JOURNAL text|json|summary
 * The output is consumed as it streams (never kept whole): counted, and for
 * JSON parsed line by line into per-code diagnostics and per-type frames.
 */
import { analyze } from '../../src/analyze/analyze';

export interface ChildReport {
  ms: number;
  /** CPU time (user + system) of analyze(), ms: steadier than wall time on a loaded machine */
  cpuMs: number;
  /** peak resident set of this process, MiB */
  maxRssMiB: number;
  outBytes: number;
  result: Record<string, unknown>;
  /** JSON only: code -> count and the first message */
  diagnostics: Record<string, { count: number; message: string }>;
  /** JSON only: frame type -> count */
  frames: Record<string, number>;
  /** JSON only: PING opaque data seen, in order (sentinels are PINGs) */
  pings: string[];
  /** JSON only: values of x-sentinel headers decoded */
  sentinels: string[];
  /** JSON only: HTTP/1 start lines decoded (the last 20) and how many */
  http1: string[];
  http1Count: number;
  error?: string;
}

function main(): void {
  const [journal, mode = 'text'] = process.argv.slice(2);
  const rep: ChildReport = { ms: 0, cpuMs: 0, maxRssMiB: 0, outBytes: 0, result: {}, diagnostics: {}, frames: {}, pings: [], sentinels: [], http1: [], http1Count: 0 };
  let partial = '';
  const onLine = (line: string): void => {
    if (!line) return;
    const o = JSON.parse(line) as Record<string, unknown>;
    if (o.kind === 'diagnostic') {
      const code = String(o.code);
      const d = (rep.diagnostics[code] ??= { count: 0, message: String(o.message) });
      d.count++;
    } else if (o.kind === 'http1') {
      rep.http1Count++;
      rep.http1.push(String(o.startLine));
      if (rep.http1.length > 20) rep.http1.shift();
    } else if (o.kind === 'frame') {
      const t = String(o.type);
      rep.frames[t] = (rep.frames[t] ?? 0) + 1;
      if (t === 'PING' && rep.pings.length < 100) rep.pings.push(String(o.opaqueData));
      for (const [n, v] of (o.headers as [string, string][] | undefined) ?? []) if (n === 'x-sentinel' && rep.sentinels.length < 100) rep.sentinels.push(v);
    }
  };
  const write = (chunk: string): void => {
    rep.outBytes += Buffer.byteLength(chunk);
    if (mode !== 'json') return;
    const lines = (partial + chunk).split('\n');
    partial = lines.pop() ?? '';
    for (const l of lines) onLine(l);
  };
  const t0 = performance.now();
  const c0 = process.cpuUsage();
  try {
    const r = analyze({ journal, format: mode === 'json' ? 'json' : 'text', summary: mode === 'summary' }, write);
    rep.result = JSON.parse(JSON.stringify(r, (_k, v) => (typeof v === 'bigint' ? v.toString() : v))) as Record<string, unknown>;
    onLine(partial);
  } catch (e) {
    rep.error = `${(e as Error).name}: ${(e as Error).message}`;
  }
  rep.ms = performance.now() - t0;
  const c = process.cpuUsage(c0);
  rep.cpuMs = (c.user + c.system) / 1000;
  // resourceUsage().maxRSS is in KiB (getrusage ru_maxrss).
  rep.maxRssMiB = process.resourceUsage().maxRSS / 1024;
  process.stdout.write(JSON.stringify(rep) + '\n');
}

if (require.main === module) main();
