/**
 * `h2rec` is a real command (issue 15): after the setup, a new login shell
 * with nothing of ours in its environment finds `h2rec` on its PATH, and it
 * is this clone's build. scripts/setup.sh links it into /usr/local/bin.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { spawnSync } from 'node:child_process';

const repo = path.resolve(__dirname, '../../..');
const link = '/usr/local/bin/h2rec';
const skip = process.getuid?.() !== 0 ? 'the link is made by a root setup' : !fs.existsSync(link) ? 'scripts/setup.sh has not linked h2rec' : false;

/** A login shell with an empty environment, as a new terminal would start. */
function newShell(cmd: string): { status: number | null; stdout: string; stderr: string } {
  const r = spawnSync('env', ['-i', 'HOME=/root', 'bash', '-lc', cmd], { encoding: 'utf8', timeout: 60_000 });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

test('a new shell finds h2rec by name, and it is this clone\'s build', { skip }, () => {
  const which = newShell('command -v h2rec');
  assert.equal(which.status, 0, which.stderr);
  assert.equal(which.stdout.trim(), link);
  assert.equal(fs.realpathSync(link), fs.realpathSync(path.join(repo, 'build/src/cli.js')));
});

test('h2rec --help and h2rec doctor work by name in a new shell', { skip }, () => {
  const help = newShell('h2rec --help');
  assert.equal(help.status, 0, help.stderr);
  assert.match(help.stdout, /h2rec record/);
  const doctor = newShell('h2rec doctor');
  assert.equal(doctor.status, 0, doctor.stdout + doctor.stderr);
  assert.match(doctor.stdout, /^PASS /m);
  assert.doesNotMatch(doctor.stdout, /^FAIL /m);
});
