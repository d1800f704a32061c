import { test } from 'node:test';
import assert from 'node:assert/strict';
import { block, encodeOptions, epb, idb, isb, nrb, opt, shb } from '../../src/export/pcapng';

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
