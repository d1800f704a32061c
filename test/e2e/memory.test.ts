/**
 * End-to-end (issue 4): a journal of at least 1 GB, recorded from real
 * traffic, is analyzed with peak RSS under 300 MB. The analyzer streams; this
 * pins that down on the real thing rather than on a synthetic file.
 */
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { spawn } from 'node:child_process';
import { makeCert, randomFile, recordDuring, run, startNghttpd, tmpDir } from '../helpers/peers';

const dir = tmpDir('e2e-memory');
const repo = path.resolve(__dirname, '../../..');
after(() => fs.rmSync(dir, { recursive: true, force: true }));

/** Runs the CLI with stdout to /dev/null, polling the child's VmHWM (peak RSS). */
function peakRss(args: string[]): Promise<{ code: number | null; peakMb: number; seconds: number; stderr: string }> {
  return new Promise((resolve, reject) => {
    const t0 = Date.now();
    const devnull = fs.openSync('/dev/null', 'w');
    const p = spawn(process.execPath, [path.join(repo, 'build/src/cli.js'), ...args], { stdio: ['ignore', devnull, 'pipe'] });
    let peak = 0;
    let err = '';
    p.stderr?.on('data', (d: Buffer) => (err += d.toString()));
    const poll = setInterval(() => {
      try {
        const m = /VmHWM:\s+(\d+) kB/.exec(fs.readFileSync(`/proc/${p.pid}/status`, 'utf8'));
        if (m) peak = Math.max(peak, Number(m[1]));
      } catch {
        // the process just exited
      }
    }, 20);
    p.on('error', reject);
    p.on('close', (code) => {
      clearInterval(poll);
      fs.closeSync(devnull);
      resolve({ code, peakMb: peak / 1024, seconds: (Date.now() - t0) / 1000, stderr: err });
    });
  });
}

test('a 1 GB journal of real traffic analyzes and exports with peak RSS under 300 MB', { timeout: 900_000 }, async () => {
  const tls = makeCert(dir);
  const www = path.join(dir, 'www');
  fs.mkdirSync(www);
  randomFile(path.join(www, '1m.bin'), 1 << 20);
  const server = await startNghttpd(www, tls);
  const journal = path.join(dir, 'big.db');
  try {
    const { summary, result } = await recordDuring({ output: journal, comm: 'h2load', ringbufMb: 256 }, () =>
      run('h2load', ['-n', '1800', '-c', '4', '-m', '4', `https://127.0.0.1:${server.port}/1m.bin`], { timeoutMs: 300_000 }),
    );
    assert.equal(result.status, 0, result.stderr);
    assert.ok(fs.statSync(journal).size >= 1e9, `journal is ${fs.statSync(journal).size} bytes`);
    assert.ok(summary.payloadBytes >= 1e9);
    process.stdout.write(`# recorded ${summary.payloadBytes} bytes of plaintext, lost ${summary.lostBytes}\n`);
  } finally {
    await server.stop();
  }
  for (const format of ['json', 'text']) {
    const r = await peakRss(['analyze', journal, '--format', format]);
    assert.equal(r.code, 0, r.stderr);
    process.stdout.write(`# analyze --format ${format}: ${(fs.statSync(journal).size / 1e6).toFixed(0)} MB journal in ${r.seconds.toFixed(1)} s, peak RSS ${r.peakMb.toFixed(0)} MB\n`);
    assert.ok(r.peakMb > 0 && r.peakMb < 300, `peak RSS ${r.peakMb.toFixed(0)} MB`);
  }
  // Every export streams too (issue 18): the pcapng, the HAR entry by entry, the bodies file by file.
  for (const [what, args, out] of [
    ['--pcap', ['--pcap', path.join(dir, 'big.pcapng')], path.join(dir, 'big.pcapng')],
    ['--har', ['--har', path.join(dir, 'big.har')], path.join(dir, 'big.har')],
    ['--bodies', ['--bodies', path.join(dir, 'bodies')], path.join(dir, 'bodies')],
  ] as const) {
    const r = await peakRss(['export', journal, ...args]);
    assert.equal(r.code, 0, r.stderr);
    process.stdout.write(`# export ${what}: ${r.seconds.toFixed(1)} s, peak RSS ${r.peakMb.toFixed(0)} MB\n`);
    assert.ok(r.peakMb > 0 && r.peakMb < 300, `export ${what}: peak RSS ${r.peakMb.toFixed(0)} MB`);
    fs.rmSync(out, { recursive: true, force: true });
  }
});
