import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { decodeRecord, encodeRecord, indexRecord, DATA_HDR_LEN, ABI_VERSION, OFF, CHUNK_DATA, DEFAULT_MAX_CALL_BYTES, DEFAULT_RINGBUF_BYTES, SYSTEM_TLS_LIBS } from '../../src/record/abi';
import fs from 'node:fs';
import path from 'node:path';
import { InputError } from '../../src/errors';
import { dataRec } from '../helpers/journal';

test('data record round-trips through the kernel layout', () => {
  fc.assert(
    fc.property(
      fc.record({
        pid: fc.integer({ min: 1, max: 2 ** 31 }),
        dir: fc.constantFrom('send' as const, 'recv' as const),
        ts: fc.bigInt({ min: 0n, max: 2n ** 63n }),
        pos: fc.bigInt({ min: 0n, max: 2n ** 64n - 1n }),
        data: fc.uint8Array({ maxLength: 64 }),
        truncated: fc.boolean(),
        last: fc.boolean(),
        fd: fc.integer({ min: -1, max: 1 << 20 }),
      }),
      (p) => {
        const rec = dataRec({ ...p, ptr: '0xdeadbeef', gen: '42', comm: 'nghttp' });
        const back = decodeRecord(encodeRecord(rec), 7);
        assert.equal(back.kind, 'data');
        if (back.kind !== 'data') return;
        assert.equal(back.id, 7);
        assert.equal(back.pid, p.pid);
        assert.equal(back.dir, p.dir);
        assert.equal(back.pos, p.pos);
        assert.equal(back.truncated, p.truncated);
        assert.equal(back.last, p.last);
        assert.equal(back.fd, p.fd);
        assert.equal(back.comm, 'nghttp');
        assert.deepEqual(back.conn, { pid: p.pid, ptr: '0xdeadbeef', gen: '42' });
        assert.deepEqual(Buffer.from(back.data), Buffer.from(p.data));
        // Writes are ordered at entry, reads at return.
        assert.equal(back.ktime, p.dir === 'send' ? p.ts : p.ts + 1000n);
      },
    ),
  );
});

test('sock record keeps IPv4 and IPv6 addresses', () => {
  for (const [family, l, r] of [
    [4, '127.0.0.1', '10.1.2.3'],
    [6, '::1', '2001:db8::7'],
  ] as const) {
    const raw = encodeRecord({
      kind: 'sock',
      pid: 5,
      tid: 6,
      comm: 'curl',
      conn: { pid: 5, ptr: '0x10', gen: '1' },
      sock: { fd: 3, family, laddr: l, lport: 40000, raddr: r, rport: 8443 },
    });
    const back = decodeRecord(raw, 1);
    assert.equal(back.kind, 'sock');
    if (back.kind === 'sock') assert.deepEqual(back.sock, { fd: 3, family, laddr: l, lport: 40000, raddr: r, rport: 8443 });
  }
});

test('close record carries end positions', () => {
  const back = decodeRecord(
    encodeRecord({ kind: 'close', pid: 1, tid: 1, comm: 'x', conn: { pid: 1, ptr: '0x1', gen: '2' }, endPos: [10n, 20n], tsNs: 99n }),
    3,
  );
  assert.equal(back.kind, 'close');
  if (back.kind === 'close') {
    assert.deepEqual(back.endPos, [10n, 20n]);
    assert.equal(back.ktime, 99n);
  }
});

test('damaged records are refused with InputError, never misread', () => {
  const good = encodeRecord(dataRec({ dir: 'send', ts: 1n, pos: 0n, data: new Uint8Array(10) }));
  assert.throws(() => indexRecord(good.subarray(0, 20)), InputError);
  assert.throws(() => indexRecord(good.subarray(0, DATA_HDR_LEN + 5)), InputError);
  const badAbi = Uint8Array.from(good);
  badAbi[4] = 9;
  assert.throws(() => indexRecord(badAbi), /ABI 9/);
  const badKind = Uint8Array.from(good);
  badKind[0] = 77;
  assert.throws(() => indexRecord(badKind), /unknown record kind 77/);
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 200 }), (bytes) => {
      try {
        decodeRecord(bytes, 1);
      } catch (e) {
        assert.ok(e instanceof InputError);
      }
    }),
  );
});

