/**
 * Shared by the reliability suite (issue 6): the CLI as a user runs it,
 * recorders that can be killed, file hashes, and the knobs that scale the
 * suite from CI size to soak size (scripts/soak.sh sets them).
 */
import { spawn, spawnSync, type ChildProcess, type SpawnSyncOptions } from 'node:child_process';
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import Database from 'better-sqlite3';
import type { ChildReport } from './analyze-child';

export const REPO = path.resolve(__dirname, '../../..');
export const CLI = path.join(REPO, 'build/src/cli.js');
export const LOADER = path.join(REPO, 'bpf/.output/h2rec-loader');

/** A count from the environment (soak sizes), or the CI default. */
export function envInt(name: string, def: number): number {
  const v = process.env[name];
  if (v === undefined || v === '') return def;
  const n = Number(v);
  if (!Number.isSafeInteger(n) || n < 0) throw new Error(`${name}=${v}: expected a whole number`);
  return n;
}

export interface CliResult {
  status: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
  ms: number;
}

/** Runs `h2rec ARGS` to completion, as a user would (a separate node process). */
export function cli(args: string[], opts: SpawnSyncOptions & { cli?: string } = {}): CliResult {
  const t0 = performance.now();
  const r = spawnSync(process.execPath, [opts.cli ?? CLI, ...args], { encoding: 'utf8', timeout: 120_000, maxBuffer: 256 << 20, ...opts });
  return {
    status: r.status,
    signal: r.signal,
    stdout: String(r.stdout ?? ''),
    stderr: String(r.stderr ?? ''),
    ms: performance.now() - t0,
  };
}

/** The lines a user sees on stderr, without blank ones. */
export function stderrLines(s: string): string[] {
  return s.split('\n').filter((l) => l.trim() !== '');
}

export function sha256File(file: string): string {
  return crypto.createHash('sha256').update(fs.readFileSync(file)).digest('hex');
}

/** Hashes of a journal and its side files, to prove a command left them alone. */
export function journalHashes(file: string): Record<string, string | null> {
  const out: Record<string, string | null> = {};
  for (const suffix of ['', '-wal', '-shm']) out[suffix || 'db'] = fs.existsSync(file + suffix) ? sha256File(file + suffix) : null;
  return out;
}

export function integrityCheck(file: string): string {
  const db = new Database(file, { readonly: true, fileMustExist: true });
  try {
    return (db.pragma('integrity_check') as { integrity_check: string }[]).map((r) => r.integrity_check).join('; ');
  } finally {
    db.close();
  }
}

/** Child pids of `pid` (all its threads), from /proc. */
export function childrenOf(pid: number): number[] {
  const out: number[] = [];
  let tasks: string[] = [];
  try {
    tasks = fs.readdirSync(`/proc/${pid}/task`);
  } catch {
    return out;
  }
  for (const t of tasks) {
    try {
      for (const c of fs.readFileSync(`/proc/${pid}/task/${t}/children`, 'utf8').trim().split(/\s+/)) if (c) out.push(Number(c));
    } catch {
      // the thread ended meanwhile
    }
  }
  return out;
}

export function alive(pid: number): boolean {
  try {
    // A zombie still has /proc/PID; it has stopped running, which is what we ask.
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    return !/^\d+ \(.*\) Z /.test(stat);
  } catch {
    return false;
  }
}

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Polls until `pid` has stopped; returns the ms it took, or -1 on timeout. */
export async function waitGone(pid: number, timeoutMs: number): Promise<number> {
  const t0 = performance.now();
  while (alive(pid)) {
    if (performance.now() - t0 > timeoutMs) return -1;
    await sleep(10);
  }
  return performance.now() - t0;
}

