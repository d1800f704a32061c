import { test } from 'node:test';
import assert from 'node:assert/strict';
import hpack from 'hpack.js';
import fc from 'fast-check';
import type { ConnInfo, Dir, StreamEvent, SockInfo } from '../../src/analyze/types';
import { frames } from '../../src/analyze/frames';
import { decodeHeaders } from '../../src/analyze/hpack';
import { CaptureBuilder, type CaptureOptions, type Packet } from '../../src/export/capture';
import { conn as baseConn } from '../helpers/events';
import { HpackEncoder, encodeFrames, headerFrames, preface, settings, data, windowUpdate } from '../helpers/h2encode';

const conn = (id: number, sock?: SockInfo): ConnInfo => baseConn(id, { key: { pid: 100 + id, ptr: '0x1', gen: String(id) }, pid: 100 + id, comm: 'app', tids: [100 + id], firstKtime: 1n, sock });

type Step = [Dir, Uint8Array] | [Dir, 'gap', number];

/** Byte-stream events for one connection: each step one TLS call, positions counted per direction. */
function streamOf(c: ConnInfo, steps: Step[]): StreamEvent[] {
  const pos: Record<Dir, bigint> = { send: 0n, recv: 0n };
  let t = 10n;
  const out: StreamEvent[] = [{ kind: 'conn', conn: c }];
  for (const s of steps) {
    t += 10n;
    if (s[1] === 'gap') {
      out.push({ kind: 'gap', conn: c, dir: s[0], pos: pos[s[0]], length: BigInt(s[2]), reason: 'lost', ktime: t });
      pos[s[0]] += BigInt(s[2]);
      continue;
    }
    out.push({ kind: 'bytes', conn: c, dir: s[0], pos: pos[s[0]], data: s[1], ktime: t, tid: c.pid });
    pos[s[0]] += BigInt(s[1].byteLength);
  }
  out.push({ kind: 'close', conn: c, ktime: t + 10n });
  return out;
}

function capture(events: StreamEvent[], opts: CaptureOptions): Packet[] {
  const b = new CaptureBuilder(opts);
  const out: Packet[] = [];
  for (const e of decodeHeaders(frames(events))) for (const o of b.push(e)) if (o.kind === 'packet') out.push(o);
  for (const o of b.finish()) if (o.kind === 'packet') out.push(o);
  return out;
}

interface Tcp {
  src: string;
  seq: number;
  ack: number;
  flags: number;
  payload: Buffer;
  dir: string;
  comment: string;
}

function tcp(p: Packet): Tcp {
  const d = p.data;
  const ip = d.subarray(14);
  const tcpOff = 14 + 20;
  return {
    src: Array.from(ip.subarray(12, 16)).join('.'),
    seq: d.readUInt32BE(tcpOff + 4),
    ack: d.readUInt32BE(tcpOff + 8),
    flags: d[tcpOff + 13],
    payload: d.subarray(tcpOff + 20),
    dir: p.dir,
    comment: p.comment,
  };
}

function pduPayload(p: Packet): { src: string; sport: number; frames: Buffer } {
  const d = p.data;
  let o = 0;
  let src = '';
  let sport = 0;
  for (;;) {
    const tag = d.readUInt16BE(o);
    const len = d.readUInt16BE(o + 2);
    if (tag === 20) src = Array.from(d.subarray(o + 4, o + 8)).join('.');
    if (tag === 25) sport = d.readUInt32BE(o + 4);
    o += 4 + len;
    if (tag === 0) break;
  }
  return { src, sport, frames: d.subarray(o) };
}

const enc = (): HpackEncoder => new HpackEncoder();
const request = (e: HpackEncoder, extra: [string, string][] = [], neverIndex: string[] = []): Buffer =>
  e.encode([[':method', 'GET'], [':scheme', 'https'], [':authority', 'example.test'], [':path', '/x'], ...extra], neverIndex);

test('a traced server: the client is decided by the preface, though the server spoke first', () => {
  const c = conn(1);
  const req = request(enc());
  const resp = enc().encode([[':status', '200']]);
  const evs = streamOf(c, [
    ['send', encodeFrames([settings([[3, 100]])])],
    ['recv', Buffer.concat([preface(), encodeFrames([settings([]), ...headerFrames(1, req, { endStream: true })])])],
    ['send', encodeFrames([...headerFrames(1, resp), data(1, Buffer.from('hi'), true)])],
  ]);
  const pk = capture(evs, { link: 'tcp', redact: true }).map(tcp);
  // SYN from the client (the peer: inbound), SYN-ACK from the traced server (outbound).
  assert.equal(pk[0].flags, 0x02);
  assert.equal(pk[0].src, '10.200.0.1');
  assert.equal(pk[0].dir, 'inbound');
  assert.equal(pk[1].flags, 0x12);
  assert.equal(pk[1].src, '10.201.0.1');
  // The server's SETTINGS leave from the server address, the preface from the client's.
  const settingsPkt = pk.find((p) => p.payload.length && p.payload[3] === 4)!;
  assert.equal(settingsPkt.src, '10.201.0.1');
  assert.equal(settingsPkt.dir, 'outbound');
  const magic = pk.find((p) => p.payload.subarray(0, 3).toString() === 'PRI')!;
  assert.equal(magic.src, '10.200.0.1');
  assert.match(magic.comment, /^pid=101 comm=app tid=101 conn=1 dir=recv$/);
  // FIN, FIN, ACK at the end.
  assert.deepEqual(pk.slice(-3).map((p) => p.flags & 0x01), [1, 1, 0]);
});

