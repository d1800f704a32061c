/** h2load runs and the figures it prints. */
import { runCollect } from './procs';

export interface H2loadResult {
  pid: number;
  /** h2load's own "finished in" time: the load, without process start-up */
  seconds: number;
  rps: number;
  /** bytes h2load read at the HTTP/2 layer ("traffic: ... (N) total") */
  trafficBytes: number;
  /** traffic MB/s (10^6 bytes) */
  mbps: number;
  done: number;
  succeeded: number;
  failed: number;
  errored: number;
  wallSeconds: number;
}

/** "908.55ms", "1.76s", "850us" -> seconds (nghttp2's util::format_duration). */
export function parseDuration(s: string): number {
  const m = /^([\d.]+)(us|ms|s)$/.exec(s.trim());
  if (!m) throw new Error(`unreadable h2load duration ${s}`);
  const v = Number(m[1]);
  return m[2] === 'us' ? v / 1e6 : m[2] === 'ms' ? v / 1e3 : v;
}

export function parseH2load(out: string): Omit<H2loadResult, 'pid' | 'wallSeconds'> {
  const fin = /finished in ([\d.]+(?:us|ms|s)), ([\d.]+) req\/s/.exec(out);
  const req = /requests: (\d+) total, (\d+) started, (\d+) done, (\d+) succeeded, (\d+) failed, (\d+) errored/.exec(out);
  const traffic = /traffic: \S+ \((\d+)\) total/.exec(out);
  if (!fin || !req || !traffic) throw new Error(`unreadable h2load output: ${out.slice(-400)}`);
  const seconds = parseDuration(fin[1]);
  const trafficBytes = Number(traffic[1]);
  return {
    seconds,
    rps: Number(fin[2]),
    trafficBytes,
    mbps: seconds > 0 ? trafficBytes / seconds / 1e6 : 0,
    done: Number(req[3]),
    succeeded: Number(req[4]),
    failed: Number(req[5]),
    errored: Number(req[6]),
  };
}

export interface LoadSpec {
  /** the h2load executable; a symlink with its own name gives the client a unique comm to trace */
  bin: string;
  url: string;
  clients: number;
  streams: number;
  threads?: number;
  requests?: number;
  durationS?: number;
  /** requests per second per client (h2load --rps) */
  rpsPerClient?: number;
  timeoutMs: number;
}

export function h2loadArgs(s: LoadSpec): string[] {
  const a = ['-c', String(s.clients), '-m', String(s.streams), '-t', String(s.threads ?? 1)];
  if (s.durationS !== undefined) a.push('-D', String(s.durationS));
  else a.push('-n', String(s.requests ?? 1000));
  if (s.rpsPerClient !== undefined) a.push(`--rps=${s.rpsPerClient}`);
  a.push(s.url);
  return a;
}

export async function runH2load(s: LoadSpec): Promise<H2loadResult> {
  const r = await runCollect(s.bin, h2loadArgs(s), s.timeoutMs);
  if (r.timedOut) throw new Error(`h2load did not finish within ${s.timeoutMs} ms`);
  if (r.code !== 0) throw new Error(`h2load exited ${r.code}: ${(r.stderr || r.stdout).slice(-300)}`);
  const p = parseH2load(r.stdout);
  if (p.failed + p.errored > 0 || p.succeeded === 0) {
    throw new Error(`h2load: ${p.succeeded} succeeded, ${p.failed} failed, ${p.errored} errored (${s.url})`);
  }
  return { ...p, pid: r.pid, wallSeconds: r.seconds };
}
