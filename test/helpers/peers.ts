/**
 * Real TLS peers for end-to-end tests: nghttpd, nghttp, curl, wget2, node.
 * Everything stays on loopback and every process is bounded in time.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { record, type RecordOptions, type RecordSummary } from '../../src/record/record';

export function tmpDir(prefix: string): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), `h2rec-${prefix}-`));
}

export function have(cmd: string): boolean {
  return spawnSync('sh', ['-c', `command -v ${cmd}`]).status === 0;
}

/**
 * A copy of the executable `from` at `to`, mode 0755: a client under a name
 * of its own, so a recording filtered by --comm sees no other test's traffic.
 */
export function copyExecutable(from: string, to: string): string {
  fs.mkdirSync(path.dirname(to), { recursive: true });
  fs.copyFileSync(from, to);
  fs.chmodSync(to, 0o755);
  return to;
}

/** `dir/www` holding `files` (name -> content): a server's document root. */
export function docroot(dir: string, files: Record<string, string | Uint8Array>): string {
  const www = path.join(dir, 'www');
  fs.mkdirSync(www);
  for (const [name, content] of Object.entries(files)) fs.writeFileSync(path.join(www, name), content);
  return www;
}

/** A self-signed certificate for 127.0.0.1/localhost, made on the spot. */
export function makeCert(dir: string): { key: string; cert: string } {
  const key = path.join(dir, 'key.pem');
  const cert = path.join(dir, 'cert.pem');
  const r = spawnSync(
    'openssl',
    ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', key, '-out', cert, '-days', '1', '-subj', '/CN=localhost',
      '-addext', 'subjectAltName=DNS:localhost,IP:127.0.0.1'],
    { stdio: 'pipe' },
  );
  if (r.status !== 0) throw new Error(`openssl req failed: ${r.stderr.toString()}`);
  return { key, cert };
}

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.listen(0, '127.0.0.1', () => {
      const a = s.address() as net.AddressInfo;
      s.close(() => resolve(a.port));
    });
    s.on('error', reject);
  });
}

export async function waitForPort(port: number, timeoutMs = 10_000): Promise<void> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const ok = await new Promise<boolean>((resolve) => {
      const c = net.connect(port, '127.0.0.1');
      c.on('connect', () => {
        c.destroy();
        resolve(true);
      });
      c.on('error', () => resolve(false));
    });
    if (ok) return;
    if (Date.now() > end) throw new Error(`port ${port} did not open`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

export function randomFile(file: string, bytes: number): string {
  const buf = crypto.randomBytes(bytes);
  fs.writeFileSync(file, buf);
  return crypto.createHash('sha256').update(buf).digest('hex');
}

export function sha256(data: Uint8Array | Uint8Array[]): string {
  const h = crypto.createHash('sha256');
  for (const d of Array.isArray(data) ? data : [data]) h.update(d);
  return h.digest('hex');
}

export interface Server {
  port: number;
  proc: ChildProcess;
  stop(): Promise<void>;
}

/** A server's stop(): SIGTERM, SIGKILL after 3 s, resolved once it has exited (at once if it already had). */
export function stopper(proc: ChildProcess): () => Promise<void> {
  return () =>
    new Promise((resolve) => {
      if (proc.exitCode !== null || proc.signalCode !== null) return resolve();
      proc.once('exit', () => resolve());
      proc.kill('SIGTERM');
      setTimeout(() => proc.kill('SIGKILL'), 3000).unref();
    });
}

/** nghttpd serving `docroot` over TLS (h2 via ALPN). */
export async function startNghttpd(docroot: string, tls: { key: string; cert: string }, extra: string[] = []): Promise<Server> {
  const port = await freePort();
  const proc = spawn('nghttpd', [...extra, '-d', docroot, String(port), tls.key, tls.cert], { stdio: 'ignore' });
  await waitForPort(port);
  return { port, proc, stop: stopper(proc) };
}

export interface RunResult {
  pid: number;
  status: number | null;
  stdout: string;
  stderr: string;
}

/** Runs a client to completion (bounded), returning its pid and output. */
export function run(cmd: string, args: string[], opts: { timeoutMs?: number; input?: string; env?: NodeJS.ProcessEnv } = {}): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    const p = spawn(cmd, args, { stdio: ['pipe', 'pipe', 'pipe'], env: opts.env ?? process.env });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    p.stdout.on('data', (d: Buffer) => out.push(d));
    p.stderr.on('data', (d: Buffer) => err.push(d));
    const t = setTimeout(() => p.kill('SIGKILL'), opts.timeoutMs ?? 60_000);
    p.on('error', reject);
    p.on('close', (status) => {
      clearTimeout(t);
      resolve({ pid: p.pid ?? -1, status, stdout: Buffer.concat(out).toString('utf8'), stderr: Buffer.concat(err).toString('utf8') });
    });
    if (opts.input !== undefined) p.stdin.end(opts.input);
    else p.stdin.end();
  });
}

/**
 * Records while `body` runs real traffic: starts the real recorder, waits
 * for its "recording" line, runs the traffic, then stops it.
 */
export async function recordDuring<T>(
  opts: RecordOptions,
  body: () => Promise<T>,
): Promise<{ summary: RecordSummary; result: T; stderr: string[] }> {
  const ac = new AbortController();
  const stderr: string[] = [];
  let readyResolve!: () => void;
  const ready = new Promise<void>((r) => (readyResolve = r));
  const rec = record(opts, { stderr: (l) => stderr.push(l), signal: ac.signal, onReady: () => readyResolve() });
  // Surface a recorder that fails before readiness instead of waiting forever.
  await Promise.race([ready, rec.then(() => undefined)]);
  let result: T;
  try {
    result = await body();
    // Let the last ring-buffer records reach the journal before stopping.
    await new Promise((r) => setTimeout(r, 300));
  } finally {
    ac.abort();
  }
  const summary = await rec;
  return { summary, result, stderr };
}
