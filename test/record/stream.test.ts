import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { LoaderStreamParser } from '../../src/record/stream';
import { loaderMessage } from '../helpers/bytes';

const msg = loaderMessage;

test('messages split at arbitrary points are reassembled identically', () => {
  const stream = Buffer.concat([
    msg(2, Buffer.from('{"t":"ready","probes":3}')),
    msg(1, Buffer.alloc(300, 7)),
    msg(1, Buffer.alloc(0)),
    msg(2, Buffer.from('{"t":"stopped"}')),
  ]);
  fc.assert(
    fc.property(fc.array(fc.integer({ min: 0, max: stream.length }), { maxLength: 10 }), (cuts) => {
      const points = [...new Set(cuts)].sort((a, b) => a - b);
      const p = new LoaderStreamParser();
      const out: string[] = [];
      let prev = 0;
      for (const c of [...points, stream.length]) {
        for (const m of p.push(stream.subarray(prev, c))) {
          out.push(m.type === 'record' ? `r${m.raw.length}` : m.type === 'json' ? String(m.value.t) : 'bad');
        }
        prev = c;
      }
      assert.deepEqual(out, ['ready', 'r300', 'r0', 'stopped']);
      assert.equal(p.pendingBytes, 0);
    }),
  );
});

test('a corrupt stream is reported once and then ignored', () => {
  const p = new LoaderStreamParser();
  const out = [...p.push(Buffer.from([9, 0, 0, 0, 1, 0, 0, 0, 0]))];
  assert.equal(out.length, 1);
  assert.equal(out[0].type, 'bad');
  assert.deepEqual([...p.push(msg(2, Buffer.from('{}')))], []);
});

test('a cut-short message is counted as pending', () => {
  const p = new LoaderStreamParser();
  const m = msg(1, Buffer.alloc(100));
  assert.deepEqual([...p.push(m.subarray(0, 50))], []);
  assert.equal(p.pendingBytes, 50);
});
