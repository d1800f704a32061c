/**
 * End-to-end (issue 12): Go programs' crypto/tls plaintext, recorded for
 * real. A net/http client and a net/http TLS file server are built here with
 * the standard library only (GOPROXY=off, no modules), under names of their
 * own so --comm keeps other tests' traffic out. Ground truth is what nghttpd
 * -v and nghttp -v printed for the same connection, mirrored (the peer's send
 * is the Go program's recv).
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import crypto from 'node:crypto';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { analyze } from '../../src/analyze/analyze';
import { JournalReader } from '../../src/journal/reader';
import { tmpDir, makeCert, randomFile, freePort, waitForPort, run, recordDuring, have, sha256 } from '../helpers/peers';
import { parseNghttpVerbose, type NghttpFrame } from '../helpers/nghttpv';
import { analyzedFrames, type Seen } from '../helpers/mirror';
import { walkJournal } from '../helpers/walk';
import { dataPayloads } from '../helpers/h2walk';

const repo = path.resolve(__dirname, '../../..');
const SRC = path.join(repo, 'test/fixtures/go/h2go.go');
const LOADER = path.join(repo, 'bpf/.output/h2rec-loader');
const X86TEST = path.join(repo, 'bpf/.output/x86len-test');
const dir = tmpDir('e2e-go');
const tag = String(process.pid % 100000);
const skip = !have('go') && 'go missing (apt-get install golang-go)';
let tls: { key: string; cert: string };
let www: string;
let smallHash: string;
let bigHash: string;
let built: string;
let stripped: string;

/** A private copy of the Go program named `h2g<role><pid>` (at most 15 characters: the kernel's comm). */
function copyAs(role: string, from = built): string {
  const p = path.join(dir, `h2g${role}${tag}`);
  fs.copyFileSync(from, p);
  fs.chmodSync(p, 0o755);
  return p;
}

function goBuild(out: string, extra: string[] = []): void {
  const env = {
    ...process.env,
    GOCACHE: path.join(dir, 'gocache'),
    GOPATH: path.join(dir, 'gopath'),
    GOPROXY: 'off',
    GO111MODULE: 'off',
    GOFLAGS: '',
    CGO_ENABLED: '0',
  };
  const r = spawnSync('go', ['build', ...extra, '-o', out, SRC], { env, encoding: 'utf8', timeout: 300_000 });
  assert.equal(r.status, 0, `go build: ${r.stderr}`);
}

before(() => {
  if (skip) return;
  tls = makeCert(dir);
  www = path.join(dir, 'www');
  fs.mkdirSync(www);
  smallHash = randomFile(path.join(www, 'small.bin'), 3000);
  bigHash = randomFile(path.join(www, '1m.bin'), 1 << 20);
  built = path.join(dir, 'h2go');
  stripped = path.join(dir, 'h2go-stripped');
  goBuild(built);
  goBuild(stripped, ['-ldflags=-s -w']);
});

const procs: ChildProcess[] = [];
after(() => {
  for (const p of procs) if (p.exitCode === null && p.signalCode === null) p.kill('SIGKILL');
  // The Go build cache is large and rebuilt in seconds; journals stay for inspection.
  for (const d of ['gocache', 'gopath']) fs.rmSync(path.join(dir, d), { recursive: true, force: true });
});

