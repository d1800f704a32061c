/**
 * Child processes for the benchmark: every one is tracked, bounded in time
 * and killed when the benchmark ends or fails, so an interrupted run never
 * leaves a tracer attached or a server listening.
 */
import { spawn, spawnSync, type ChildProcess, type SpawnOptions } from 'node:child_process';
import fs from 'node:fs';

const live = new Set<ChildProcess>();

/** Starts a process in its own process group so that it and its children (the BPF loader) can be stopped together. */
export function track(cmd: string, args: string[], opts: SpawnOptions = {}): ChildProcess {
  const p = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'], ...opts, detached: true });
  live.add(p);
  p.on('exit', () => live.delete(p));
  p.on('error', () => live.delete(p));
  return p;
}

function signalGroup(p: ChildProcess, sig: NodeJS.Signals): void {
  if (p.pid === undefined || p.exitCode !== null || p.signalCode !== null) return;
  try {
    process.kill(-p.pid, sig);
  } catch {
    try {
      p.kill(sig);
    } catch {
      // already gone
    }
  }
}

/** Waits for exit; after `timeoutMs` escalates to SIGKILL of the process group. */
export function waitExit(p: ChildProcess, timeoutMs: number): Promise<{ code: number | null; signal: NodeJS.Signals | null; killed: boolean }> {
  return new Promise((resolve) => {
    if (p.exitCode !== null || p.signalCode !== null) return resolve({ code: p.exitCode, signal: p.signalCode, killed: false });
    let killed = false;
    const t = setTimeout(() => {
      killed = true;
      signalGroup(p, 'SIGKILL');
    }, timeoutMs);
    p.once('close', (code, signal) => {
      clearTimeout(t);
      resolve({ code, signal, killed });
    });
  });
}

/** SIGINT (a tracer's clean stop), then SIGKILL if it does not exit in time. */
export async function stop(p: ChildProcess, graceMs: number, sig: NodeJS.Signals = 'SIGINT'): Promise<{ code: number | null; killed: boolean }> {
  signalGroup(p, sig);
  const r = await waitExit(p, graceMs);
  return { code: r.code, killed: r.killed };
}

/** Best-effort cleanup of everything still running; safe to call from 'exit'. */
export function killAll(): void {
  for (const p of live) signalGroup(p, 'SIGKILL');
}

export async function stopAll(graceMs = 3000): Promise<void> {
  await Promise.all([...live].map((p) => stop(p, graceMs)));
}

export interface Collected {
  pid: number;
  code: number | null;
  stdout: string;
  stderr: string;
  seconds: number;
  timedOut: boolean;
}

/** Runs to completion with a hard time limit, collecting output and wall time. */
export async function runCollect(cmd: string, args: string[], timeoutMs: number, opts: SpawnOptions = {}): Promise<Collected> {
  const t0 = process.hrtime.bigint();
  const p = track(cmd, args, opts);
  const out: Buffer[] = [];
  const err: Buffer[] = [];
  p.stdout?.on('data', (d: Buffer) => out.push(d));
  p.stderr?.on('data', (d: Buffer) => err.push(d));
  const spawnError = new Promise<Error>((resolve) => p.once('error', resolve));
  const r = await Promise.race([waitExit(p, timeoutMs), spawnError]);
  if (r instanceof Error) throw new Error(`cannot run ${cmd}: ${r.message}`);
  return {
    pid: p.pid ?? -1,
    code: r.code,
    stdout: Buffer.concat(out).toString('utf8'),
    stderr: Buffer.concat(err).toString('utf8'),
    seconds: Number(process.hrtime.bigint() - t0) / 1e9,
    timedOut: r.killed,
  };
}

export interface Measured {
  code: number | null;
  seconds: number;
  /** user + system CPU seconds: steadier than wall time when other work shares the cores */
  cpuSeconds: number | null;
  peakRssMb: number | null;
  stderr: string;
  timedOut: boolean;
}

const GNU_TIME = '/usr/bin/time';

/**
 * Wall time and peak RSS of one command whose stdout goes to `stdoutFile`.
 * GNU time reports the kernel's ru_maxrss of the child, exact even for a
 * process that peaks just before exiting; without it we poll VmHWM.
 */
