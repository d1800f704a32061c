/**
 * End-to-end (issues 4 and 11): the analyzer agrees frame for frame with what
 * `nghttp -v` printed for its own session, recorded for real against
 * nghttpd, over TLS (the library probes) and over h2c with prior knowledge
 * (plaintext socket capture, nghttpd --no-tls). nghttp's output is the ground
 * truth of what that client sent and received; we compare each direction
 * separately.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import { spawn, type ChildProcess } from 'node:child_process';
import path from 'node:path';
import { analyze } from '../../src/analyze/analyze';
import { tmpDir, makeCert, randomFile, startNghttpd, run, recordDuring, freePort, waitForPort, type Server, type RunResult } from '../helpers/peers';
import { parseNghttpVerbose } from '../helpers/nghttpv';
import { analyzedFrames, truth, type Seen } from '../helpers/mirror';

const dir = tmpDir('e2e-nghttp');
let server: Server;
let h2c: Server;
let journal: string;
const runs = new Map<string, RunResult>();
const TRANSPORTS = ['TLS', 'h2c', 'h2c-upgrade'] as const;
/** What h2o's cleartext listener is asked over `Upgrade: h2c` (nghttp -u): requests with no body. */
const UPGRADE_SCENARIOS = ['plain GET', '1 MiB body', '20 concurrent streams (-m 20)', 'CONTINUATION (--continuation)', 'padding (-b 20)'];
let h2o: ChildProcess | undefined;

const SCENARIOS: Record<string, (base: string) => string[]> = {
  'plain GET': (b) => [`${b}/small.bin`],
  '1 MiB body': (b) => [`${b}/1m.bin`],
  '20 concurrent streams (-m 20)': (b) => ['-m', '20', `${b}/small.bin`],
  'CONTINUATION (--continuation)': (b) => ['--continuation', `${b}/small.bin`],
  'padding (-b 20)': (b) => ['-b', '20', `${b}/small.bin`],
  'small header table (-c 128)': (b) => ['-c', '128', '-m', '3', '-H', 'x-big: ' + 'v'.repeat(60), `${b}/small.bin`],
  'upload (-d)': (b) => ['-d', path.join(dir, 'upload.bin'), `${b}/small.bin`],
  'trailers (--trailer)': (b) => ['-d', path.join(dir, 'upload.bin'), '--trailer', 'x-checksum: abc123', `${b}/small.bin`],
};

before(async () => {
  const tls = makeCert(dir);
  const www = path.join(dir, 'www');
  fs.mkdirSync(www);
  randomFile(path.join(www, 'small.bin'), 3000);
  randomFile(path.join(www, '1m.bin'), 1 << 20);
  randomFile(path.join(dir, 'upload.bin'), 100_000);
  server = await startNghttpd(www, tls);
  h2c = await startNghttpd(www, tls, ['--no-tls']);
  // h2o's cleartext listener answers `Upgrade: h2c` (RFC 7540 §3.2) with 101, then speaks HTTP/2.
  const h2oPort = await freePort();
  fs.writeFileSync(
    path.join(dir, 'h2o.conf'),
    `listen:\n  port: ${h2oPort}\n  host: 127.0.0.1\nuser: root\nhosts:\n  "127.0.0.1:${h2oPort}":\n    paths:\n      /:\n        file.dir: ${www}\n`,
  );
  h2o = spawn('h2o', ['-c', path.join(dir, 'h2o.conf')], { stdio: 'ignore' });
  await waitForPort(h2oPort);
  journal = path.join(dir, 'nghttp.db');
  const bases = { TLS: `https://127.0.0.1:${server.port}`, h2c: `http://127.0.0.1:${h2c.port}`, 'h2c-upgrade': `http://127.0.0.1:${h2oPort}` };
  await recordDuring({ output: journal, comm: 'nghttp' }, async () => {
    for (const transport of TRANSPORTS) {
      for (const [name, args] of Object.entries(SCENARIOS)) {
        if (transport === 'h2c-upgrade' && !UPGRADE_SCENARIOS.includes(name)) continue;
        const r = await run('nghttp', ['-nv', ...(transport === 'h2c-upgrade' ? ['-u'] : []), ...args(bases[transport])]);
        assert.equal(r.status, 0, `${name}: ${r.stderr}`);
        runs.set(`${transport} ${name}`, r);
      }
    }
  });
});

after(async () => {
  await server?.stop();
  await h2c?.stop();
  h2o?.kill('SIGTERM');
});

/** The analyzer's JSON for one pid, with HEADERS+CONTINUATION merged the way nghttp prints them. */
const analyzed = (pid: number): Record<'send' | 'recv', Seen[]> => analyzedFrames(journal, pid).seen;

for (const name of TRANSPORTS.flatMap((t) => Object.keys(SCENARIOS).filter((n) => t !== 'h2c-upgrade' || UPGRADE_SCENARIOS.includes(n)).map((n) => `${t} ${n}`))) {
  test(`nghttp -v and h2rec agree frame for frame: ${name}`, () => {
    const r = runs.get(name)!;
    const printed = parseNghttpVerbose(r.stdout);
    assert.ok(printed.length > 3, 'nghttp printed frames');
    const got = analyzed(r.pid);
    if (name.startsWith('h2c-upgrade')) {
      // RFC 7540 §3.2: the HTTP/1.1 request with Upgrade: h2c, then the 101, then HTTP/2 (the request is stream 1).
      let out = '';
      analyze({ journal, format: 'json', pids: [r.pid] }, (x) => (out += x));
      const heads = out.trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>).filter((o) => o.kind === 'http1');
      assert.deepEqual(heads.map((h) => [h.dir, String(h.startLine).split(' ')[0]]), [['send', 'GET'], ['recv', 'HTTP/1.1']]);
      assert.equal(String(heads[1].startLine), 'HTTP/1.1 101 Switching Protocols');
      assert.ok((heads[0].headers as [string, string][]).some(([k, v]) => k.toLowerCase() === 'upgrade' && v === 'h2c'));
    }
    for (const dirName of ['send', 'recv'] as const) {
      const want = truth(printed, dirName);
      const have = got[dirName];
      assert.deepEqual(
        have.map(({ type, stream, flags, length }) => ({ type, stream, flags, length })),
        want.map(({ type, stream, flags, length }) => ({ type, stream, flags, length })),
        `${dirName}: (type, stream, flags, length) sequence`,
      );
      assert.deepEqual(
        have.filter((f) => f.headers.length).map((f) => f.headers),
        want.filter((f) => f.headers.length).map((f) => f.headers),
        `${dirName}: decoded headers`,
      );
    }
  });
}
