import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import zlib from 'node:zlib';
import type { Exchange } from '../../src/analyze/messages';
import { exchange } from '../helpers/events';
import { BodyWriter, DECODED_BODY_MAX, bodyName, decodeBody, makePrivateDir } from '../../src/export/bodies';
import { UsageError } from '../../src/errors';

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'h2rec-bodies-'));
const text = Buffer.from('hello '.repeat(1000));


test('content-encoding is undone, last-applied first: gzip, deflate (zlib and raw), br, identity, a chain', () => {
  assert.deepEqual(decodeBody(zlib.gzipSync(text), 'gzip').data, text);
  assert.deepEqual(decodeBody(zlib.deflateSync(text), 'deflate').data, text);
  assert.deepEqual(decodeBody(zlib.deflateRawSync(text), 'deflate').data, text);
  assert.deepEqual(decodeBody(zlib.brotliCompressSync(text), 'br').data, text);
  assert.deepEqual(decodeBody(text, 'identity').data, text);
  assert.deepEqual(decodeBody(zlib.brotliCompressSync(zlib.gzipSync(text)), 'gzip, br').data, text);
  assert.deepEqual(decodeBody(text, undefined).data, text);
});

test('an unknown or broken coding keeps the bytes as sent, with a note', () => {
  const z = decodeBody(text, 'zstd');
  assert.deepEqual(z.data, text);
  assert.match(z.note!, /zstd not decoded/);
  const broken = decodeBody(Buffer.from('not gzip'), 'gzip');
  assert.deepEqual(broken.data, Buffer.from('not gzip'));
  assert.match(broken.note!, /could not be decoded/);
});

test('names come from connection, stream and the last path segment, made safe', () => {
  assert.equal(bodyName(exchange(), 'resp'), 'conn3-stream13-resp-4m.bin');
  assert.equal(bodyName(exchange({ path: '/' }), 'req'), 'conn3-stream13-req-index');
  assert.equal(bodyName(exchange({ path: '/a/../../etc/pass wd' }), 'resp'), 'conn3-stream13-resp-pass_wd');
  assert.equal(path.basename(bodyName(exchange({ path: '/x/%2F..%2F' }), 'resp')), bodyName(exchange({ path: '/x/%2F..%2F' }), 'resp'), 'never a path separator');
  assert.ok(bodyName(exchange({ path: '/' + 'a'.repeat(500) }), 'resp').length < 120);
});

/** What export does with one exchange: its DATA payloads as they come, then finish(). */
async function writeBodies(w: BodyWriter, x: Exchange): Promise<{ files: string[]; notes: string[] }> {
  const f0 = w.files.length;
  const n0 = w.notes.length;
  for (const c of x.requestBody ?? []) w.data(x, true, c);
  for (const c of x.responseBody ?? []) w.data(x, false, c);
  await w.finish(x);
  return { files: w.files.slice(f0), notes: w.notes.slice(n0) };
}

const leftovers = (d: string): string[] => fs.readdirSync(d).filter((f) => f.includes('.h2rec-tmp-'));

test('bodies are written decoded, mode 0600 in a 0700 directory even under umask 000; cut bodies are marked partial', async () => {
  const old = process.umask(0);
  try {
    const out = path.join(dir, 'b', 'nested');
    makePrivateDir(out);
    assert.equal(fs.statSync(out).mode & 0o777, 0o700);
    const w = new BodyWriter(out);
    const x = exchange({
      responseHeaders: [{ name: 'content-encoding', value: 'gzip' }],
      responseBody: [zlib.gzipSync(text)],
      requestBody: [Buffer.from('up')],
    });
    const r = await writeBodies(w, x);
    assert.deepEqual(r.files.map((f) => path.basename(f)), ['conn3-stream13-req-4m.bin', 'conn3-stream13-resp-4m.bin']);
    assert.deepEqual(fs.readFileSync(r.files[1]), text);
    for (const f of r.files) assert.equal(fs.statSync(f).mode & 0o777, 0o600);
    const cut = await writeBodies(w, exchange({ stream: 15, lossy: true, responseBody: [Buffer.from('part')] }));
    assert.deepEqual(cut.files.map((f) => path.basename(f)), ['conn3-stream15-resp-4m.bin.partial']);
    assert.deepEqual(leftovers(out), []);
  } finally {
    process.umask(old);
  }
});