test('lib codes: 3 is a plaintext socket (issue 11), 4 is go (issue 12), the layout and ABI version unchanged, an unknown code reads as unknown', () => {
  for (const [lib, code] of [['openssl', 1], ['gnutls', 2], ['socket', 3], ['go', 4]] as const) {
    const raw = encodeRecord(dataRec({ dir: 'recv', ts: 1n, pos: 0n, data: new Uint8Array(3), lib }));
    assert.equal(raw[89], code, `${lib} is code ${code} (bpf/h2rec.h enum h2rec_lib)`);
    assert.equal(new DataView(raw.buffer, raw.byteOffset).getUint32(4, true), 1, 'ABI 1: a new lib code is no layout change');
    const back = decodeRecord(raw, 1);
    assert.equal(back.kind === 'data' && back.lib, lib);
  }
  const raw = encodeRecord(dataRec({ dir: 'recv', ts: 1n, pos: 0n, data: new Uint8Array(3), lib: 'go' }));
  raw[89] = 9;
  const back = decodeRecord(raw, 1);
  assert.equal(back.kind === 'data' && back.lib, 'unknown');
});

test('the defaults and system libraries the TypeScript names are bpf/h2rec.h\'s', () => {
  const h = fs.readFileSync(path.join(__dirname, '../../../bpf/h2rec.h'), 'utf8');
  const define = (name: string): string => {
    const m = new RegExp(`^#define ${name} (.+)$`, 'm').exec(h);
    assert.ok(m, `${name} in h2rec.h`);
    return m[1].trim();
  };
  const num = (expr: string): number => Number(Function(`return (${expr.replace(/([0-9]+)U?L?/gi, '$1')})`)());
  assert.equal(num(define('H2REC_CHUNK_DATA')), CHUNK_DATA);
  assert.equal(num(define('H2REC_DEFAULT_MAX_CALL_BYTES')), DEFAULT_MAX_CALL_BYTES);
  assert.equal(num(define('H2REC_DEFAULT_RINGBUF_BYTES')), DEFAULT_RINGBUF_BYTES);
  assert.equal(num(define('H2REC_ABI_VERSION')), ABI_VERSION);
  assert.deepEqual(define('H2REC_SYSTEM_LIBS').split(',').map((x) => JSON.parse(x.trim())), [...SYSTEM_TLS_LIBS]);
});

test('the offset table that decodes and encodes records is bpf/h2rec.h\'s, field by field', () => {
  const h = fs.readFileSync(path.join(__dirname, '../../../bpf/h2rec.h'), 'utf8');
  const asserted = new Map<string, number>();
  for (const m of h.matchAll(/__builtin_offsetof\(struct h2rec_(\w+), (\w+)\) == (\d+)/g)) asserted.set(`${m[1]}.${m[2]}`, Number(m[3]));
  // TypeScript name -> C field, per record.
  const names: Record<keyof typeof OFF, Record<string, string>> = {
    hdr: { kind: 'kind', hdrLen: 'hdr_len', abi: 'abi', tgid: 'tgid', tid: 'tid', ptr: 'ptr', gen: 'gen', comm: 'comm' },
    data: { tsEntry: 'ts_entry_ns', tsReturn: 'ts_return_ns', pos: 'pos', callLen: 'call_len', chunkOff: 'chunk_off', chunkLen: 'chunk_len', fd: 'fd', dir: 'dir', lib: 'lib', flags: 'flags' },
    skip: { tsEntry: 'ts_entry_ns', tsReturn: 'ts_return_ns', pos: 'pos', len: 'len', dir: 'dir', reason: 'reason', fd: 'fd' },
    close: { ts: 'ts_ns', endPos: 'end_pos' },
    sock: { ts: 'ts_ns', fd: 'fd', family: 'family', lport: 'lport', rport: 'rport', lib: 'lib', laddr: 'laddr', raddr: 'raddr' },
  };
  let checked = 0;
  for (const [rec, fields] of Object.entries(OFF) as [keyof typeof OFF, Record<string, number>][]) {
    for (const [name, off] of Object.entries(fields)) {
      const key = `${rec}.${names[rec][name]}`;
      assert.equal(asserted.get(key), off, `${key}: h2rec.h asserts ${asserted.get(key)}, abi.ts uses ${off}`);
      checked++;
    }
  }
  assert.equal(checked, asserted.size, 'every asserted field has its place in the table');
});
