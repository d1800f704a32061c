/**
 * `h2rec demo`: the whole pipeline on a local exchange, with nothing from
 * outside the machine. A node http2 server and client (own processes, TLS on
 * loopback, certificate made on the spot) talk while the real recorder
 * traces them; then the real analyzer prints it and the real exporter writes
 * demo.pcapng.
 */
import { fork, spawnSync, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { Argv } from 'yargs';
import { EnvError } from '../errors';
import type { RecordSummary } from '../record/record';
import { lineWriter, type CommandIO } from './io';

export const command = 'demo';
export const describe = 'record a local HTTP/2 exchange between two node processes and show it decoded';

export function builder(y: Argv): Argv {
  return y
    .usage('$0 demo [--dir DIR]\n\n' +
      'Starts a node HTTP/2 server and client on 127.0.0.1 with a fresh self-signed certificate, records them with ' +
      'the real recorder, prints the analysis, and leaves demo.db and demo.pcapng (mode 0600) in DIR. Needs root ' +
      '(or the loader\'s capabilities), like record.')
    .option('dir', { type: 'string', default: '.', describe: 'where to leave demo.db and demo.pcapng', requiresArg: true })
    .example('$0 demo', 'the tour: record, analyze and export one exchange')
    .example('$0 demo --dir /tmp/h2', 'leave the files elsewhere');
}

export interface DemoResult {
  journal: string;
  pcap: string;
  serverPid: number;
  clientPid: number;
  record: RecordSummary;
  /** stages that ran: 'record', 'analyze', 'export' */
  ran: string[];
}

interface Exchange {
  method: string;
  path: string;
  status: number;
  bytes: number;
}

const SERVER_JS = path.join(__dirname, '../demo/server.js');
const CLIENT_JS = path.join(__dirname, '../demo/client.js');

/** A self-signed certificate for 127.0.0.1, valid one day, in a 0700 directory. */
export function makeDemoCert(dir: string): { key: string; cert: string } {
  const key = path.join(dir, 'key.pem');
  const cert = path.join(dir, 'cert.pem');
  const r = spawnSync(
    'openssl',
    ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', key, '-out', cert,
      '-days', '1', '-subj', '/CN=h2rec demo', '-addext', 'subjectAltName=IP:127.0.0.1,DNS:localhost'],
    { encoding: 'utf8', timeout: 30_000 },
  );
  if (r.error || r.status !== 0) {
    throw new EnvError(`cannot make the demo certificate with openssl: ${(r.error?.message ?? r.stderr).trim().split('\n').pop()} (install it: bash scripts/setup.sh)`);
  }
  fs.chmodSync(key, 0o600);
  return { key, cert };
}

/** The next IPC message from `child` that has `key`, or an error if it exits or time runs out. */
export function nextMessage<T>(child: ChildProcess, key: string, what: string, timeoutMs: number): Promise<T> {
  return new Promise((resolve, reject) => {
    const done = (): void => {
      clearTimeout(timer);
      child.off('message', onMessage);
      child.off('exit', onExit);
    };
    const onMessage = (m: unknown): void => {
      const msg = m as Record<string, unknown>;
      if (msg && typeof msg === 'object' && key in msg) {
        done();
        resolve(msg[key] as T);
      } else if (msg && typeof msg === 'object' && 'error' in msg) {
        done();
        reject(new EnvError(`demo ${what} failed: ${String(msg.error)}`));
      }
    };
    const onExit = (code: number | null): void => {
      done();
      reject(new EnvError(`demo ${what} exited early (${code})`));
    };
    const timer = setTimeout(() => {
      done();
      reject(new EnvError(`demo ${what} timed out after ${timeoutMs / 1000} s`));
    }, timeoutMs);
    child.on('message', onMessage);
    child.on('exit', onExit);
  });
}

function display(p: string): string {
  const rel = path.relative(process.cwd(), p);
  return rel && !rel.startsWith('..') && !path.isAbsolute(rel) ? rel : p;
}

