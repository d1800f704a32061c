/**
 * What an unprivileged user (nobody) runs, placed where nobody can reach it.
 * A clone often lives under a directory only root may enter (/root, any
 * `mktemp -d`), so nobody cannot load build/src/cli.js from it. A hard-linked
 * copy (a real copy across file systems) of build/, node_modules and the
 * loader goes into a 0755 temporary directory, removed by `cleanup()`.
 */
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

export const REPO = path.resolve(__dirname, '../../..');
export const NOBODY = 65534;

export interface NobodyInstall {
  dir: string;
  cli: string;
  loader: string;
  cleanup(): void;
}

function copyTree(from: string, to: string): void {
  fs.mkdirSync(path.dirname(to), { recursive: true, mode: 0o755 });
  // Hard links are instant; another file system needs a real copy.
  if (spawnSync('cp', ['-al', from, to]).status === 0) return;
  fs.rmSync(to, { recursive: true, force: true });
  const r = spawnSync('cp', ['-a', from, to], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`cannot copy ${from}: ${r.stderr}`);
}

export function installForNobody(): NobodyInstall {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'h2rec-nobody-'));
  fs.chmodSync(dir, 0o755);
  for (const part of ['build', 'node_modules', 'package.json', 'bpf/.output/h2rec-loader']) copyTree(path.join(REPO, part), path.join(dir, part));
  // Directories made by mkdir above follow the umask; nobody must traverse them all.
  for (const d of ['bpf', 'bpf/.output']) fs.chmodSync(path.join(dir, d), 0o755);
  return {
    dir,
    cli: path.join(dir, 'build/src/cli.js'),
    loader: path.join(dir, 'bpf/.output/h2rec-loader'),
    cleanup: () => fs.rmSync(dir, { recursive: true, force: true }),
  };
}

/** Runs a shell command as nobody (setpriv: real and effective ids, no groups); throws with its stderr if it fails. */
export function shAsNobody(cmd: string): void {
  const r = spawnSync('setpriv', [`--reuid=${NOBODY}`, `--regid=${NOBODY}`, '--clear-groups', 'sh', '-c', cmd], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`as nobody: ${cmd}: exit ${r.status}: ${r.stderr}`);
}
