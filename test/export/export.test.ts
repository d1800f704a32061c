/**
 * The exporter against tshark 4.0 as the oracle, on the real fixture
 * journals: Wireshark users must see exactly the frames and headers the
 * analyzer reports, with no malformed packets.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { exportJournal } from '../../src/export/export';
import { analyze } from '../../src/analyze/analyze';
import { tsharkFrames, tsharkProblems, analyzerFrames } from '../helpers/tshark';

const fixtures = path.resolve(__dirname, '../../../fixtures');
const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'h2rec-export-'));
const io = { stderr: () => undefined };

const shape = (r: { conn: number; dir: string; type: number; stream: number; flags: number; length: number }): string => `${r.conn} ${r.dir} ${r.type} ${r.stream} ${r.flags} ${r.length}`;

for (const name of ['nghttp-get.db', 'curl-h2.db', 'wget2-gnutls.db', 'node-h2.db']) {
  test(`tshark sees the analyzer's frames and headers, with no options: ${name}`, async () => {
    const journal = path.join(fixtures, name);
    const pcap = path.join(dir, name.replace('.db', '.pcapng'));
    const res = await exportJournal({ journal, pcap, redact: false }, io);
    assert.equal(res.link, 'pdu');
    assert.equal(fs.statSync(pcap).mode & 0o777, 0o600);
    const problems = tsharkProblems(pcap);
    assert.equal(problems.malformed, 0);
    assert.equal(problems.errors, 0);
    const want = analyzerFrames(journal);
    const got = tsharkFrames(pcap);
    assert.deepEqual(got.map(shape), want.map(shape), 'per connection and direction: type, stream, flags, length');
    assert.deepEqual(
      got.filter((f) => f.headers.length).map((f) => f.headers),
      want.filter((f) => f.headers.length).map((f) => f.headers),
      'decoded headers',
    );
  });
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

test('gaps: the overflow journal exports a visible TCP gap and its drop count', async () => {
  const journal = path.join(fixtures, 'h2load-overflow.db');
  const pcap = path.join(dir, 'overflow.pcapng');
  const res = await exportJournal({ journal, pcap, link: 'tcp', redact: true }, io);
  assert.ok(res.drops > 0n);
  const { execFileSync } = await import('node:child_process');
  const ports = execFileSync('tshark', ['-r', pcap, '-T', 'fields', '-e', 'tcp.port'], { encoding: 'utf8' }).split('\n')[0].split(',');
  const server = ports.map(Number).sort((a, b) => a - b)[0];
  const lines = execFileSync('tshark', ['-r', pcap, '-d', `tcp.port==${server},http2`], { encoding: 'utf8' });
  assert.match(lines, /Previous segment not captured/);
  const problems = tsharkProblems(pcap, ['-d', `tcp.port==${server},http2`]);
  assert.deepEqual([problems.malformed, problems.errors], [0, 0]);
  // The ISB's drop counters equal the journal's lost records.
  const buf = fs.readFileSync(pcap);
  let off = 0;
  let drops: bigint | undefined;
  while (off < buf.length) {
    const type = buf.readUInt32LE(off);
    const len = buf.readUInt32LE(off + 4);
    if (type === 5) {
      let o = off + 20;
      while (o < off + len - 4) {
        const code = buf.readUInt16LE(o);
        const l = buf.readUInt16LE(o + 2);
        if (code === 5) drops = buf.readBigUInt64LE(o + 4);
        if (code === 0) break;
        o += 4 + l + ((4 - (l % 4)) % 4);
      }
    }
    off += len;
  }
  assert.equal(drops, res.drops);
});

test('HAR 1.2: structure, one entry per request, status and sizes', async () => {
  const journal = path.join(fixtures, 'nghttp-get.db');
  const file = path.join(dir, 'n.har');
  const res = await exportJournal({ journal, har: file, redact: true }, io);
  const har = JSON.parse(fs.readFileSync(file, 'utf8'));
  assert.equal(fs.statSync(file).mode & 0o777, 0o600);
  // HAR 1.2 required members and types.
  assert.equal(har.log.version, '1.2');
  assert.equal(typeof har.log.creator.name, 'string');
  assert.ok(Array.isArray(har.log.entries));
  for (const e of har.log.entries) {
    assert.equal(typeof e.startedDateTime, 'string');
    assert.ok(!Number.isNaN(Date.parse(e.startedDateTime)));
    assert.equal(typeof e.time, 'number');
    for (const k of ['method', 'url', 'httpVersion']) assert.equal(typeof e.request[k], 'string');
    for (const k of ['cookies', 'headers', 'queryString']) assert.ok(Array.isArray(e.request[k]));
    for (const k of ['headersSize', 'bodySize']) assert.equal(typeof e.request[k], 'number');
    assert.equal(typeof e.response.status, 'number');
    assert.equal(typeof e.response.statusText, 'string');
    assert.equal(typeof e.response.content.size, 'number');
    assert.equal(typeof e.response.content.mimeType, 'string');
    assert.equal(typeof e.response.redirectURL, 'string');
    assert.equal(typeof e.cache, 'object');
    for (const k of ['send', 'wait', 'receive']) assert.ok(e.timings[k] >= 0);
  }
  let summary = '';
  analyze({ journal, format: 'json', summary: true }, (s) => (summary += s));
  const streams = summary.trim().split('\n').map((l) => JSON.parse(l)).filter((o) => o.kind === 'stream');
  assert.equal(res.harEntries, streams.length);
  assert.deepEqual(
    har.log.entries.map((e: { request: { url: string }; response: { status: number; bodySize: number } }) => [new URL(e.request.url).pathname, e.response.status, e.response.bodySize]),
    streams.map((s) => [s.path, s.status, s.responseBytes]),
  );
});
