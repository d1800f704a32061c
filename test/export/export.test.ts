/**
 * The exporter against tshark 4.0 as the oracle, on the real fixture
 * journals and on synthetic ones: Wireshark users must see exactly the
 * frames and headers the analyzer reports, with no malformed packets.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import zlib from 'node:zlib';
import { spawnSync } from 'node:child_process';
import { exportJournal, type ExportResult } from '../../src/export/export';
import { analyze } from '../../src/analyze/analyze';
import { tsharkFrames, tsharkProblems, analyzerFrames, headerBlocks, hintArgs, isbDrops, pcapngBlocks, pcapngOptions } from '../helpers/tshark';
import { makeJournal, dataRec } from '../helpers/journal';
import { HpackEncoder, encodeFrames, headerFrames, preface, settings, data, goaway } from '../helpers/h2encode';
import { harProblems } from './har-schema';

const fixtures = path.resolve(__dirname, '../../../fixtures');
const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'h2rec-export-'));
const io = { stderr: () => undefined };
const HEADER_FRAMES = new Set([1, 5, 9]);

type Shape = { conn: number; dir: string; type: number; stream: number; flags: number; length: number };
/**
 * Frames as comparable lines. A re-encoded header block has other lengths,
 * and may be split over CONTINUATIONs differently: then each block is one
 * line (its first frame, without length and END_HEADERS).
 */
function shapes(frames: Shape[], reencoded = false): string[] {
  return frames
    .filter((r) => !(reencoded && r.type === 9))
    .map((r) => (reencoded && HEADER_FRAMES.has(r.type) ? `${r.conn} ${r.dir} ${r.type} ${r.stream} ${r.flags & ~0x4} block` : `${r.conn} ${r.dir} ${r.type} ${r.stream} ${r.flags} ${r.length}`));
}

for (const name of ['nghttp-get.db', 'curl-h2.db', 'wget2-gnutls.db', 'node-h2.db', 'node-midstream.db', 'h2load-overflow.db']) {
  for (const link of ['pdu', 'tcp'] as const) {
    test(`tshark sees the analyzer's frames and headers (${link} link${link === 'pdu' ? ', no options' : ', with the printed -d'}): ${name}`, async () => {
      const journal = path.join(fixtures, name);
      const pcap = path.join(dir, `${name.replace('.db', '')}.${link}.pcapng`);
      const res = await exportJournal({ journal, pcap, redact: false, ...(link === 'tcp' ? { link } : {}) }, io);
      assert.equal(res.link, link, 'the PDU link is the default');
      assert.equal(fs.statSync(pcap).mode & 0o777, 0o600);
      const extra = hintArgs(res.hint);
      assert.equal(extra.length > 0, link === 'tcp', `hint: ${res.hint}`);
      const problems = tsharkProblems(pcap, extra);
      assert.deepEqual([problems.malformed, problems.errors], [0, 0], 'no malformed packets, no error-level expert items');
      const want = analyzerFrames(journal);
      const got = tsharkFrames(pcap, extra);
      const re = res.reencodedBlocks > 0;
      assert.equal(re, name === 'node-midstream.db', 'blocks are copied verbatim unless the recording began mid-connection');
      assert.deepEqual(shapes(got, re), shapes(want, re), 'per connection and direction: type, stream, flags, length');
      assert.deepEqual(
        got.filter((f) => f.headers.length).map((f) => f.headers),
        want.filter((f) => f.headers.length).map((f) => f.headers),
        'decoded headers, <unknown> included',
      );
    });
  }
}

test('redaction: planted secrets are absent from the default pcapng, HAR and bodies, present with --no-redact', async () => {
  for (const [name, secret] of [
    ['nghttp-get.db', 'fixture-secret-token'],
    ['curl-h2.db', 'fixture-cookie'],
  ]) {
    const journal = path.join(fixtures, name);
    const d = fs.mkdtempSync(path.join(dir, 'redact-'));
    const red = await exportJournal({ journal, pcap: path.join(d, 'r.pcapng'), har: path.join(d, 'r.har'), bodies: path.join(d, 'rb'), redact: true }, io);
    assert.ok(red.redactedFields > 0);
    for (const f of [path.join(d, 'r.pcapng'), path.join(d, 'r.har'), ...red.bodies]) {
      assert.equal(fs.readFileSync(f).includes(secret), false, `${secret} in ${f}`);
    }
    const problems = tsharkProblems(path.join(d, 'r.pcapng'));
    assert.deepEqual([problems.malformed, problems.errors], [0, 0]);
    const frames = tsharkFrames(path.join(d, 'r.pcapng'));
    const blocks = analyzerFrames(journal).filter((f) => f.headers.length);
    const seen = frames.filter((f) => f.headers.length);
    assert.equal(seen.length, blocks.length, 'tshark still decodes every header block');
    assert.ok(seen.some((f) => f.headers.some(([, v]) => v === '<redacted>')));
    // Everything but the redacted values is unchanged.
    const strip = (h: [string, string][]): string[] => h.map(([n, v]) => (v === '<redacted>' || n === 'authorization' || n === 'cookie' ? n : `${n}: ${v}`));
    assert.deepEqual(seen.map((f) => strip(f.headers)), blocks.map((f) => strip(f.headers)));
    const keep = await exportJournal({ journal, pcap: path.join(d, 'k.pcapng'), har: path.join(d, 'k.har'), redact: false }, io);
    assert.equal(keep.redactedFields, 0);
    // On the wire the value is Huffman-coded (RFC 7541 §5.2), so look at what tshark decodes.
    const decoded = (f: string): string => tsharkFrames(f).flatMap((x) => x.headers.map(([, v]) => v)).join('\n');
    assert.ok(decoded(path.join(d, 'k.pcapng')).includes(secret));
    assert.equal(decoded(path.join(d, 'r.pcapng')).includes(secret), false);
    assert.ok(fs.readFileSync(path.join(d, 'k.har')).includes(secret));
  }
});

