/** Outputs: checked targets, temporary file beside them, rename only when complete. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { checkOutputTarget, createOutput, openPrivate } from '../src/fsutil';
import { UsageError } from '../src/errors';

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'h2rec-fsutil-'));
const temps = (): string[] => fs.readdirSync(dir).filter((f) => f.includes('.h2rec-tmp-'));
const usage = (re: RegExp) => (e: unknown): boolean => e instanceof UsageError && re.test((e as Error).message);

test('createOutput: nothing at the path until commit(); then the whole file, mode 0600 under umask 000', () => {
  const file = path.join(dir, 'new.out');
  const old = process.umask(0);
  try {
    const o = createOutput(file);
    o.write(Buffer.from('hello '));
    o.write(Buffer.from('world'));
    assert.equal(fs.existsSync(file), false, 'not in place before commit');
    assert.equal(temps().length, 1);
    assert.equal(o.bytes, 11);
    o.commit();
    assert.equal(fs.readFileSync(file, 'utf8'), 'hello world');
    assert.equal(fs.statSync(file).mode & 0o777, 0o600);
    assert.deepEqual(temps(), []);
  } finally {
    process.umask(old);
  }
});

test('createOutput: discard() leaves the old file byte for byte, same inode; commit() with force replaces it', () => {
  const file = path.join(dir, 'old.out');
  fs.writeFileSync(file, 'old');
  const ino = fs.statSync(file).ino;
  assert.throws(() => createOutput(file), usage(/already exists; pass --force to replace it/));
  const o = createOutput(file, { force: true });
  o.write(Buffer.from('new'));
  o.discard();
  assert.equal(fs.readFileSync(file, 'utf8'), 'old');
  assert.equal(fs.statSync(file).ino, ino);
  assert.deepEqual(temps(), []);
  const p = createOutput(file, { force: true });
  p.write(Buffer.from('new'));
  p.commit();
  assert.equal(fs.readFileSync(file, 'utf8'), 'new');
});

test('a file that appears while we write is never replaced without force', () => {
  const file = path.join(dir, 'race.out');
  const o = createOutput(file);
  o.write(Buffer.from('ours'));
  fs.writeFileSync(file, 'theirs');
  assert.throws(() => o.commit(), usage(/already exists/));
  assert.equal(fs.readFileSync(file, 'utf8'), 'theirs');
  assert.deepEqual(temps(), []);
});

test('checkOutputTarget: symlinks, FIFOs, directories, inputs and their side files, missing directories are refused', () => {
  const target = path.join(dir, 'target.txt');
  fs.writeFileSync(target, 'x');
  const link = path.join(dir, 'link');
  fs.symlinkSync(target, link);
  assert.throws(() => checkOutputTarget(link, { force: true }), usage(/symbolic link/));
  const fifo = path.join(dir, 'fifo');
  fs.mkdirSync(path.join(dir, 'sub'));
  assert.throws(() => checkOutputTarget(path.join(dir, 'sub'), { force: true }), usage(/is a directory/));
  assert.equal(spawnSync('mkfifo', [fifo]).status, 0);
  assert.throws(() => checkOutputTarget(fifo, { force: true }), usage(/is a FIFO/));
  const journal = path.join(dir, 'j.db');
  fs.writeFileSync(journal, 'journal');
  assert.throws(() => checkOutputTarget(journal, { force: true, inputs: [journal] }), usage(/is the input journal/));
  assert.throws(() => checkOutputTarget(path.join(dir, 'sub', '..', 'j.db-wal'), { force: true, inputs: [journal] }), usage(/side file of the input journal/));
  assert.throws(() => checkOutputTarget(path.join(dir, 'nope', 'x'), {}), usage(/directory does not exist/));
  assert.deepEqual(checkOutputTarget(path.join(dir, 'fresh'), { inputs: [journal] }), { exists: false });
  assert.deepEqual(checkOutputTarget(target, { force: true, inputs: [journal] }), { exists: true });
});

test('openPrivate(overwrite) replaces a regular file but never unlinks a symlink or FIFO', () => {
  const file = path.join(dir, 'priv');
  fs.writeFileSync(file, 'old');
  fs.closeSync(openPrivate(file, true));
  assert.equal(fs.readFileSync(file, 'utf8'), '');
  const link = path.join(dir, 'priv-link');
  fs.symlinkSync(file, link);
  assert.throws(() => openPrivate(link, true), usage(/symbolic link/));
  assert.ok(fs.lstatSync(link).isSymbolicLink());
});
