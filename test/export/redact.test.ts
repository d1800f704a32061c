import { test } from 'node:test';
import assert from 'node:assert/strict';
import hpack from 'hpack.js';
import fc from 'fast-check';
import { isSensitive, redactFields, Reencoder, REDACTED } from '../../src/export/redact';

test('sensitive: authorization, proxy-authorization, cookie, set-cookie (any case) and every never-indexed field', () => {
  for (const name of ['authorization', 'Proxy-Authorization', 'cookie', 'set-cookie']) assert.equal(isSensitive({ name, value: 'x' }), true, name);
  assert.equal(isSensitive({ name: 'x-token', value: 'x', neverIndex: true }), true);
  assert.equal(isSensitive({ name: 'accept', value: 'x' }), false);
  assert.deepEqual(
    redactFields([{ name: 'cookie', value: 'a=1' }, { name: 'accept', value: '*/*' }]).map((f) => f.value),
    [REDACTED, '*/*'],
  );
});

test('re-encoded blocks decode back to the same fields with an independent decoder, across many blocks', () => {
  const field = fc.record({
    name: fc.stringMatching(/^[a-z][a-z0-9-]{0,15}$/),
    value: fc.string({ maxLength: 40 }),
    neverIndex: fc.boolean(),
  });
  fc.assert(
    fc.property(fc.array(fc.array(field, { maxLength: 8 }), { minLength: 1, maxLength: 6 }), (blocks) => {
      const r = new Reencoder();
      // The decoder starts from a table the original encoder had filled: the first size update must clear it.
      const dec = hpack.decompressor.create({ table: { maxSize: 4096 } });
      blocks.forEach((fields, i) => {
        const wire = r.encode(fields);
        assert.equal(wire[0] === 0x20, i === 0, 'a size update to 0 opens the first block only');
        dec.write(wire);
        dec.execute();
        const got: { name: string; value: string; neverIndex: boolean }[] = [];
        for (let h = dec.read(); h; h = dec.read()) got.push(h);
        assert.deepEqual(
          got.map((h) => [h.name, Buffer.from(h.value, 'latin1').toString('utf8'), h.neverIndex]),
          fields.map((f) => [f.name, f.value, f.neverIndex]),
        );
      });
    }),
  );
});

test('a redacted value is sent never-indexed, so no intermediary would store even the placeholder', () => {
  const wire = new Reencoder().encode(redactFields([{ name: 'authorization', value: 'Bearer x' }]));
  // 0x20 size update, then 0001xxxx: literal never indexed (RFC 7541 §6.2.3).
  assert.deepEqual([wire[0], wire[1] & 0xf0], [0x20, 0x10]);
  assert.equal(wire.includes(Buffer.from('Bearer')), false);
});