test('gaps: the overflow journal exports a visible TCP gap, a lost= comment on the PDU link, and its drop count', async () => {
  const journal = path.join(fixtures, 'h2load-overflow.db');
  const pcap = path.join(dir, 'overflow.pcapng');
  const res = await exportJournal({ journal, pcap, link: 'tcp', redact: true }, io);
  assert.ok(res.drops > 0n);
  const lines = spawnSync('tshark', ['-r', pcap, ...hintArgs(res.hint)], { encoding: 'utf8' }).stdout;
  assert.match(lines, /Previous segment not captured/);
  assert.deepEqual(isbDrops(pcap), { ifdrop: res.drops, osdrop: res.drops }, "the ISB's drop counters equal the journal's lost records");
  const pdu = path.join(dir, 'overflow.pdu.pcapng');
  await exportJournal({ journal, pcap: pdu, redact: true }, io);
  const comments = spawnSync('tshark', ['-r', pdu, '-T', 'fields', '-e', 'frame.comment'], { encoding: 'utf8' }).stdout;
  assert.match(comments, / lost=\d+/);
  assert.deepEqual(isbDrops(pdu), { ifdrop: res.drops, osdrop: res.drops });
});

test('HAR 1.2: structure, one entry per request, status and sizes', async () => {
  const journal = path.join(fixtures, 'nghttp-get.db');
  const file = path.join(dir, 'n.har');
  const res = await exportJournal({ journal, har: file, redact: true }, io);
  const har = JSON.parse(fs.readFileSync(file, 'utf8'));
  assert.equal(fs.statSync(file).mode & 0o777, 0o600);
  assert.deepEqual(harProblems(har), []);
  let summary = '';
  analyze({ journal, format: 'json', summary: true }, (s) => (summary += s));
  const streams = summary.trim().split('\n').map((l) => JSON.parse(l)).filter((o) => o.kind === 'stream');
  assert.equal(res.harEntries, streams.length);
  assert.deepEqual(
    har.log.entries.map((e: { request: { url: string }; response: { status: number; bodySize: number } }) => [new URL(e.request.url).pathname, e.response.status, e.response.bodySize]),
    streams.map((s) => [s.path, s.status, s.responseBytes]),
  );
});

// ---------------------------------------------------------------------------
// A synthetic journal: everything the real fixtures may not hold at once.

const SECRET = 'Bearer synthetic-s3cret-9f1c';
const PAGE = Buffer.from('<html>' + 'synthetic body '.repeat(400) + '</html>');

/**
 * curl-like client (pid 300) on 127.0.0.1:50123 -> 127.0.0.1:8443: a request
 * whose header block (authorization, a never-indexed x-api-key) is split
 * over CONTINUATIONs, a gzip response with set-cookie, a second request
 * reusing the dynamic table, a response with 3 KiB lost in the middle of a
 * DATA frame, a GOAWAY and a close; 4 lost ring-buffer records.
 */