function stopChild(child: ChildProcess | undefined): void {
  if (!child || child.exitCode !== null || child.signalCode !== null) return;
  if (child.connected) child.disconnect();
  // A peer that ignores the disconnect is killed; neither ever outlives the demo.
  setTimeout(() => child.kill('SIGKILL'), 2000).unref();
}

export async function run(a: Record<string, unknown>, io: CommandIO): Promise<DemoResult> {
  const note = (line: string): void => io.stderr(`demo: ${line}\n`);
  const dir = path.resolve(String(a.dir ?? '.'));
  fs.mkdirSync(dir, { recursive: true });
  const journal = path.join(dir, 'demo.db');
  const pcap = path.join(dir, 'demo.pcapng');
  // A pcapng left by an earlier run must not pass for this run's output.
  fs.rmSync(pcap, { force: true });

  const { record } = await import('../record/record');
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'h2rec-demo-'));
  fs.chmodSync(tmp, 0o700);
  let server: ChildProcess | undefined;
  let client: ChildProcess | undefined;
  const stopRecording = new AbortController();
  const onOuterAbort = (): void => stopRecording.abort();
  io.signal?.addEventListener('abort', onOuterAbort);
  try {
    const tls = makeDemoCert(tmp);
    const peerStdio: ('ignore' | 'pipe' | 'ipc')[] = ['ignore', 'ignore', 'pipe', 'ipc'];
    server = fork(SERVER_JS, [tls.key, tls.cert], { stdio: peerStdio });
    const port = await nextMessage<number>(server, 'listening', 'server', 15_000);
    client = fork(CLIENT_JS, [tls.cert], { stdio: peerStdio });
    await nextMessage<boolean>(client, 'waiting', 'client', 15_000);
    const serverPid = server.pid as number;
    const clientPid = client.pid as number;
    note(`node http2 server pid ${serverPid} on https://127.0.0.1:${port}, client pid ${clientPid}`);

    let onReady!: () => void;
    const ready = new Promise<void>((r) => (onReady = r));
    const recording = record(
      // node links OpenSSL statically, so its own binary is the probe target; --pid keeps everything else out.
      { output: journal, pids: [serverPid, clientPid], binaries: [process.execPath], noSystemLibs: true, force: true },
      { stderr: lineWriter(io), signal: stopRecording.signal, onReady, isTTY: false },
    );
    // A recorder that fails before it is live (no privileges, no BTF) ends the demo with its error.
    await Promise.race([ready, recording]).catch((e: unknown) => {
      if (e instanceof EnvError) throw new EnvError(`${e.message} (h2rec doctor lists what is missing)`, { cause: e });
      throw e;
    });

    client.send({ go: port });
    const done = await nextMessage<Exchange[]>(client, 'done', 'client', 30_000);
    note('client: ' + done.map((x) => `${x.method} ${x.path} -> ${x.status} (${x.bytes} bytes)`).join(', '));
    // Give the last ring-buffer records time to reach the journal before stopping.
    await new Promise((r) => setTimeout(r, 300));
    stopRecording.abort();
    const summary = await recording;
    fs.chmodSync(journal, 0o600);

    // The stages are loaded on use, so the other commands work while one is being rebuilt.
    const { analyze } = await import('../analyze/analyze');
    io.stdout('\n');
    analyze({ journal, format: 'text' }, io.stdout);

    const { exportJournal } = await import('../export/export');
    await exportJournal({ journal, pcap, redact: true }, { stderr: lineWriter(io), isTTY: false });
    fs.chmodSync(pcap, 0o600);

    io.stdout('\n');
    io.stdout(`${display(journal)}: the journal; read it again with: h2rec analyze ${display(journal)}\n`);
    io.stdout(`${display(pcap)}: decrypted HTTP/2 for Wireshark; open it with: wireshark ${display(pcap)}  (or: tshark -r ${display(pcap)} -Y http2)\n`);
    return { journal, pcap, serverPid, clientPid, record: summary, ran: ['record', 'analyze', 'export'] };
  } finally {
    io.signal?.removeEventListener('abort', onOuterAbort);
    stopRecording.abort();
    stopChild(client);
    stopChild(server);
    fs.rmSync(tmp, { recursive: true, force: true });
  }
}