test('sequence numbers follow stream positions: a journal gap is a TCP hole of the same size', () => {
  const c = conn(2);
  const e = enc();
  const before = Buffer.concat([preface(), encodeFrames([settings([]), ...headerFrames(1, request(e), { endStream: true })])]);
  const after = encodeFrames([windowUpdate(0, 1000), windowUpdate(0, 2000)]);
  const evs = streamOf(c, [
    ['send', before],
    ['recv', encodeFrames([settings([])])],
    ['send', encodeFrames([windowUpdate(0, 5)])],
    ['send', 'gap', 13], // exactly one WINDOW_UPDATE frame
    ['send', after],
  ]);
  const pk = capture(evs, { link: 'tcp', redact: false }).map(tcp);
  const isn = pk[0].seq;
  const sent = pk.filter((p) => p.src === '10.200.0.2' && p.payload.length);
  const rel = sent.map((p) => p.seq - isn - 1);
  assert.equal(rel[0], 0);
  // Every byte before the gap is contiguous...
  for (let i = 1; i < rel.length - 1; i++) assert.equal(rel[i], rel[i - 1] + sent[i - 1].payload.length);
  // ...and the bytes after it start 13 octets further on: the hole tshark reports.
  const last = sent[sent.length - 1];
  const prev = sent[sent.length - 2];
  assert.equal(last.seq - (prev.seq + prev.payload.length), 13);
  assert.deepEqual(last.payload, after);
  // The server acknowledges only what the client has sent so far.
  const serverData = pk.find((p) => p.src === '10.201.0.2' && p.payload.length)!;
  assert.ok(serverData.ack - isn - 1 <= rel[rel.length - 1]);
});

test('redaction re-encodes the block (size update to 0, literals), hides the secrets, and keeps sequence numbers contiguous', () => {
  const c = conn(3);
  const e = enc();
  const secret = 'Bearer s3cr3t-token';
  const block1 = request(e, [['authorization', secret], ['x-api-key', 'k-123'], ['accept', '*/*']], ['x-api-key']);
  const block2 = request(e, [['accept', '*/*']]);
  const evs = streamOf(c, [
    ['send', Buffer.concat([preface(), encodeFrames([settings([]), ...headerFrames(1, block1, { endStream: true, split: 20 })])])],
    ['send', encodeFrames(headerFrames(3, block2, { endStream: true }))],
    ['send', encodeFrames([windowUpdate(0, 7)])],
  ]);
  const b = new CaptureBuilder({ link: 'tcp', redact: true });
  const pk: Packet[] = [];
  for (const ev of decodeHeaders(frames(evs))) for (const o of b.push(ev)) if (o.kind === 'packet') pk.push(o);
  for (const o of b.finish()) if (o.kind === 'packet') pk.push(o);
  assert.equal(b.redactedFields, 2, 'authorization and the never-indexed x-api-key');
  assert.equal(b.reencodedBlocks, 2, 'once re-encoded, every later block of that direction is too');
  const sent = pk.map(tcp).filter((p) => p.src === '10.200.0.3' && p.payload.length);
  const stream = Buffer.concat(sent.map((p) => p.payload));
  assert.equal(stream.includes(Buffer.from('s3cr3t')), false);
  for (let i = 1; i < sent.length; i++) assert.equal(sent[i].seq, sent[i - 1].seq + sent[i - 1].payload.length, 'no hole where a block shrank or grew');
  // Walk the frames of the re-encoded stream and decode its header blocks with an independent decoder.
  const dec = hpack.decompressor.create({ table: { maxSize: 4096 } });
  let o = 24;
  const lists: { name: string; value: string; neverIndex: boolean }[][] = [];
  let block: Buffer[] = [];
  while (o < stream.length) {
    const len = stream.readUIntBE(o, 3);
    const type = stream[o + 3];
    const flags = stream[o + 4];
    const payload = stream.subarray(o + 9, o + 9 + len);
    if (type === 1 || type === 9) {
      block.push(payload);
      if (flags & 4) {
        dec.write(Buffer.concat(block));
        dec.execute();
        const l: { name: string; value: string; neverIndex: boolean }[] = [];
        for (let h = dec.read(); h; h = dec.read()) l.push(h);
        lists.push(l);
        block = [];
      }
    }
    o += 9 + len;
  }
  assert.equal(o, stream.length, 'whole frames');
  assert.equal(lists.length, 2);
  const auth = lists[0].find((h) => h.name === 'authorization')!;
  assert.deepEqual([auth.value, auth.neverIndex], ['<redacted>', true]);
  assert.equal(lists[0].find((h) => h.name === 'x-api-key')!.value, '<redacted>');
  assert.equal(lists[0].find((h) => h.name === 'accept')!.value, '*/*');
  assert.deepEqual(lists[1].map((h) => h.name), [':method', ':scheme', ':authority', ':path', 'accept']);
});