function syntheticJournal(file: string): { page: Buffer } {
  const cli = new HpackEncoder();
  const srv = new HpackEncoder();
  const base = { pid: 300, comm: 'curl', ptr: '0x5000', gen: '77', fd: 5 };
  const req1 = cli.encode(
    [[':method', 'GET'], [':scheme', 'https'], [':authority', 'synthetic.test'], [':path', '/page.html'], ['authorization', SECRET], ['x-api-key', 'key-abc'], ['user-agent', 'synthetic/1']],
    ['x-api-key'],
  );
  const req2 = cli.encode([[':method', 'GET'], [':scheme', 'https'], [':authority', 'synthetic.test'], [':path', '/big.bin'], ['user-agent', 'synthetic/1']]);
  const gz = zlib.gzipSync(PAGE);
  const resp1 = srv.encode([[':status', '200'], ['content-type', 'text/html'], ['content-encoding', 'gzip'], ['set-cookie', 'sid=synthetic-cookie-77']]);
  const resp2 = srv.encode([[':status', '200'], ['content-type', 'application/octet-stream']]);
  const big = Buffer.alloc(12000, 0xab);
  const send: Buffer[] = [
    Buffer.concat([preface(), encodeFrames([settings([[3, 100], [4, 1 << 20]]), ...headerFrames(1, req1, { endStream: true, split: 16 })])]),
    encodeFrames([settings([], true), ...headerFrames(3, req2, { endStream: true })]),
    encodeFrames([goaway(0, 0)]),
  ];
  const recvHead = encodeFrames([settings([[3, 128]]), settings([], true), ...headerFrames(1, resp1), data(1, gz, true), ...headerFrames(3, resp2)]);
  const recvTail = encodeFrames([data(3, big.subarray(0, 6000)), data(3, big.subarray(6000), true)]);
  const records = [];
  records.push({ kind: 'sock' as const, pid: 300, tid: 300, comm: 'curl', conn: { pid: 300, ptr: '0x5000', gen: '77' }, sock: { fd: 5, family: 4 as const, laddr: '127.0.0.1', lport: 50123, raddr: '127.0.0.1', rport: 8443 }, lib: 'openssl' as const, tsNs: 900n });
  let sp = 0n;
  let t = 1000n;
  const sendRec = (b: Buffer): void => {
    records.push(dataRec({ ...base, dir: 'send', ts: (t += 1000n), pos: sp, data: b }));
    sp += BigInt(b.length);
  };
  sendRec(send[0]);
  records.push(dataRec({ ...base, dir: 'recv', ts: (t += 1000n), pos: 0n, data: recvHead }));
  sendRec(send[1]);
  // The tail arrives in three calls; the middle one (3000 octets inside a DATA payload) was lost.
  const tailAt = BigInt(recvHead.length);
  const cut1 = 2000;
  const cut2 = 5000;
  records.push(dataRec({ ...base, dir: 'recv', ts: (t += 1000n), pos: tailAt, data: recvTail.subarray(0, cut1) }));
  records.push(dataRec({ ...base, dir: 'recv', ts: (t += 1000n), pos: tailAt + BigInt(cut2), data: recvTail.subarray(cut2) }));
  sendRec(send[2]);
  const endRecv = tailAt + BigInt(recvTail.length);
  records.push({ kind: 'close' as const, pid: 300, tid: 300, comm: 'curl', conn: { pid: 300, ptr: '0x5000', gen: '77' }, endPos: [sp, endRecv] as [bigint, bigint], tsNs: (t += 1000n) });
  makeJournal(file, records, { losses: [{ tsNs: t, cpus: [{ records: 4n, bytes: 3000n, truncatedCalls: 0n, truncatedBytes: 0n }, { records: 0n, bytes: 0n, truncatedCalls: 0n, truncatedBytes: 0n }] }] });
  return { page: PAGE };
}

