/**
 * The two tracers the recording cost is measured against: bpftrace uprobes
 * that only count (the floor any uprobe recorder pays) and `h2rec record`.
 */
import type { ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import Database from 'better-sqlite3';
import { JournalReader } from '../../src/journal/reader';
import { spawnSync } from 'node:child_process';
import { cpuSeconds, probesOf, sleep, stop, track, waitExit, waitForLine } from './procs';

/** The symbols h2rec's loader hooks in libssl, entry and return, as the bare floor. */
export const FLOOR_SYMBOLS = ['SSL_write', 'SSL_read', 'SSL_write_ex', 'SSL_read_ex'];

export function bpftraceProgram(libssl: string, comm: string): string {
  const probes = FLOOR_SYMBOLS.flatMap((s) => [`uprobe:${libssl}:${s}`, `uretprobe:${libssl}:${s}`]).join(',');
  // The comm test mirrors h2rec's in-kernel --comm filter, so both pay the same probe hits.
  return `${probes} /comm == "${comm}"/ { @c = count(); }`;
}

export interface Floor {
  proc: ChildProcess;
  probes: number;
  /** stops bpftrace and returns how many probe hits it counted */
  stop(): Promise<number | null>;
}

export async function startFloor(libssl: string, comm: string, timeoutMs = 30_000): Promise<Floor> {
  const proc = track('bpftrace', ['-e', bpftraceProgram(libssl, comm)]);
  const lines: string[] = [];
  const line = await waitForLine(proc, /^Attaching (\d+) probes/, timeoutMs, lines).catch(async (e: Error) => {
    await stop(proc, 3000);
    throw new Error(`bpftrace: ${e.message}`);
  });
  return {
    proc,
    probes: Number(/Attaching (\d+)/.exec(line)?.[1] ?? 0),
    async stop(): Promise<number | null> {
      await stop(proc, 10_000);
      const hit = lines.map((l) => /^@c: (\d+)/.exec(l)).find((m) => m);
      return hit ? Number(hit[1]) : null;
    },
  };
}

export interface RecorderSummary {
  records: number;
  payloadMb: number;
  connections: number;
  lostRecords: number;
  lostBytes: number;
  truncatedCalls: number;
  seconds: number;
}

/** The one-line summary `h2rec record` prints on stopping (src/record/record.ts formatSummary). */
export function parseRecorderSummary(line: string): RecorderSummary | null {
  const m =
    /recorded (\d+) records?, ([\d.]+) MB of plaintext in (\d+) connections? over ([\d.]+) s; lost (\d+) records? \((\d+) bytes\); (\d+) truncated calls?/.exec(
      line,
    );
  if (!m) return null;
  return {
    records: Number(m[1]),
    payloadMb: Number(m[2]),
    connections: Number(m[3]),
    seconds: Number(m[4]),
    lostRecords: Number(m[5]),
    lostBytes: Number(m[6]),
    truncatedCalls: Number(m[7]),
  };
}

/** CPU the recorder used (node and the loader it waited for) and its peak RSS, from GNU time. */
export interface RecorderUsage {
  cpuSeconds: number;
  userSeconds: number;
  sysSeconds: number;
  peakRssMb: number;
}

export interface Recorder {
  proc: ChildProcess;
  journal: string;
  readyLine: string;
  /** stops the recorder (SIGINT: drain, checkpoint, summary) and returns its summary */
  stop(timeoutMs?: number): Promise<{ summary: RecorderSummary | null; stoppedAt: bigint; stderr: string[]; warnings: string[]; usage: RecorderUsage | null }>;
}

const GNU_TIME = '/usr/bin/time';

export async function startRecorder(cli: string, journal: string, comm: string, extra: string[] = [], timeoutMs = 60_000): Promise<Recorder> {
  for (const s of ['', '-wal', '-shm']) fs.rmSync(journal + s, { force: true });
  const argv = [process.execPath, cli, 'record', '-o', journal, '--comm', comm, ...extra];
  // GNU time ignores SIGINT while it waits, so the recorder still gets a clean Ctrl-C stop.
  const timeFile = `${journal}.usage`;
  const timed = fs.existsSync(GNU_TIME);
  const proc = timed ? track(GNU_TIME, ['-f', '%U %S %M', '-o', timeFile, ...argv]) : track(argv[0], argv.slice(1));
  const lines: string[] = [];
  const readyLine = await waitForLine(proc, /^recording/, timeoutMs, lines).catch(async (e: Error) => {
    await stop(proc, 5000);
    throw new Error(`h2rec record: ${e.message}`);
  });
  return {
    proc,
    journal,
    readyLine,
    async stop(stopTimeoutMs = 600_000) {
      // Let the recorder catch up first: a SIGINT that lands while the loader is blocked
      // writing to a full pipe corrupts its output stream (see the bench report), and
      // stopping an idle recorder is what a user does anyway.
      await settle(journal, 120_000);
      const r = await interrupt(proc, timed, stopTimeoutMs);
      const stoppedAt = process.hrtime.bigint();
      if (r.killed) throw new Error(`h2rec record did not stop within ${stopTimeoutMs} ms`);
      const summaryLine = lines.find((l) => l.startsWith('recorded '));
      if (r.code !== 0) throw new Error(`h2rec record exited ${r.code}: ${lines.slice(-3).join(' | ')}`);
      let usage: RecorderUsage | null = null;
      if (timed && fs.existsSync(timeFile)) {
        const m = /([\d.]+) ([\d.]+) (\d+)\s*$/.exec(fs.readFileSync(timeFile, 'utf8'));
        if (m) usage = { userSeconds: Number(m[1]), sysSeconds: Number(m[2]), cpuSeconds: Number(m[1]) + Number(m[2]), peakRssMb: Number(m[3]) / 1024 };
        fs.rmSync(timeFile, { force: true });
      }
      const warnings = lines.filter((l) => /^(warning|h2rec:)/.test(l));
      return { summary: summaryLine ? parseRecorderSummary(summaryLine) : null, stoppedAt, stderr: lines, warnings, usage };
    },
  };
}

/** Waits until the journal (and its WAL) stops growing for 300 ms, at most `maxMs`. */
async function settle(journal: string, maxMs: number): Promise<void> {
  const end = Date.now() + maxMs;
  let last = -1;
  let still = 0;
  while (Date.now() < end && still < 3) {
    const n = journalBytes(journal);
    still = n === last ? still + 1 : 0;
    last = n;
    await sleep(100);
  }
}

/**
 * One SIGINT to the recorder itself, as a single Ctrl-C would give it; the
 * recorder stops its loader. Under GNU time the recorder is time's child.
 */
async function interrupt(proc: ChildProcess, timed: boolean, timeoutMs: number): Promise<{ code: number | null; killed: boolean }> {
  let target = proc.pid;
  if (timed && proc.pid !== undefined) {
    try {
      const kids = fs.readFileSync(`/proc/${proc.pid}/task/${proc.pid}/children`, 'utf8').trim().split(/\s+/).filter(Boolean);
      if (kids.length) target = Number(kids[0]);
    } catch {
      // fall back to signalling the group
      target = undefined;
    }
  }
  if (target === undefined || target === proc.pid) return stop(proc, timeoutMs);
  try {
    process.kill(target, 'SIGINT');
  } catch {
    // already gone
  }
  const r = await waitExit(proc, timeoutMs);
  return { code: r.code, killed: r.killed };
}

export interface PidBytes {
  send: number;
  recv: number;
  records: number;
}

/** Payload bytes the journal holds for each pid and direction (journal schema v1: raw = 96-byte header + chunk). */
export function capturedByPid(journal: string, pids: number[]): Map<number, PidBytes> {
  const db = new Database(journal, { readonly: true, fileMustExist: true });
  try {
    const out = new Map<number, PidBytes>(pids.map((p) => [p, { send: 0, recv: 0, records: 0 }]));
    const rows = db
      .prepare(
        `SELECT pid, dir, count(*) AS n, sum(length(raw)) - 96 * count(*) AS bytes
           FROM records WHERE kind = 1 AND pid IN (${pids.map(() => '?').join(',') || 'NULL'}) GROUP BY pid, dir`,
      )
      .all(...pids) as { pid: number; dir: number; n: number; bytes: number }[];
    for (const r of rows) {
      const e = out.get(r.pid);
      if (!e) continue;
      if (r.dir === 0) e.send += r.bytes;
      else e.recv += r.bytes;
      e.records += r.n;
    }
    return out;
  } finally {
    db.close();
  }
}

export function journalLosses(journal: string): { records: number; bytes: number; truncatedBytes: number } {
  const r = JournalReader.open(journal);
  try {
    const l = r.losses();
    return { records: Number(l.records), bytes: Number(l.bytes), truncatedBytes: Number(l.truncatedBytes) };
  } finally {
    r.close();
  }
}

export function journalBytes(journal: string): number {
  let n = 0;
  for (const s of ['', '-wal']) {
    try {
      n += fs.statSync(journal + s).size;
    } catch {
      // no WAL after a clean stop
    }
  }
  return n;
}

export function removeJournal(journal: string): void {
  for (const s of ['', '-wal', '-shm']) fs.rmSync(journal + s, { force: true });
  fs.rmSync(path.join(path.dirname(journal), path.basename(journal) + '.pcapng'), { force: true });
}

/**
 * Uprobes that other tracers hold on `lib` right now (bpftool perf list):
 * each one taxes every SSL call of the "untraced" run too. null when bpftool
 * cannot tell.
 */
export function foreignUprobes(lib: string): number | null {
  const r = spawnSync('bpftool', ['-j', 'perf', 'list'], { encoding: 'utf8', timeout: 10_000 });
  if (r.status !== 0 || !r.stdout) return null;
  try {
    const list = JSON.parse(r.stdout) as { fd_type?: string; filename?: string }[];
    return list.filter((e) => (e.fd_type === 'uprobe' || e.fd_type === 'uretprobe') && e.filename === lib).length;
  } catch {
    return null;
  }
}

/** Waits (bounded by the shared `budget`, in ms, which it spends) until no other tracer holds uprobes on `lib`. */
export async function waitForQuietLib(lib: string, budget: { ms: number }): Promise<number | null> {
  let n = foreignUprobes(lib);
  while (n !== null && n > 0 && budget.ms > 0) {
    await sleep(1000);
    budget.ms -= 1000;
    n = foreignUprobes(lib);
  }
  return n;
}

/**
 * The h2rec loader alone with its output thrown away by the kernel
 * (/dev/null): the in-kernel part of recording (uprobes, copies into the ring
 * buffer, the fd tracepoint) without the journal writer competing for CPU.
 */
export interface KernelOnly {
  proc: ChildProcess;
  stop(): Promise<void>;
}

/** Waits until the kernel lists `pid`'s probes on `lib` (entry and return of 4 symbols, plus SSL_free). */
async function probesLive(proc: ChildProcess, lib: string, err: string[], timeoutMs: number): Promise<void> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    if (proc.exitCode !== null || proc.signalCode !== null) throw new Error(`h2rec-loader exited: ${err.join('').trim()}`);
    if (probesOf(proc.pid, lib) >= 8) return;
    if (Date.now() > end) {
      await stop(proc, 3000);
      throw new Error(`h2rec-loader: probes not live within ${timeoutMs} ms (bpftool perf list)`);
    }
    await sleep(200);
  }
}

