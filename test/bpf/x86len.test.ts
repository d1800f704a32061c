/**
 * The loader's x86-64 length decoder (bpf/x86len.c), the ground on which Go
 * RET probes stand: a probe placed mid-instruction would corrupt the traced
 * program. Its hand-made cases run through `make -C bpf test`; here it must
 * agree with objdump on every instruction boundary of a real Go binary's
 * .text (half a million instructions), and find the same RETs objdump lists
 * in crypto/tls.(*Conn).Write and Read.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { spawnSync } from 'node:child_process';
import { tmpDir, have } from '../helpers/peers';

const repo = path.resolve(__dirname, '../../..');
const X86TEST = path.join(repo, 'bpf/.output/x86len-test');
const dir = tmpDir('x86len');
const skip = (!have('go') && 'go missing') || (!have('objdump') && 'objdump missing');
let bin: string;

before(() => {
  if (skip) return;
  bin = path.join(dir, 'h2go');
  const env = { ...process.env, GOCACHE: path.join(dir, 'gocache'), GOPATH: path.join(dir, 'gopath'), GOPROXY: 'off', GO111MODULE: 'off', CGO_ENABLED: '0' };
  const r = spawnSync('go', ['build', '-o', bin, path.join(repo, 'test/fixtures/go/h2go.go')], { env, encoding: 'utf8', timeout: 300_000 });
  assert.equal(r.status, 0, r.stderr);
});

after(() => fs.rmSync(dir, { recursive: true, force: true }));

test('hand-made cases (make -C bpf test)', () => {
  const r = spawnSync('make', ['-s', '-C', path.join(repo, 'bpf'), 'test'], { encoding: 'utf8' });
  assert.equal(r.status, 0, r.stdout + r.stderr);
  assert.match(r.stdout, /\d+ cases, 0 failed/);
});

interface Section {
  addr: number;
  off: number;
  size: number;
}

function textSection(file: string): Section {
  const r = spawnSync('readelf', ['-SW', file], { encoding: 'utf8' });
  const line = r.stdout.split('\n').find((l) => / \.text /.test(l))!;
  const f = line.replace(/^\s*\[\s*\d+\]\s*/, '').split(/\s+/);
  return { addr: parseInt(f[2], 16), off: parseInt(f[3], 16), size: parseInt(f[4], 16) };
}

/** objdump's instruction start addresses (continuation lines of long instructions have no mnemonic). */
function objdumpStarts(file: string, from?: number, to?: number): { starts: number[]; rets: number[] } {
  const args = ['-d', '-j', '.text', file];
  if (from !== undefined) args.push(`--start-address=0x${from.toString(16)}`, `--stop-address=0x${to!.toString(16)}`);
  const r = spawnSync('objdump', args, { encoding: 'utf8', maxBuffer: 1 << 30 });
  const starts: number[] = [];
  const rets: number[] = [];
  for (const l of r.stdout.split('\n')) {
    const m = /^\s+([0-9a-f]+):\t[0-9a-f ]+\t(\S+)/.exec(l);
    if (!m) continue;
    starts.push(parseInt(m[1], 16));
    if (m[2] === 'ret' || m[2] === 'retq' || m[2] === 'repz') rets.push(parseInt(m[1], 16));
  }
  return { starts, rets };
}

test('every instruction boundary of a Go binary agrees with objdump', { skip, timeout: 120_000 }, () => {
  const t = textSection(bin);
  const r = spawnSync(X86TEST, ['--dump', bin, String(t.off), String(t.size)], { encoding: 'utf8', maxBuffer: 1 << 30 });
  assert.equal(r.status, 0, 'the whole .text decodes');
  const ours = new Set(r.stdout.trim().split('\n').map((l) => t.addr + parseInt(l.split(' ')[0], 16)));
  const theirs = objdumpStarts(bin).starts;
  assert.ok(theirs.length > 100_000, `${theirs.length} instructions`);
  // crypto/internal/boring/sig.* embed marker bytes in the code (jumped over), which both tools read
  // as data differently; a linear sweep resynchronises right after. Everything else must agree.
  const sym = spawnSync('nm', [bin], { encoding: 'utf8' }).stdout.split('\n');
  const sigs = sym.filter((l) => /boring\/sig\./.test(l)).map((l) => parseInt(l.split(' ')[0], 16));
  const nearSig = (a: number) => sigs.some((s) => a >= s && a < s + 64);
  const theirSet = new Set(theirs);
  const disagree = [...theirs.filter((a) => !ours.has(a)), ...[...ours].filter((a) => !theirSet.has(a))].filter((a) => !nearSig(a));
  assert.deepEqual(disagree.slice(0, 10), [], `boundaries that differ: ${disagree.length} of ${theirs.length}`);
});

test('RETs of crypto/tls.(*Conn).Write and Read are objdump\'s', { skip }, () => {
  for (const fn of ['crypto/tls.(*Conn).Write', 'crypto/tls.(*Conn).Read']) {
    const g = JSON.parse(spawnSync(X86TEST, ['--go', bin, fn, 'symtab'], { encoding: 'utf8' }).stdout);
    assert.equal(g.go, true);
    assert.match(g.version, /^go1\.\d+/);
    const t = textSection(bin);
    const { rets } = objdumpStarts(bin, g.vaddr, g.vaddr + g.size);
    const ours = g.rets.map((off: number) => off - t.off + t.addr);
    assert.ok(rets.length >= 1);
    assert.deepEqual(ours, rets, fn);
  }
});

test('a binary that is not Go, and a missing function, are said so', { skip }, () => {
  const notGo = JSON.parse(spawnSync(X86TEST, ['--go', '/bin/ls', 'crypto/tls.(*Conn).Write', 'auto'], { encoding: 'utf8' }).stdout);
  assert.equal(notGo.go, false);
  assert.match(notGo.error, /not found/);
  const missing = spawnSync(X86TEST, ['--go', bin, 'crypto/tls.(*Conn).Nope', 'auto'], { encoding: 'utf8' });
  assert.equal(missing.status, 1);
  assert.match(JSON.parse(missing.stdout).error, /not found/);
  fs.writeFileSync(path.join(dir, 'tiny'), 'not an elf file at all, but long enough for a header........');
  assert.match(JSON.parse(spawnSync(X86TEST, ['--go', path.join(dir, 'tiny'), 'x', 'auto'], { encoding: 'utf8' }).stdout).error, /ELF/);
});
