import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import zlib from 'node:zlib';
import type { Exchange } from '../../src/analyze/messages';
import { bodyName, decodeBody, makePrivateDir, writeBodies, writePrivate } from '../../src/export/bodies';

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'h2rec-bodies-'));
const text = Buffer.from('hello '.repeat(1000));

export function exchange(p: Partial<Exchange> = {}): Exchange {
  return {
    conn: { id: 3, key: { pid: 1, ptr: '0x1', gen: '1' }, pid: 1, comm: 'c', tids: [1], lib: 'openssl', firstKtime: 0n },
    stream: 13,
    role: 'client',
    method: 'GET',
    scheme: 'https',
    authority: 'example.test',
    path: '/files/4m.bin?x=1',
    status: 200,
    requestHeaders: [],
    informational: [],
    responseHeaders: [],
    requestTrailers: [],
    responseTrailers: [],
    requestBodyBytes: 0,
    responseBodyBytes: 0,
    startKtime: 0n,
    pushPromises: [],
    state: 'complete',
    lossy: false,
    ...p,
  };
}

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

test('bodies are written decoded, mode 0600 in a 0700 directory even under umask 000; cut bodies are marked partial', () => {
  const old = process.umask(0);
  try {
    const out = path.join(dir, 'b', 'nested');
    makePrivateDir(out);
    assert.equal(fs.statSync(out).mode & 0o777, 0o700);
    const x = exchange({
      responseHeaders: [{ name: 'content-encoding', value: 'gzip' }],
      responseBody: [zlib.gzipSync(text)],
      requestBody: [Buffer.from('up')],
    });
    const w = writeBodies(out, x);
    assert.deepEqual(w.files.map((f) => path.basename(f)), ['conn3-stream13-req-4m.bin', 'conn3-stream13-resp-4m.bin']);
    assert.deepEqual(fs.readFileSync(w.files[1]), text);
    for (const f of w.files) assert.equal(fs.statSync(f).mode & 0o777, 0o600);
    const cut = writeBodies(out, exchange({ stream: 15, lossy: true, responseBody: [Buffer.from('part')] }));
    assert.deepEqual(cut.files.map((f) => path.basename(f)), ['conn3-stream15-resp-4m.bin.partial']);
    // An existing file is truncated and tightened too.
    const f = path.join(dir, 'loose');
    fs.writeFileSync(f, 'old old old', { mode: 0o666 });
    writePrivate(f, Buffer.from('new'));
    assert.equal(fs.readFileSync(f, 'utf8'), 'new');
    assert.equal(fs.statSync(f).mode & 0o777, 0o600);
  } finally {
    process.umask(old);
  }
});
