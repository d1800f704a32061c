import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { createOutput } from '../../src/fsutil';
import { block, encodeOptions, epb, idb, isb, nrb, opt, shb, FileSink } from '../../src/export/pcapng';
import { hex } from '../helpers/bytes';

test('a block is type, total length, body padded to 4, total length', () => {
  const b = block(6, Buffer.from([1, 2, 3, 4, 5]));
  assert.equal(b.length, 20);
  assert.equal(b.readUInt32LE(0), 6);
  assert.equal(b.readUInt32LE(4), 20);
  assert.equal(b.readUInt32LE(16), 20);
  assert.deepEqual([...b.subarray(8, 16)], [1, 2, 3, 4, 5, 0, 0, 0]);
});

test('options are TLVs padded to 4 and ended by opt_endofopt', () => {
  const o = encodeOptions([opt.comment('abc'), opt.u8(9, 9)]);
  assert.deepEqual([...o], [1, 0, 3, 0, 0x61, 0x62, 0x63, 0, 9, 0, 1, 0, 9, 0, 0, 0, 0, 0, 0, 0]);
  assert.equal(encodeOptions([]).length, 0);
});

test('SHB has the byte-order magic, version 1.0 and an unknown section length', () => {
  const b = shb('h2rec 1', 'Linux');
  assert.equal(b.readUInt32LE(0), 0x0a0d0d0a);
  assert.equal(b.readUInt32LE(8), 0x1a2b3c4d);
  assert.equal(b.readUInt16LE(12), 1);
  assert.equal(b.readUInt16LE(14), 0);
  assert.equal(b.readBigInt64LE(16), -1n);
  assert.ok(b.includes(Buffer.from('h2rec 1')));
});

test('IDB declares nanosecond timestamps (if_tsresol = 9)', () => {
  const b = idb(252, 'h2rec', 'd');
  assert.equal(b.readUInt16LE(8), 252);
  assert.ok(b.includes(Buffer.from([9, 0, 1, 0, 9, 0, 0, 0])));
});

test('EPB splits a 64-bit ns timestamp and carries direction flags and a comment', () => {
  const ts = 1_795_353_557_599_493_768n;
  const b = epb(0, ts, Buffer.from('hello'), 'outbound', ['pid=1']);
  assert.equal((BigInt(b.readUInt32LE(12)) << 32n) | BigInt(b.readUInt32LE(16)), ts);
  assert.equal(b.readUInt32LE(20), 5);
  assert.equal(b.readUInt32LE(24), 5);
  assert.ok(b.includes(Buffer.from([2, 0, 4, 0, 2, 0, 0, 0])), 'epb_flags outbound = 10b');
  assert.ok(b.includes(Buffer.from('pid=1')));
});

test('NRB names an IPv4 address; ISB carries both drop counters', () => {
  const n = nrb([{ addr: Uint8Array.of(127, 0, 0, 1), names: ['curl.42'] }]);
  assert.equal(n.readUInt32LE(0), 4);
  assert.ok(n.includes(Buffer.from('curl.42\0')));
  const s = isb(0, 5n, 7n, 7n, 'loss');
  assert.equal(s.readUInt32LE(0), 5);
  assert.ok(s.includes(Buffer.from([5, 0, 8, 0, 7, 0, 0, 0, 0, 0, 0, 0])), 'isb_ifdrop = 7');
  assert.ok(s.includes(Buffer.from([7, 0, 8, 0, 7, 0, 0, 0, 0, 0, 0, 0])), 'isb_osdrop = 7');
});


test('byte-exact: an EPB with a 3-octet packet, outbound flags and a comment', () => {
  const b = epb(0, 0x0000000100000002n, Buffer.from([0xaa, 0xbb, 0xcc]), 'outbound', ['ab']);
  assert.deepEqual(
    b,
    hex(`
      06000000 38000000
      00000000 01000000 02000000 03000000 03000000
      aabbcc00
      01000200 61620000
      02000400 02000000
      00000000
      38000000`),
  );
});

test('byte-exact: an inbound EPB without comments has flags 01 only', () => {
  const b = epb(0, 5n, Buffer.alloc(0), 'inbound', []);
  assert.deepEqual(b, hex('06000000 2c000000 00000000 00000000 05000000 00000000 00000000 02000400 01000000 00000000 2c000000'));
});

test('byte-exact: an NRB with an IPv4 and an IPv6 record', () => {
  const v6 = Buffer.alloc(16);
  v6[15] = 1;
  const b = nrb([
    { addr: Uint8Array.of(10, 0, 0, 1), names: ['a.1'] },
    { addr: v6, names: ['b'] },
  ]);
  assert.deepEqual(
    b,
    hex(`
      04000000 34000000
      01000800 0a000001 612e3100
      02001200 00000000 00000000 00000000 00000001 62000000
      00000000
      34000000`),
  );
});

test('byte-exact: an ISB with start/end times (high word first) and both drop counters', () => {
  const b = isb(0, 0x0000000200000003n, 9n, 9n, 'x', { start: 0x0000000100000000n, end: 0x0000000200000003n });
  assert.deepEqual(
    b,
    hex(`
      05000000 54000000
      00000000 02000000 03000000
      01000100 78000000
      02000800 01000000 00000000
      03000800 02000000 03000000
      05000800 09000000 00000000
      07000800 09000000 00000000
      00000000
      54000000`),
  );
});

test('byte-exact: the SHB with user application and OS', () => {
  assert.deepEqual(
    shb('h2rec 0.1.0', 'Linux'),
    hex(`
      0a0d0d0a 3c000000
      4d3c2b1a 0100 0000 ffffffffffffffff
      04000b00 68327265 6320302e 312e3000
      03000500 4c696e75 78000000
      00000000
      3c000000`),
  );
});

test('FileSink: mode 0600 under umask 000 on a new or existing file, large and small writes in order', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'h2rec-sink-'));
  const file = path.join(dir, 'x.pcapng');
  fs.writeFileSync(file, 'previous contents', { mode: 0o644 });
  const old = process.umask(0);
  try {
    const s = new FileSink(createOutput(file, { force: true }));
    const big = Buffer.alloc(3 << 20, 7);
    s.write(Buffer.from('a'));
    s.write(big);
    s.write(Buffer.from('z'));
    s.close();
    const got = fs.readFileSync(file);
    assert.equal(got.length, big.length + 2);
    assert.deepEqual([got[0], got[1], got[got.length - 1]], [0x61, 7, 0x7a]);
    assert.equal(s.bytes, got.length);
    assert.equal(fs.statSync(file).mode & 0o777, 0o600);
  } finally {
    process.umask(old);
  }
});