test('--no-redact copies header blocks verbatim', () => {
  const c = conn(4);
  const block = request(enc(), [['authorization', 'Bearer keep-me']]);
  const wire = Buffer.concat([preface(), encodeFrames([settings([]), ...headerFrames(1, block, { endStream: true })])]);
  const pk = capture(streamOf(c, [['send', wire]]), { link: 'tcp', redact: false }).map(tcp);
  assert.deepEqual(Buffer.concat(pk.filter((p) => p.src === '10.200.0.4').map((p) => p.payload)), wire);
});

test('PDU link: one packet per frame, each direction with its own addresses; a DATA frame too big for Wireshark is split', () => {
  const c = conn(5);
  const big = Buffer.alloc(300_000, 7);
  big[0] = 1;
  big[big.length - 1] = 2;
  const evs = streamOf(c, [
    ['send', Buffer.concat([preface(), encodeFrames([settings([[5, 1 << 20]]), ...headerFrames(1, request(enc()), { endStream: true })])])],
    ['recv', encodeFrames([settings([]), ...headerFrames(1, enc().encode([[':status', '200']])), data(1, big, true)])],
  ]);
  const pk = capture(evs, { link: 'pdu', redact: true });
  for (const p of pk) assert.ok(p.data.length <= 262144, 'fits Wireshark’s packet size limit');
  const parsed = pk.map(pduPayload);
  assert.deepEqual([...new Set(parsed.filter((_, i) => pk[i].dir === 'outbound').map((p) => `${p.src}:${p.sport}`))], ['10.200.0.5:40005']);
  assert.deepEqual([...new Set(parsed.filter((_, i) => pk[i].dir === 'inbound').map((p) => `${p.src}:${p.sport}`))], ['10.201.0.5:8443']);
  const dataFrames = parsed.map((p) => p.frames).filter((f) => f[3] === 0);
  assert.ok(dataFrames.length >= 2);
  for (const f of dataFrames) assert.equal(f.readUIntBE(0, 3), f.length - 9, 'one whole frame per packet');
  assert.deepEqual(dataFrames.map((f) => f[4] & 1), [...Array(dataFrames.length - 1).fill(0), 1], 'END_STREAM only on the last piece');
  assert.deepEqual(Buffer.concat(dataFrames.map((f) => f.subarray(9))), big);
});