export async function measure(cmd: string, args: string[], stdoutFile: string, timeoutMs: number): Promise<Measured> {
  const fd = fs.openSync(stdoutFile, 'w', 0o600);
  try {
    if (fs.existsSync(GNU_TIME)) {
      const timeFile = `${stdoutFile}.time`;
      const r = await runCollect(GNU_TIME, ['-v', '-o', timeFile, cmd, ...args], timeoutMs, { stdio: ['ignore', fd, 'pipe'] });
      const txt = fs.existsSync(timeFile) ? fs.readFileSync(timeFile, 'utf8') : '';
      fs.rmSync(timeFile, { force: true });
      const m = /Maximum resident set size \(kbytes\): (\d+)/.exec(txt);
      const exit = /Exit status: (\d+)/.exec(txt);
      const user = /User time \(seconds\): ([\d.]+)/.exec(txt);
      const sys = /System time \(seconds\): ([\d.]+)/.exec(txt);
      return {
        code: exit ? Number(exit[1]) : r.code,
        seconds: r.seconds,
        cpuSeconds: user && sys ? Number(user[1]) + Number(sys[1]) : null,
        peakRssMb: m ? Number(m[1]) / 1024 : null,
        stderr: r.stderr,
        timedOut: r.timedOut,
      };
    }
    let peakKb = 0;
    const t0 = process.hrtime.bigint();
    const p = track(cmd, args, { stdio: ['ignore', fd, 'pipe'] });
    const err: Buffer[] = [];
    p.stderr?.on('data', (d: Buffer) => err.push(d));
    const poll = setInterval(() => {
      try {
        const m = /VmHWM:\s+(\d+)/.exec(fs.readFileSync(`/proc/${p.pid}/status`, 'utf8'));
        if (m) peakKb = Math.max(peakKb, Number(m[1]));
      } catch {
        // exited between polls
      }
    }, 20);
    const r = await waitExit(p, timeoutMs);
    clearInterval(poll);
    return {
      code: r.code,
      seconds: Number(process.hrtime.bigint() - t0) / 1e9,
      cpuSeconds: null,
      peakRssMb: peakKb ? peakKb / 1024 : null,
      stderr: Buffer.concat(err).toString('utf8'),
      timedOut: r.killed,
    };
  } finally {
    fs.closeSync(fd);
  }
}

/**
 * Resolves when `re` matches a line of the process's stderr (or stdout),
 * rejects when it exits first or `timeoutMs` passes.
 */
export function waitForLine(p: ChildProcess, re: RegExp, timeoutMs: number, sink: string[]): Promise<string> {
  return new Promise((resolve, reject) => {
    let buf = '';
    let done = false;
    const finish = (fn: () => void): void => {
      if (done) return;
      done = true;
      clearTimeout(t);
      fn();
    };
    const onData = (d: Buffer): void => {
      buf += d.toString('utf8');
      let nl: number;
      while ((nl = buf.indexOf('\n')) >= 0) {
        const line = buf.slice(0, nl);
        buf = buf.slice(nl + 1);
        sink.push(line);
        if (re.test(line)) finish(() => resolve(line));
      }
    };
    p.stderr?.on('data', onData);
    p.stdout?.on('data', onData);
    p.once('close', (code) => finish(() => reject(new Error(`exited (${code}) before printing ${re}: ${sink.slice(-3).join(' | ')}`))));
    const t = setTimeout(() => finish(() => reject(new Error(`no ${re} within ${timeoutMs} ms: ${sink.slice(-3).join(' | ')}`))), timeoutMs);
  });
}

export function have(cmd: string): boolean {
  return spawnSync('sh', ['-c', `command -v ${cmd}`]).status === 0;
}

/** First line of a tool's version output, for the record of what was measured. */
export function versionOf(cmd: string, args: string[]): string | null {
  const r = spawnSync(cmd, args, { encoding: 'utf8', timeout: 10_000 });
  if (r.status !== 0 && !r.stdout) return null;
  const line = (r.stdout || r.stderr || '').split('\n').find((l) => /\d+\.\d+/.test(l) && !/Running as user/.test(l));
  return line?.trim() ?? null;
}

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** user+sys CPU seconds of a process so far (/proc/PID/stat, clock ticks of 10 ms). */
export function cpuSeconds(pid: number): number {
  const f = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
  const rest = f.slice(f.lastIndexOf(')') + 2).split(' ');
  return (Number(rest[11]) + Number(rest[12])) / 100;
}

/** Uprobes the kernel lists for `pid` on `file` (bpftool perf list). */
export function probesOf(pid: number | undefined, file: string): number {
  const r = spawnSync('bpftool', ['-j', 'perf', 'list'], { encoding: 'utf8', timeout: 10_000 });
  try {
    return (JSON.parse(r.stdout || '[]') as { pid?: number; filename?: string }[]).filter((e) => e.pid === pid && e.filename === file).length;
  } catch {
    return 0;
  }
}