test('a synthetic journal through both links: tshark agrees, secrets are gone by default and kept with --no-redact, gaps and drops show, files are 0600 under umask 000', async () => {
  const d = fs.mkdtempSync(path.join(dir, 'synthetic-'));
  const journal = path.join(d, 'syn.db');
  syntheticJournal(journal);
  const want = analyzerFrames(journal);
  assert.ok(want.some((f) => f.type === 9), 'the fixture has CONTINUATION frames');
  const old = process.umask(0);
  let results: Record<string, ExportResult> = {};
  try {
    for (const link of ['pdu', 'tcp'] as const) {
      for (const redact of [true, false]) {
        const tag = `${link}-${redact ? 'red' : 'keep'}`;
        results[tag] = await exportJournal({ journal, link, redact, pcap: path.join(d, `${tag}.pcapng`), har: path.join(d, `${tag}.har`), bodies: path.join(d, `${tag}-bodies`) }, io);
      }
    }
  } finally {
    process.umask(old);
  }
  for (const [tag, res] of Object.entries(results)) {
    const pcap = res.pcap!;
    const redact = tag.endsWith('red');
    for (const f of [pcap, path.join(d, `${tag}.har`), ...res.bodies]) assert.equal(fs.statSync(f).mode & 0o777, 0o600, f);
    assert.equal(fs.statSync(path.join(d, `${tag}-bodies`)).mode & 0o777, 0o700);
    const extra = hintArgs(res.hint);
    assert.deepEqual(extra, tag.startsWith('tcp') ? ['-d', 'tcp.port==8443,http2'] : []);
    const problems = tsharkProblems(pcap, extra);
    assert.deepEqual([problems.malformed, problems.errors], [0, 0], tag);
    const got = tsharkFrames(pcap, extra);
    const re = res.reencodedBlocks > 0;
    assert.equal(re, redact, `${tag}: blocks re-encoded only to redact`);
    assert.deepEqual(shapes(got, re), shapes(want, re), tag);
    const hidden = (h: [string, string][]): [string, string][] => h.map(([n, v]) => [n, ['authorization', 'x-api-key', 'set-cookie'].includes(n) && redact ? '<redacted>' : v]);
    assert.deepEqual(
      headerBlocks(got),
      want.filter((f) => f.headers.length).map((f) => hidden(f.headers)),
      `${tag}: every header block decodes, to the analyzer's headers`,
    );
    const decodedValues = got.flatMap((f) => f.headers.map(([, v]) => v)).join('\n');
    assert.equal(decodedValues.includes(SECRET), !redact, `${tag}: tshark shows the secret only with --no-redact`);
    const har = fs.readFileSync(path.join(d, `${tag}.har`));
    assert.equal(har.includes('synthetic-s3cret'), !redact);
    assert.equal(har.includes('synthetic-cookie-77'), !redact);
    if (redact) {
      // Not anywhere in the bytes, Huffman-coded or not: the value was never written.
      assert.equal(fs.readFileSync(pcap).includes('synthetic-s3cret'), false);
      for (const b of res.bodies) assert.equal(fs.readFileSync(b).includes('synthetic-s3cret'), false);
    }
    assert.deepEqual(harProblems(JSON.parse(har.toString())), []);
    const bodies = Object.fromEntries(res.bodies.map((f) => [path.basename(f), f]));
    assert.deepEqual(Object.keys(bodies).sort(), ['conn1-stream1-resp-page.html', 'conn1-stream3-resp-big.bin.partial']);
    assert.deepEqual(fs.readFileSync(bodies['conn1-stream1-resp-page.html']), PAGE, 'gzip undone');
    assert.deepEqual(isbDrops(pcap), { ifdrop: 4n, osdrop: 4n });
    assert.equal(res.drops, 4n);
    if (tag.startsWith('tcp')) {
      const out = spawnSync('tshark', ['-r', pcap, ...extra, '-T', 'fields', '-e', 'frame.number', '-e', 'ip.src', '-e', 'tcp.srcport', '-e', '_ws.expert.message', '-E', 'occurrence=a'], { encoding: 'utf8' }).stdout;
      assert.match(out, /127\.0\.0\.1\t8443\t.*Previous segment\(s\) not captured/, 'the lost 3000 octets are a TCP hole');
      assert.match(out, /^1\t127\.0\.0\.1\t50123\t/, 'the real 4-tuple, SYN first');
    }
  }
  // The pcapng's own metadata: SHB names h2rec and its version; EPB comments and direction flags.
  const blocks = pcapngBlocks(results['pdu-red'].pcap!);
  assert.equal(blocks[0].type, 0x0a0d0d0a);
  const pkg = JSON.parse(fs.readFileSync(path.resolve(__dirname, '../../../package.json'), 'utf8'));
  assert.equal(pcapngOptions(blocks[0].body, 16).get(4)?.[0].toString(), `h2rec ${pkg.version}`);
  const nrb = blocks.find((b) => b.type === 4)!;
  assert.ok(nrb.body.includes(Buffer.from('curl.300\0')));
  const epbs = blocks.filter((b) => b.type === 6);
  const first = epbs[0].body;
  const caplen = first.readUInt32LE(12);
  const opts = pcapngOptions(first, 20 + caplen + ((4 - (caplen % 4)) % 4));
  assert.match(opts.get(1)![0].toString(), /^pid=300 comm=curl tid=300 conn=1 dir=send$/);
  assert.equal(opts.get(2)![0].readUInt32LE(0) & 3, 2, 'send is outbound');
  const ts = (BigInt(first.readUInt32LE(4)) << 32n) | BigInt(first.readUInt32LE(8));
  assert.equal(ts, 1_700_000_000_000_000_000n + 2000n, 'wall-clock ns: ktime + the journal realtime offset');
});

test('the output path must be writable: a missing directory is a usage error', async () => {
  const journal = path.join(fixtures, 'wget2-gnutls.db');
  await assert.rejects(exportJournal({ journal, pcap: path.join(dir, 'no', 'such', 'x.pcapng'), redact: true }, io), (e: Error & { exitCode?: number }) => e.exitCode === 2);
});

test('progress goes to stderr on a TTY only', async () => {
  const journal = path.join(fixtures, 'nghttp-get.db');
  const lines: string[] = [];
  await exportJournal({ journal, pcap: path.join(dir, 'quiet.pcapng'), redact: true }, { stderr: (s) => lines.push(s), isTTY: false });
  assert.deepEqual(lines, []);
});