interface Peer {
  port: number;
  proc: ChildProcess;
  log: string;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

function exited(p: ChildProcess): Promise<{ code: number | null; signal: NodeJS.Signals | null }> {
  return new Promise((resolve) => {
    if (p.exitCode !== null || p.signalCode !== null) return resolve({ code: p.exitCode, signal: p.signalCode });
    p.once('exit', (code, signal) => resolve({ code, signal }));
  });
}

/** nghttpd -v, its frames logged to a file (one connection per server: its id=1). */
async function startNghttpdV(): Promise<Peer> {
  const port = await freePort();
  const log = path.join(dir, `nghttpd-${port}.log`);
  const fd = fs.openSync(log, 'w');
  const proc = spawn('nghttpd', ['-v', '-d', www, String(port), tls.key, tls.cert], { stdio: ['ignore', fd, 'ignore'] });
  fs.closeSync(fd);
  procs.push(proc);
  await waitForPort(port);
  return { port, proc, log, exited: exited(proc) };
}

/** The Go file server, on a port of its own choosing. */
async function startGoServer(bin: string): Promise<Peer> {
  const proc = spawn(bin, ['server', '127.0.0.1:0', www, tls.cert, tls.key], { stdio: ['ignore', 'pipe', 'pipe'] });
  procs.push(proc);
  const ex = exited(proc);
  let out = '';
  const port = await new Promise<number>((resolve, reject) => {
    proc.stdout!.on('data', (d: Buffer) => {
      out += d.toString();
      const m = /listening (\d+)/.exec(out);
      if (m) resolve(Number(m[1]));
    });
    proc.once('exit', () => reject(new Error(`go server exited: ${out}`)));
  });
  return { port, proc, log: '', exited: ex };
}

async function stopPeer(p: Peer): Promise<{ code: number | null; signal: NodeJS.Signals | null }> {
  p.proc.kill('SIGTERM');
  return p.exited;
}

interface GoClient {
  pid: number;
  go(): void;
  done: Promise<{ status: number | null; stdout: string; stderr: string }>;
}

/** Starts the Go client; it waits for go() (a line on stdin) before its first request. */
function startGoClient(bin: string, url: string, n = 1, conc = 1, slowEvery = 0): GoClient {
  const p = spawn(bin, ['client', url, String(n), String(conc), String(slowEvery)], { stdio: ['pipe', 'pipe', 'pipe'] });
  procs.push(p);
  let stdout = '';
  let stderr = '';
  p.stdout!.on('data', (d: Buffer) => (stdout += d.toString()));
  p.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
  const done = new Promise<{ status: number | null; stdout: string; stderr: string }>((resolve) =>
    p.once('close', (status) => resolve({ status, stdout, stderr })),
  );
  return { pid: p.pid!, go: () => p.stdin!.end('\n'), done };
}

/** The analyzer's frames for one pid (0 gaps, 0 diagnostics asserted), recorded through the Go probes. */
function analyzed(journal: string, pid: number): Record<'send' | 'recv', Seen[]> {
  const { seen, objs } = analyzedFrames(journal, pid);
  const conns = objs.filter((o) => o.kind === 'conn');
  assert.equal(conns.length, 1, 'one connection');
  assert.equal(conns[0].lib, 'go', 'recorded through the Go probes');
  return seen;
}

/**
 * nghttpd -v's log of the one TLS connection, as nghttp -v's format, directions
 * as the peer (the Go client) sees them. The port probe before it is a
 * connection too (it only logs "closed"), so the connection is the id with frames.
 */
function nghttpdMirror(log: string): NghttpFrame[] {
  const byId = new Map<string, string[]>();
  let id: string | undefined;
  for (const line of fs.readFileSync(log, 'utf8').split('\n')) {
    const m = /^\[id=(\d+)\] (.*)$/.exec(line);
    if (m) {
      id = m[1];
      if (!byId.has(id)) byId.set(id, []);
      byId.get(id)!.push(m[2]);
    } else if (id && line.startsWith(' '.repeat(10))) {
      byId.get(id)!.push(line);
    } else {
      id = undefined;
    }
  }
  const conns = [...byId.values()].filter((l) => l.some((x) => / frame </.test(x)));
  assert.equal(conns.length, 1, 'nghttpd saw one h2 connection');
  return parseNghttpVerbose(conns[0].join('\n')).map((f) => ({ ...f, dir: f.dir === 'send' ? 'recv' : 'send' }));
}

/**
 * Go's side must equal the peer's printed frames per direction. nghttpd never prints a
 * WINDOW_UPDATE that arrives for a stream it has closed: nghttp2 drops those
 * before its frame callback (RFC 9113 §6.9 lets a closed stream's
 * WINDOW_UPDATE be ignored), and Go's client sends them as it consumes a body
 * nghttpd already finished. So with `closedStreamUpdates`, stream-level
 * WINDOW_UPDATEs the Go side sent are compared as a superset.
 */
function assertMirrors(have: Record<'send' | 'recv', Seen[]>, printed: NghttpFrame[], closedStreamUpdates = false): void {
  for (const dirName of ['send', 'recv'] as const) {
    let want: { type: string; stream: number; flags: number; length: number; headers: [string, string][] }[] = printed.filter((f) => f.dir === dirName);
    let got = have[dirName];
    assert.ok(got.length > 2, `${dirName}: frames recorded`);
    if (closedStreamUpdates && dirName === 'send') {
      const streamWU = (l: typeof want) => l.filter((f) => f.type === 'WINDOW_UPDATE' && f.stream !== 0);
      assert.ok(streamWU(got).length >= streamWU(want).length, 'every stream WINDOW_UPDATE nghttpd printed was recorded');
      const rest = (l: typeof want) => l.filter((f) => !(f.type === 'WINDOW_UPDATE' && f.stream !== 0));
      want = rest(want);
      got = rest(got);
    }
    const shape = (l: typeof want) => l.map(({ type, stream, flags, length }) => ({ type, stream, flags, length }));
    // Whoever closes first leaves the other's last control frames unread (a GOAWAY, an ACK): at the
    // end only, never HEADERS or DATA.
    const n = Math.min(got.length, want.length);
    for (const f of [...got.slice(n), ...want.slice(n)]) assert.ok(!['HEADERS', 'DATA'].includes(f.type), `${dirName}: unmatched ${f.type} at the end`);
    assert.ok(n >= Math.max(got.length, want.length) - 2, `${dirName}: at most 2 unmatched frames at the end`);
    assert.deepEqual(shape(got.slice(0, n)), shape(want.slice(0, n)), `${dirName}: (type, stream, flags, length) sequence`);
    assert.deepEqual(
      got.slice(0, n).filter((f) => f.headers.length).map((f) => f.headers),
      want.slice(0, n).filter((f) => f.headers.length).map((f) => f.headers),
      `${dirName}: decoded headers`,
    );
  }
}

/** DATA received by pid hashes to the file. */
function assertBody(journal: string, pid: number, dirName: 'send' | 'recv', hash: string): void {
  const streams = [...walkJournal(journal, { pids: [pid] }).values()].filter((s) => s.dir === dirName);
  assert.equal(streams.length, 1);
  assert.equal(streams[0].missing, 0n, 'contiguous by position');
  assert.equal(streams[0].lib, 'go');
  assert.equal(sha256(dataPayloads(streams[0].chunks)), hash, 'DATA hashes to the served file');
}

type How = '--pid' | '--comm' | '--binary';

for (const how of ['--pid', '--comm', '--binary'] as How[]) {
  test(`Go client against nghttpd, recorded with ${how}: frames mirror nghttpd -v, body hashes`, { skip }, async () => {
    const server = await startNghttpdV();
    const bin = copyAs(how === '--pid' ? 'p' : how === '--comm' ? 'c' : 'b');
    const name = path.basename(bin);
    const journal = path.join(dir, `client${how}.db`);
    const url = `https://127.0.0.1:${server.port}/1m.bin`;
    // --pid and --comm find a running program: it waits for go() until the probes are live.
    let client: GoClient | undefined = how === '--binary' ? undefined : startGoClient(bin, url);
    if (client) await new Promise((r) => setTimeout(r, 200));
    const opts =
      how === '--pid'
        ? { output: journal, pids: [client!.pid], noSystemLibs: true }
        : how === '--comm'
          ? { output: journal, comm: name }
          : { output: journal, comm: name, binaries: [bin], noSystemLibs: true };
    const { summary, result } = await recordDuring(opts, async () => {
      client ??= startGoClient(bin, url);
      client.go();
      return client.done;
    });
    await stopPeer(server);
    assert.equal(result.status, 0, result.stderr);
    assert.match(result.stdout, new RegExp(`^${bigHash} ${1 << 20}\nproto HTTP/2.0\n$`));
    assert.equal(summary.lostBytes, 0n);
    const r = JournalReader.open(journal);
    assert.ok(r.probes().some((p) => p.ok && p.symbol === 'crypto/tls.(*Conn).Read' && p.binary === fs.realpathSync(bin)));
    r.close();
    assertMirrors(analyzed(journal, client!.pid), nghttpdMirror(server.log), true);
    assertBody(journal, client!.pid, 'recv', bigHash);
  });
}

/**
 * System-wide with --comm, a Go program that starts after the recording: the loader hears of its exec
 * (on_exec), finds crypto/tls in its executable and probes it. The client waits for go() until its
 * probe rows are in the journal, so every call is recorded: the same mirror and hash as above.
 */
test('Go client started while recording with --comm: probed at its exec, frames mirror nghttpd -v, body hashes', { skip }, async (t) => {
  const server = await startNghttpdV();
  const bin = copyAs('l');
  const journal = path.join(dir, 'client-late.db');
  const url = `https://127.0.0.1:${server.port}/1m.bin`;
  let client: GoClient | undefined;
  let probedMs = -1;
  const { summary, result } = await recordDuring({ output: journal, comm: path.basename(bin) }, async () => {
    const t0 = Date.now();
    client = startGoClient(bin, url);
    const real = fs.realpathSync(bin);
    for (let i = 0; i < 100 && probedMs < 0; i++) {
      await new Promise((r) => setTimeout(r, 50));
      const r = JournalReader.open(journal);
      if (r.probes().filter((p) => p.ok && p.binary === real).length === 3) probedMs = Date.now() - t0;
      r.close();
    }
    client.go();
    return client.done;
  });
  await stopPeer(server);
  assert.ok(probedMs >= 0, 'Write, Read and Close were probed after the program started');
  assert.equal(result.status, 0, result.stderr);
  assert.match(result.stdout, new RegExp(`^${bigHash} ${1 << 20}\nproto HTTP/2.0\n$`));
  assert.equal(summary.lostBytes, 0n);
  assertMirrors(analyzed(journal, client!.pid), nghttpdMirror(server.log), true);
  assertBody(journal, client!.pid, 'recv', bigHash);
  t.diagnostic(`probed ${probedMs} ms after the program started (journal commit included)`);
});

/**
 * net/http's HTTP/2 server flushes its last frame (GOAWAY) on a writer goroutine while the serve loop
 * closes the connection; crypto/tls lets a Write that got in first finish after that Close. Ending the
 * connection at Close's entry made such a Write's bytes a spurious second connection (MID_STREAM_START)
 * about one run in three; the Close probe now decides at Close's RETs (see go_conns in h2rec.bpf.c).
 */
test('Go server queried with nghttp -v: its send is what nghttp received, and the reverse', {
  skip,
}, async () => {
  const bin = copyAs('s');
  const server = await startGoServer(bin);
  const journal = path.join(dir, 'server.db');
  const { result } = await recordDuring({ output: journal, comm: path.basename(bin) }, () =>
    run('nghttp', ['-nv', `https://127.0.0.1:${server.port}/1m.bin`]),
  );
  const ex = await stopPeer(server);
  assert.equal(result.status, 0, result.stderr);
  assert.deepEqual(ex, { code: 0, signal: null }, 'the Go server exits normally');
  const printed = parseNghttpVerbose(result.stdout).map((f) => ({ ...f, dir: f.dir === 'send' ? 'recv' : 'send' }) as NghttpFrame);
  assertMirrors(analyzed(journal, server.proc.pid!), printed);
  assertBody(journal, server.proc.pid!, 'send', bigHash);
});

test('a Write racing Close on another goroutine, 300 times: its bytes stay in their connection, which ends once, at its close', { skip }, async () => {
  const server = await startGoServer(copyAs('v'));
  const bin = copyAs('c');
  const journal = path.join(dir, 'closerace.db');
  const n = 300;
  const { result } = await recordDuring({ output: journal, comm: path.basename(bin), binaries: [bin], noSystemLibs: true }, () =>
    run(bin, ['closerace', `127.0.0.1:${server.port}`, String(n)]),
  );
  await stopPeer(server);
  assert.equal(result.status, 0, result.stderr);
  const m = /^raced (\d+) wrote (\d+)$/.exec(result.stdout.trim());
  assert.ok(m, result.stdout);
  const wrote = Number(m[2]);
  // Both outcomes must occur, or the race was not run: some Writes got in before Close, some after.
  assert.ok(wrote > 0 && wrote < n, `racing Writes that sent: ${wrote} of ${n}`);
  const first = 'GET /small.bin HTTP/1.1\r\nHost: x\r\n';
  const both = `${first}X-Race: 1\r\n\r\n`;
  const sends = [...walkJournal(journal, { pids: [result.pid] }).values()].filter((s) => s.dir === 'send');
  const texts = sends.map((s) => Buffer.concat(s.chunks).toString('latin1'));
  assert.equal(sends.length, n, 'one connection per dial: no racing Write starts a connection of its own');
  assert.ok(texts.every((t) => t === first || t === both), 'each connection sent the first piece, then maybe the second');
  assert.equal(texts.filter((t) => t === both).length, wrote, 'every racing Write that sent is in its connection');
  // Each connection ends once, by a close record whose end position counts the racing Write's bytes.
  const r = JournalReader.open(journal);
  const closes = new Map<string, bigint>();
  for (const rec of r.records({ pids: [result.pid] }))
    if (rec.kind === 'close') {
      const key = `${rec.conn.pid}:${rec.conn.ptr}:${rec.conn.gen}`;
      assert.ok(!closes.has(key), `${key} closed twice`);
      closes.set(key, rec.endPos[0]);
    }
  r.close();
  for (const [i, s] of sends.entries()) assert.equal(closes.get(s.conn), BigInt(texts[i].length), `${s.conn}: closed at its last byte`);
});

/** One pass over a stream's frames: sha256 of each stream's DATA. */
function bodyHashes(chunks: Buffer[]): Map<number, string> {
  const hashes = new Map<number, crypto.Hash>();
  let carry: Buffer = Buffer.alloc(0);
  let prefaceChecked = false;
  for (const c of chunks) {
    carry = carry.length ? Buffer.concat([carry, c]) : c;
    if (!prefaceChecked && carry.length >= 24) {
      if (carry.subarray(0, 24).toString('latin1') === 'PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n') carry = carry.subarray(24);
      prefaceChecked = true;
    }
    if (!prefaceChecked) continue;
    let off = 0;
    while (off + 9 <= carry.length) {
      const len = carry.readUIntBE(off, 3);
      if (off + 9 + len > carry.length) break;
      const sid = carry.readUInt32BE(off + 5) & 0x7fffffff;
      if (carry[off + 3] === 0) {
        let p = carry.subarray(off + 9, off + 9 + len);
        if (carry[off + 4] & 8) p = p.subarray(1, p.length - p[0]);
        if (!hashes.has(sid)) hashes.set(sid, crypto.createHash('sha256'));
        hashes.get(sid)!.update(p);
      }
      off += 9 + len;
    }
    carry = Buffer.from(carry.subarray(off));
  }
  return new Map([...hashes].map(([k, h]) => [k, h.digest('hex')]));
}

test('200 concurrent 1 MiB streams, Go client and Go server, slow readers parked: exact, contiguous, both exit 0', { skip, timeout: 240_000 }, async () => {
  const bin = copyAs('x');
  const server = await startGoServer(bin);
  const journal = path.join(dir, 'concurrent.db');
  const client = startGoClient(bin, `https://127.0.0.1:${server.port}/1m.bin`, 200, 200, 10);
  const { summary, result } = await recordDuring({ output: journal, comm: path.basename(bin), binaries: [bin], ringbufMb: 256 }, async () => {
    client.go();
    return client.done;
  });
  const ex = await stopPeer(server);
  assert.equal(result.status, 0, `client: ${result.stderr}`);
  assert.deepEqual(ex, { code: 0, signal: null }, 'the Go server exits normally');
  const lines = result.stdout.trim().split('\n');
  assert.equal(lines.filter((l) => l === `${bigHash} ${1 << 20}`).length, 200, 'the client got 200 whole bodies');
  // Loss accounting is exact: lost bytes reported = bytes missing by position (here both 0 with a 256 MiB ring).
  let missing = 0n;
  for (const pid of [client.pid, server.proc.pid!]) {
    const streams = [...walkJournal(journal, { pids: [pid] }).values()];
    for (const s of streams) {
      missing += s.missing;
      assert.equal(s.lib, 'go');
    }
    if (summary.lostBytes === 0n) {
      // Each side's DATA, per stream, hashes to the file: nothing mispaired or out of place.
      const dataDir = pid === client.pid ? 'recv' : 'send';
      const bodies = streams.filter((s) => s.dir === dataDir).map((s) => bodyHashes(s.chunks));
      const all = bodies.flatMap((m) => [...m.values()]);
      assert.equal(all.length, 200, `${dataDir}: 200 streams with DATA`);
      assert.ok(all.every((h) => h === bigHash), `${dataDir}: every stream's DATA hashes to the file`);
    }
  }
  assert.equal(missing, summary.lostBytes, 'bytes missing by position = bytes reported lost');
  let out = '';
  const res = analyze({ journal, format: 'json', summary: true, pids: [client.pid, server.proc.pid!] }, (s) => (out += s));
  assert.equal(res.gaps, 0);
  assert.equal(res.diagnostics, 0);
  assert.equal(res.streams, 400, 'each exchange seen from both sides');
});

test('stripped Go binary (-ldflags=-s -w), also PIE: found through pclntab at the same offsets, and recorded', { skip }, async () => {
  const fns = ['crypto/tls.(*Conn).Write', 'crypto/tls.(*Conn).Read', 'crypto/tls.(*Conn).Close'];
  for (const fn of fns) {
    const full = JSON.parse(spawnSync(X86TEST, ['--go', built, fn, 'symtab'], { encoding: 'utf8' }).stdout);
    const viaPcln = JSON.parse(spawnSync(X86TEST, ['--go', built, fn, 'pclntab'], { encoding: 'utf8' }).stdout);
    const s = JSON.parse(spawnSync(X86TEST, ['--go', stripped, fn, 'auto'], { encoding: 'utf8' }).stdout);
    assert.equal(full.via, 'symtab');
    assert.equal(s.via, 'pclntab', `${fn}: the stripped binary has no symbol table`);
    assert.ok(full.rets.length >= 1);
    assert.deepEqual(viaPcln.rets, full.rets, `${fn}: pclntab and symtab agree`);
    const rel = (o: { entry: number; rets: number[] }) => o.rets.map((r) => r - o.entry);
    assert.deepEqual(rel(s), rel(full), `${fn}: the same RETs in the stripped build`);
  }
  // A PIE keeps pclntab unnamed inside .data.rel.ro: found by its header's magic.
  const pie = path.join(dir, 'h2go-pie');
  const pieStripped = path.join(dir, 'h2go-pie-stripped');
  goBuild(pie, ['-buildmode=pie']);
  goBuild(pieStripped, ['-buildmode=pie', '-ldflags=-s -w']);
  for (const fn of fns) {
    const full = JSON.parse(spawnSync(X86TEST, ['--go', pie, fn, 'symtab'], { encoding: 'utf8' }).stdout);
    const s = JSON.parse(spawnSync(X86TEST, ['--go', pieStripped, fn, 'auto'], { encoding: 'utf8' }).stdout);
    assert.equal(s.via, 'pclntab', `PIE ${fn}: ${s.error ?? ''}`);
    assert.deepEqual(s.rets.map((r: number) => r - s.entry), full.rets.map((r: number) => r - full.entry), `PIE ${fn}: the same RETs`);
  }
  const server = await startNghttpdV();
  const bin = copyAs('t', stripped);
  const journal = path.join(dir, 'stripped.db');
  const client = startGoClient(bin, `https://127.0.0.1:${server.port}/small.bin`);
  const { result } = await recordDuring({ output: journal, comm: path.basename(bin), binaries: [bin], noSystemLibs: true }, async () => {
    client.go();
    return client.done;
  });
  await stopPeer(server);
  assert.equal(result.status, 0, result.stderr);
  assertMirrors(analyzed(journal, client.pid), nghttpdMirror(server.log), true);
  assertBody(journal, client.pid, 'recv', smallHash);
});

/** A copy whose build info claims an older Go: the version string is patched in place, same length. */
function craftOldGo(minor: number): string {
  const bin = copyAs('o');
  const b = fs.readFileSync(bin);
  const magic = Buffer.from('\xff Go buildinf:', 'latin1');
  const at = b.indexOf(magic);
  assert.ok(at >= 0 && (b[at + 15] & 2) !== 0, 'inline build info (Go >= 1.18)');
  const len = b[at + 32];
  const v = b.subarray(at + 33, at + 33 + len).toString('latin1');
  const m = /^go1\.(\d\d)/.exec(v);
  assert.ok(m, `version ${v}`);
  b.write(`go1.${minor}`, at + 33, 'latin1');
  fs.writeFileSync(bin, b);
  return bin;
}

/**
 * The same claim in the build-info layout Go 1.16 and 1.17 wrote (flags without bit 2): pointers at +16
 * to a string header {ptr, len}, here placed inside the build info itself (its virtual address from readelf).
 */
function craftOldGoPointerFormat(version: string): string {
  const bin = copyAs('q');
  const b = fs.readFileSync(bin);
  const at = b.indexOf(Buffer.from('\xff Go buildinf:', 'latin1'));
  const sec = spawnSync('readelf', ['-SW', bin], { encoding: 'utf8' }).stdout.split('\n').find((l) => l.includes('.go.buildinfo'))!;
  const f = sec.replace(/^\s*\[\s*\d+\]\s*/, '').split(/\s+/);
  const va = BigInt('0x' + f[2]) + BigInt(at - parseInt(f[3], 16));
  b[at + 15] = 0; // pointer format
  b.writeBigUInt64LE(va + 32n, at + 16); // -> version string header
  b.writeBigUInt64LE(0n, at + 24);
  b.writeBigUInt64LE(va + 48n, at + 32); // {ptr, len}
  b.writeBigUInt64LE(BigInt(version.length), at + 40);
  b.write(version, at + 48, 'latin1');
  fs.writeFileSync(bin, b);
  return bin;
}

test('build info in the pointer layout of Go 1.16/1.17 is read: go1.16 refused, go1.17 accepted', { skip }, () => {
  for (const [v, ok] of [['go1.16.15', false], ['go1.17.13', true]] as const) {
    const bin = craftOldGoPointerFormat(v);
    const r = spawnSync(LOADER, ['--binary', bin, '--no-system-libs'], { input: '', encoding: 'latin1', env: { ...process.env, H2REC_LOADER_QUIET: '1' }, timeout: 30_000 });
    if (ok) {
      assert.equal(r.status, 0, r.stderr);
      assert.match(r.stdout, new RegExp(`"symbol":"crypto/tls\\.\\(\\*Conn\\)\\.Read","ok":true,"go":"${v.replace(/\./g, '\\.')}"`));
    } else {
      assert.equal(r.status, 2);
      assert.match(r.stderr, new RegExp(`${v.replace(/\./g, '\\.')}.*stack.*Go 1\\.17 or later`));
    }
  }
});

test('Go < 1.17 (stack ABI) is refused with one line naming why: --binary is an error, --pid a warning', { skip }, async () => {
  const old = craftOldGo(16);
  const r = spawnSync(LOADER, ['--binary', old, '--no-system-libs'], { encoding: 'utf8', env: { ...process.env, H2REC_LOADER_QUIET: '1' } });
  assert.equal(r.status, 2);
  const lines = r.stderr.trim().split('\n');
  assert.equal(lines.length, 1, r.stderr);
  assert.match(lines[0], /go1\.16.*stack.*Go 1\.17 or later/);
  // Through the CLI: a usage error, no journal left behind.
  const cli = spawnSync('node', [path.join(repo, 'build/src/cli.js'), 'record', '--binary', old, '--no-system-libs', '-o', path.join(dir, 'old.db')], { encoding: 'utf8' });
  assert.equal(cli.status, 2, cli.stderr);
  assert.match(cli.stderr, /go1\.16.*Go 1\.17 or later/);
  assert.equal(fs.existsSync(path.join(dir, 'old.db')), false, 'no silent empty journal');
  // A running old Go program named by --pid: a warning line, and with nothing else to probe (no TLS library,
  // plaintext sockets off), an error.
  const client = startGoClient(old, 'https://127.0.0.1:1/');
  const w = spawnSync(LOADER, ['--pid', String(client.pid), '--no-system-libs', '--no-sockets'], { encoding: 'utf8', env: { ...process.env, H2REC_LOADER_QUIET: '1' }, timeout: 20_000 });
  client.go();
  await client.done;
  assert.equal(w.status, 3);
  assert.match(w.stdout, /"t":"warn","msg":"[^"]*go1\.16[^"]*Go 1\.17 or later/);
});

test('the RETs are found while another tracer holds probes on the binary (code read through the page cache, not a mapping)', { skip }, async () => {
  const bin = copyAs('u');
  const fn = 'crypto/tls.(*Conn).Read';
  const before = JSON.parse(spawnSync(X86TEST, ['--go', bin, fn, 'auto'], { encoding: 'utf8' }).stdout);
  // A first loader's uprobes put int3 into every executable-capable mapping of the file.
  const first = spawn(LOADER, ['--binary', bin, '--no-system-libs'], { stdio: ['pipe', 'pipe', 'ignore'] });
  procs.push(first);
  await new Promise<void>((resolve) => first.stdout!.on('data', (d: Buffer) => d.includes('"t":"ready"') && resolve()));
  const during = JSON.parse(spawnSync(X86TEST, ['--go', bin, fn, 'auto'], { encoding: 'utf8' }).stdout);
  // And a second recorder on the same binary attaches all its probes.
  const second = spawnSync(LOADER, ['--binary', bin, '--no-system-libs'], { input: '', encoding: 'latin1', timeout: 30_000 });
  first.stdin!.end();
  await exited(first);
  assert.deepEqual(during.rets, before.rets);
  assert.equal(second.status, 0, second.stderr);
  assert.match(second.stdout, /"symbol":"crypto\/tls\.\(\*Conn\)\.Read","ok":true/);
});

test('a Read into a buffer on the goroutine stack, the stack moved by the GC while the Read is parked: the bytes are still right', { skip }, async () => {
  const server = await startGoServer(copyAs('w'));
  const bin = copyAs('k');
  const journal = path.join(dir, 'stackread.db');
  const { result } = await recordDuring({ output: journal, comm: path.basename(bin), binaries: [bin], noSystemLibs: true }, () =>
    run(bin, ['stackread', `127.0.0.1:${server.port}`, '/slow/1m.bin']),
  );
  await stopPeer(server);
  assert.equal(result.status, 0, result.stderr);
  const m = /^([0-9a-f]{64}) (\d+) moves (\d+)$/.exec(result.stdout.trim());
  assert.ok(m, result.stdout);
  assert.equal(m[1], bigHash, 'the program itself read the file');
  // The program saw its stack (and buf in it) move during Reads: otherwise this test proves nothing.
  assert.ok(Number(m[3]) > 0, 'the stack moved under a parked Read');
  const recv = [...walkJournal(journal, { pids: [result.pid] }).values()].filter((s) => s.dir === 'recv');
  assert.equal(recv.length, 1);
  assert.equal(recv[0].missing, 0n);
  const bytes = Buffer.concat(recv[0].chunks);
  const body = bytes.subarray(bytes.indexOf('\r\n\r\n') + 4);
  assert.equal(sha256([body]), bigHash, 'the recorded plaintext is the file: buffer addresses rebased on the moved stack');
});