function startLoader(loader: string, comm: string, stdout: 'ignore' | NodeJS.WritableStream): { proc: ChildProcess; err: string[] } {
  const proc = track(loader, ['--comm', comm], { stdio: ['pipe', stdout as 'ignore', 'pipe'] });
  const err: string[] = [];
  proc.stderr?.on('data', (d: Buffer) => err.push(d.toString('utf8')));
  return { proc, err };
}

export async function startKernelOnly(loader: string, lib: string, comm: string, timeoutMs = 30_000): Promise<KernelOnly> {
  // stdio 'ignore' is /dev/null: the loader's writes cost no copy.
  const { proc, err } = startLoader(loader, comm, 'ignore');
  await probesLive(proc, lib, err, timeoutMs);
  return {
    proc,
    async stop(): Promise<void> {
      proc.stdin?.end();
      await stop(proc, 10_000);
    },
  };
}

/**
 * The copy floor of any journal writer behind the privilege boundary: the
 * loader's stream through a pipe into `cat`, which writes it to a plain file.
 * No parsing, no SQLite, no Node: the least CPU that moving recorded bytes
 * from the ring buffer into a file can cost on this machine.
 */
export interface CopyFloor {
  /** CPU seconds (user + sys) of the loader and of the writer so far, and the file's bytes */
  usage(): { loaderCpuS: number; writerCpuS: number; bytes: number };
  stop(): Promise<void>;
}

export async function startCopyFloor(loader: string, lib: string, comm: string, file: string, timeoutMs = 30_000): Promise<CopyFloor> {
  const out = fs.openSync(file, 'w', 0o600);
  const writer = track('cat', [], { stdio: ['pipe', out, 'ignore'] });
  fs.closeSync(out);
  const { proc, err } = startLoader(loader, comm, writer.stdin!);
  await probesLive(proc, lib, err, timeoutMs);
  return {
    usage: () => ({ loaderCpuS: cpuSeconds(proc.pid!), writerCpuS: cpuSeconds(writer.pid!), bytes: fs.statSync(file).size }),
    async stop(): Promise<void> {
      proc.stdin?.end();
      await stop(proc, 10_000);
      await waitExit(writer, 10_000);
      fs.rmSync(file, { force: true });
    },
  };
}