test('real addresses when the journal knows them; a second connection with the same 4-tuple gets synthetic ones', () => {
  const sock: SockInfo = { fd: 5, family: 4, laddr: '127.0.0.1', lport: 51000, raddr: '127.0.0.2', rport: 443 };
  const wire = Buffer.concat([preface(), encodeFrames([settings([])])]);
  const b = new CaptureBuilder({ link: 'tcp', redact: true });
  const out: Packet[] = [];
  const names: string[] = [];
  for (const c of [conn(6, sock), conn(7, sock)]) {
    for (const e of decodeHeaders(frames(streamOf(c, [['send', wire]])))) {
      for (const o of b.push(e)) {
        if (o.kind === 'packet') out.push(o);
        else names.push(...o.records.map((r) => `${Array.from(r.addr).join('.')}=${r.names[0]}`));
      }
    }
  }
  const first = out.filter((p) => p.comment.includes('conn=6')).map(tcp);
  const second = out.filter((p) => p.comment.includes('conn=7')).map(tcp);
  assert.equal(first[0].src, '127.0.0.1');
  assert.equal(first[0].payload.length, 0);
  assert.equal(second[0].src, '10.200.0.7');
  assert.match(second[0].comment, /real 127\.0\.0\.1:51000 <-> 127\.0\.0\.2:443 is conn 6's/);
  assert.deepEqual(b.serverPorts(), [443, 8443]);
  assert.deepEqual(names, ['127.0.0.1=app.106', '10.200.0.7=app.107', '10.201.0.7=peer-of-app.107.conn7']);
});

test('a connection recorded mid-stream gets no handshake, and its header blocks are re-encoded for a reader that lacks the old table', () => {
  const c = conn(8);
  const e = enc();
  request(e, [['x-old', 'v'.repeat(40)]]); // entries the recording never saw
  const later = request(e, [['x-old', 'v'.repeat(40)]]); // refers to them
  const wire = encodeFrames([windowUpdate(0, 100), ...headerFrames(5, later, { endStream: true })]);
  const evs: StreamEvent[] = [
    { kind: 'conn', conn: c },
    { kind: 'gap', conn: c, dir: 'send', pos: 0n, length: 500n, reason: 'start', ktime: 5n },
    { kind: 'bytes', conn: c, dir: 'send', pos: 500n, data: wire, ktime: 10n, tid: 1 },
    { kind: 'close', conn: c, ktime: 20n },
  ];
  const b = new CaptureBuilder({ link: 'tcp', redact: false });
  const pk: Packet[] = [];
  for (const ev of decodeHeaders(frames(evs))) for (const o of b.push(ev)) if (o.kind === 'packet') pk.push(o);
  for (const o of b.finish()) if (o.kind === 'packet') pk.push(o);
  const t = pk.map(tcp);
  assert.equal(t.filter((p) => p.flags & 0x02).length, 0, 'no SYN');
  assert.equal(b.reencodedBlocks, 1);
  const payload = Buffer.concat(t.filter((p) => p.payload.length).map((p) => p.payload));
  assert.equal(payload[9 + 4 + 9], 0x20, 'the block starts with a dynamic table size update to 0');
});

test('property: any bytes, cuts and gaps finish without throwing; segments fit in IP and never go backwards', () => {
  const step = fc.oneof(
    fc.tuple(fc.constantFrom<Dir>('send', 'recv'), fc.uint8Array({ maxLength: 300 })),
    fc.tuple(fc.constantFrom<Dir>('send', 'recv'), fc.constant('gap' as const), fc.integer({ min: 1, max: 5000 })),
  );
  // Half the runs start like HTTP/2, so the frame and HPACK paths are reached, not only resynchronisation.
  const start = fc.boolean().map((h2) => (h2 ? [['send', Buffer.concat([preface(), encodeFrames([settings([]), ...headerFrames(1, request(enc(), [['cookie', 'c=1']]))])])] as Step] : []));
  fc.assert(
    fc.property(start, fc.array(step, { maxLength: 30 }), fc.constantFrom<'tcp' | 'pdu'>('tcp', 'pdu'), fc.boolean(), (head, steps, link, redact) => {
      const pk = capture(streamOf(conn(9), [...head, ...(steps as Step[])]), { link, redact, mss: 100 });
      if (link === 'pdu') return;
      const last = new Map<string, number>();
      for (const p of pk.map(tcp)) {
        assert.ok(p.payload.length <= 100);
        const prev = last.get(p.src);
        if (prev !== undefined && !(p.flags & 0x02)) assert.ok(p.seq - prev >= 0 || p.seq - prev < -(2 ** 31), 'sequence never goes backwards');
        last.set(p.src, p.seq + p.payload.length);
      }
    }),
    { numRuns: 300 },
  );
});

test('HTTP/1: one exported PDU per message for the http dissector; on the TCP link, the octets at their positions', () => {
  const req = Buffer.from('POST /a HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\n\r\nhello', 'latin1');
  const res = Buffer.from('HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n', 'latin1');
  const steps: Step[] = [['send', req.subarray(0, 20)], ['send', req.subarray(20)], ['recv', res.subarray(0, 30)], ['recv', res.subarray(30)]];
  const pdu = capture(streamOf(conn(1), steps), { link: 'pdu', redact: true });
  assert.equal(pdu.length, 2, 'a request and a response, each whole in one PDU');
  for (const [p, whole] of [[pdu[0], req], [pdu[1], res]] as const) {
    assert.deepEqual(p.data.subarray(0, 12), Buffer.concat([Buffer.from('000c0008', 'hex'), Buffer.from('http\0\0\0\0', 'latin1')]), 'names the http dissector');
    assert.ok(p.data.subarray(p.data.length - whole.length).equals(whole));
  }
  assert.deepEqual(pdu.map((p) => p.dir), ['outbound', 'inbound']);
  const tcp = capture(streamOf(conn(2), steps), { link: 'tcp', redact: true });
  const payload = (dir: 'outbound' | 'inbound'): Buffer => Buffer.concat(tcp.filter((p) => p.dir === dir).map((p) => p.data.subarray(14 + 20 + 20)));
  assert.ok(payload('outbound').equals(req));
  assert.ok(payload('inbound').equals(res));
});