export interface Recorder {
  proc: ChildProcess;
  pid: number;
  /** the privileged loader the recorder started */
  loaderPid: number;
  stderr: string[];
  /** CLOCK_MONOTONIC ns when the "recording" line arrived */
  readyMono: bigint;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

export interface RecorderOptions {
  env?: NodeJS.ProcessEnv;
  uid?: number;
  gid?: number;
  timeoutMs?: number;
  cli?: string;
  onStdout?: (chunk: string) => void;
}

/**
 * Starts `h2rec record ARGS` as its own process and resolves once it prints
 * its "recording" line (probes live). Rejects with its stderr if it exits first.
 */
export function startRecorder(args: string[], opts: RecorderOptions = {}): Promise<Recorder> {
  const proc = spawn(process.execPath, [opts.cli ?? CLI, 'record', ...args], {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: opts.env ?? process.env,
    uid: opts.uid,
    gid: opts.gid,
  });
  const stderr: string[] = [];
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    proc.on('close', (code, signal) => resolve({ code, signal })),
  );
  return new Promise((resolve, reject) => {
    let buf = '';
    let done = false;
    const t = setTimeout(() => {
      if (done) return;
      done = true;
      proc.kill('SIGKILL');
      reject(new Error(`recorder not ready after ${opts.timeoutMs ?? 30_000} ms: ${stderr.join(' | ')}`));
    }, opts.timeoutMs ?? 30_000);
    proc.stderr!.on('data', (d: Buffer) => {
      buf += d.toString('utf8');
      let nl: number;
      while ((nl = buf.indexOf('\n')) >= 0) {
        const line = buf.slice(0, nl);
        buf = buf.slice(nl + 1);
        stderr.push(line);
        if (!done && line.startsWith('recording:')) {
          done = true;
          clearTimeout(t);
          const loaderPid = childrenOf(proc.pid!)[0] ?? -1;
          resolve({ proc, pid: proc.pid!, loaderPid, stderr, readyMono: process.hrtime.bigint(), exited });
        }
      }
    });
    if (opts.onStdout) proc.stdout!.on('data', (d: Buffer) => opts.onStdout!(d.toString('utf8')));
    else proc.stdout!.resume();
    void exited.then(({ code, signal }) => {
      if (buf) stderr.push(buf);
      if (done) return;
      done = true;
      clearTimeout(t);
      reject(new Error(`recorder exited (${code ?? signal}) before it was ready: ${stderr.join(' | ')}`));
    });
  });
}

/**
 * Records with `h2rec record ARGS` while `body` runs the traffic: once the
 * recorder says "recording", runs `body`, lets the last ring-buffer records
 * reach the journal (300 ms), stops it like Ctrl-C (SIGINT) and asserts it
 * exited 0. Returns what `body` returned.
 */
export async function recordWhile<T>(args: string[], body: () => Promise<T>, opts: RecorderOptions = {}): Promise<T> {
  const rec = await startRecorder(args, opts);
  let result: T;
  try {
    result = await body();
    await sleep(300);
  } finally {
    rec.proc.kill('SIGINT');
  }
  assert.equal((await rec.exited).code, 0, rec.stderr.join('\n'));
  return result;
}

/** The effective capability mask of a running process, from /proc/PID/status. */
export function capEff(pid: number): bigint {
  const m = /^CapEff:\s*([0-9a-f]+)$/m.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'));
  if (!m) throw new Error(`no CapEff for ${pid}`);
  return BigInt('0x' + m[1]);
}

/** Runs a command whose failure is a test-setup failure, not a finding. */
export function must(cmd: string, args: string[], opts: SpawnSyncOptions = {}): string {
  const r = spawnSync(cmd, args, { encoding: 'utf8', ...opts });
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')} failed (${r.status ?? r.signal}): ${String(r.stderr ?? '')}`);
  return String(r.stdout ?? '');
}

/** Whether this process may use BPF at all (root or CAP_BPF), so kernel tests can say why they skip. */
export function canBpf(): boolean {
  return process.getuid?.() === 0 && fs.existsSync('/sys/kernel/btf/vmlinux') && fs.existsSync(LOADER);
}

// ---------------------------------------------------------------------------
// The analyzer's caps on hostile input (docs/RELIABILITY.md)

/** Wall time for one analysis of a hostile journal (inputs of ~10^5 frames, a few MB). */
export const TIME_CAP_MS = 20_000;
/** Peak RSS of the analyzing process, Node's own ~50 MiB included. */
export const PEAK_RSS_CAP_MIB = 256;

const ANALYZE_CHILD = path.join(REPO, 'build/test/reliability/analyze-child.js');

/** analyze() on `journal` in a fresh process: its time, peak RSS and a digest of its output. */
export function analyzeInChild(journal: string, mode: 'text' | 'json' | 'summary'): ChildReport {
  const r = spawnSync(process.execPath, [ANALYZE_CHILD, journal, mode], { encoding: 'utf8', timeout: TIME_CAP_MS * 3, maxBuffer: 64 << 20 });
  if (r.status !== 0) throw new Error(`analyze child (${mode}) on ${journal} exited ${r.status ?? r.signal}: ${r.stderr}`);
  return JSON.parse(r.stdout) as ChildReport;
}
