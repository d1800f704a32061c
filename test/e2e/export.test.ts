/**
 * End-to-end (issue 5): real recordings of nghttp, curl, node and a GnuTLS
 * client, exported and read back by tshark 4.0 with no options; bodies and
 * DATA bytes hash to the served files.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { exportJournal } from '../../src/export/export';
import { tmpDir, makeCert, randomFile, startNghttpd, run, recordDuring, sha256, type Server } from '../helpers/peers';
import { tsharkFrames, tsharkProblems, analyzerFrames } from '../helpers/tshark';

const dir = tmpDir('e2e-export');
const repo = path.resolve(__dirname, '../../..');
const io = { stderr: () => undefined };
let server: Server;
let tls: { key: string; cert: string };
let hash4m: string;
let hashSmall: string;
const shape = (r: { conn: number; dir: string; type: number; stream: number; flags: number; length: number }): string =>
  `${r.conn} ${r.dir} ${r.type} ${r.stream} ${r.flags} ${r.length}`;

before(async () => {
  tls = makeCert(dir);
  const www = path.join(dir, 'www');
  fs.mkdirSync(www);
  hash4m = randomFile(path.join(www, '4m.bin'), 4 << 20);
  hashSmall = randomFile(path.join(www, 'small.bin'), 5000);
  server = await startNghttpd(www, tls);
});
after(async () => server?.stop());

const SCENARIOS: Record<string, { comm: string; binaries?: string[]; cmd: () => [string, string[]]; file: string }> = {
  nghttp: { comm: 'nghttp', cmd: () => ['nghttp', ['-n', `https://127.0.0.1:${server.port}/4m.bin`]], file: '4m.bin' },
  curl: { comm: 'curl', cmd: () => ['curl', ['-sk', '--http2', '-o', '/dev/null', `https://127.0.0.1:${server.port}/4m.bin`]], file: '4m.bin' },
  'wget2 (GnuTLS)': { comm: 'wget2', cmd: () => ['wget2', ['--no-check-certificate', '--http2', '-q', '-O', '/dev/null', '--no-robots', `https://127.0.0.1:${server.port}/small.bin`]], file: 'small.bin' },
  node: { comm: 'node', binaries: [process.execPath], cmd: () => [process.execPath, [path.join(repo, 'test/peers/node-h2.js'), path.join(dir, 'www', '4m.bin'), tls.key, tls.cert]], file: '4m.bin' },
};

for (const [name, sc] of Object.entries(SCENARIOS)) {
  test(`tshark agrees with the analyzer on a real ${name} recording; DATA and bodies hash to the file`, async () => {
    const journal = path.join(dir, `${sc.comm}.db`);
    const [cmd, args] = sc.cmd();
    const { result } = await recordDuring({ output: journal, comm: sc.comm, binaries: sc.binaries }, () => run(cmd, args));
    assert.equal(result.status, 0, result.stderr);
    const pcap = path.join(dir, `${sc.comm}.pcapng`);
    const bodies = path.join(dir, `${sc.comm}-bodies`);
    const res = await exportJournal({ journal, pcap, bodies, redact: true }, io);
    assert.equal(res.redactedFields, 0, 'nothing sensitive in these requests, so bytes are kept verbatim');
    const problems = tsharkProblems(pcap);
    assert.deepEqual([problems.malformed, problems.errors], [0, 0], 'no malformed packets, no error-level expert items');
    const got = tsharkFrames(pcap);
    const want = analyzerFrames(journal);
    assert.deepEqual(got.map(shape), want.map(shape));
    assert.deepEqual(got.filter((f) => f.headers.length).map((f) => f.headers), want.filter((f) => f.headers.length).map((f) => f.headers));
    const want1 = sc.file === '4m.bin' ? hash4m : hashSmall;
    // The served file as tshark sees it: the client's received DATA on one stream, frame by frame, and reassembled.
    const client = got.filter((f) => f.type === 0 && f.dir === 'recv');
    const byStream = new Map<number, string[]>();
    for (const f of client) byStream.set(f.stream, [...(byStream.get(f.stream) ?? []), f.data]);
    const hashes = [...byStream.values()].map((parts) => sha256(parts.map((h) => Buffer.from(h, 'hex'))));
    const reassembled = client.filter((f) => f.body).map((f) => sha256(Buffer.from(f.body!, 'hex')));
    assert.ok([...hashes, ...reassembled].includes(want1), 'tshark shows DATA bytes whose sha256 is the served file');
    const files = res.bodies.map((f) => sha256(fs.readFileSync(f)));
    assert.ok(files.includes(want1), '--bodies wrote the served file');
    for (const f of res.bodies) assert.equal(fs.statSync(f).mode & 0o777, 0o600);
  });
}