test('streamed decoding: gzip, zlib and raw deflate, br, a chain, an unknown and a broken coding; chunks of any size', async () => {
  const out = path.join(dir, 'codings');
  makePrivateDir(out);
  const w = new BodyWriter(out);
  const chunks = (b: Buffer): Buffer[] => [b.subarray(0, 3), b.subarray(3, 10), Buffer.alloc(0), b.subarray(10)];
  const cases: [string, Buffer, Buffer, RegExp | undefined][] = [
    ['gzip', zlib.gzipSync(text), text, undefined],
    ['deflate', zlib.deflateSync(text), text, undefined],
    ['deflate', zlib.deflateRawSync(text), text, undefined],
    ['br', zlib.brotliCompressSync(text), text, undefined],
    ['gzip, br', zlib.brotliCompressSync(zlib.gzipSync(text)), text, undefined],
    ['zstd', text, text, /zstd not decoded/],
    ['gzip', Buffer.from('not gzip at all'), Buffer.from('not gzip at all'), /gzip could not be decoded .*bytes kept as sent/],
  ];
  let stream = 1;
  for (const [enc, body, want, note] of cases) {
    const r = await writeBodies(w, exchange({ stream: stream++, responseHeaders: [{ name: 'content-encoding', value: enc }], responseBody: chunks(body) }));
    assert.deepEqual(fs.readFileSync(r.files[0]), want, enc);
    if (note) assert.match(r.notes[0], note);
    else assert.deepEqual(r.notes, [], enc);
  }
  assert.deepEqual(leftovers(out), []);
});

test('a decompression bomb stops at the cap: written truncated as .partial, with a note', async () => {
  const out = path.join(dir, 'bomb');
  makePrivateDir(out);
  const w = new BodyWriter(out, { maxDecoded: 1 << 20 });
  const bomb = zlib.gzipSync(Buffer.alloc(16 << 20));
  const r = await writeBodies(w, exchange({ responseHeaders: [{ name: 'content-encoding', value: 'gzip' }], responseBody: [bomb] }));
  assert.deepEqual(r.files.map((f) => path.basename(f)), ['conn3-stream13-resp-4m.bin.partial']);
  assert.equal(fs.statSync(r.files[0]).size, 1 << 20);
  assert.match(r.notes[0], /decoded body exceeds 1 MiB; truncated/);
  assert.equal(DECODED_BODY_MAX, 64 << 20);
  const mem = decodeBody(bomb, 'gzip', { maxOutputLength: 1 << 20 });
  assert.equal(mem.overflow, true, 'in memory too');
  assert.deepEqual(leftovers(out), []);
});

test('a reused stream id never overwrites a body this export wrote: .2, .3 ...', async () => {
  const out = path.join(dir, 'dups');
  makePrivateDir(out);
  const w = new BodyWriter(out);
  for (const s of ['one', 'two', 'three']) await writeBodies(w, exchange({ stream: 1, requestBody: [Buffer.from('q' + s)], responseBody: [Buffer.from(s)] }));
  assert.deepEqual(w.files.map((f) => path.basename(f)), [
    'conn3-stream1-req-4m.bin',
    'conn3-stream1-resp-4m.bin',
    'conn3-stream1.2-req-4m.bin',
    'conn3-stream1.2-resp-4m.bin',
    'conn3-stream1.3-req-4m.bin',
    'conn3-stream1.3-resp-4m.bin',
  ]);
  assert.deepEqual(w.files.map((f) => fs.readFileSync(f, 'utf8')), ['qone', 'one', 'qtwo', 'two', 'qthree', 'three']);
});

test('an existing body file is refused without force, replaced with it; DIR may not be a symlink or a file', async () => {
  const out = path.join(dir, 'existing');
  makePrivateDir(out);
  const old = path.join(out, 'conn3-stream13-resp-4m.bin');
  fs.writeFileSync(old, 'old', { mode: 0o644 });
  const ino = fs.statSync(old).ino;
  const w = new BodyWriter(out);
  await assert.rejects(writeBodies(w, exchange({ responseBody: [Buffer.from('new')] })), /already exists; pass --force to replace it/);
  assert.equal(fs.readFileSync(old, 'utf8'), 'old');
  assert.equal(fs.statSync(old).ino, ino);
  assert.deepEqual(leftovers(out), []);
  const f = new BodyWriter(out, { force: true });
  await writeBodies(f, exchange({ responseBody: [Buffer.from('new')] }));
  assert.equal(fs.readFileSync(old, 'utf8'), 'new');
  assert.equal(fs.statSync(old).mode & 0o777, 0o600);
  const link = path.join(dir, 'dirlink');
  fs.symlinkSync(out, link);
  assert.throws(() => makePrivateDir(link), (e: unknown) => e instanceof UsageError && /symbolic link/.test((e as Error).message));
  assert.throws(() => makePrivateDir(old), UsageError);
});
