/**
 * Records the small real journals in fixtures/ (needs root, BTF and the
 * test peers). Run: node build/scripts/make-fixtures.js
 * Each journal is real traffic recorded by the real recorder; see
 * fixtures/README.md for what each one holds.
 */
import fs from 'node:fs';
import path from 'node:path';
import { spawn } from 'node:child_process';
import { makeCert, randomFile, recordDuring, run, startNghttpd, tmpDir } from '../test/helpers/peers';

const repo = path.resolve(__dirname, '../..');
const out = path.join(repo, 'fixtures');

async function main(): Promise<void> {
  const dir = tmpDir('fixtures');
  const tls = makeCert(dir);
  const www = path.join(dir, 'www');
  fs.mkdirSync(www);
  randomFile(path.join(www, 'small.bin'), 3000);
  randomFile(path.join(www, '200k.bin'), 200_000);
  fs.writeFileSync(path.join(www, 'index.html'), '<!doctype html><title>h2rec</title><p>hello from nghttpd</p>\n');
  const server = await startNghttpd(www, tls);
  const base = `https://127.0.0.1:${server.port}`;
  const file = (n: string): string => {
    const f = path.join(out, n);
    fs.rmSync(f, { force: true });
    return f;
  };
  try {
    await recordDuring({ output: file('nghttp-get.db'), comm: 'nghttp' }, () =>
      run('nghttp', ['-n', '-m', '3', '-H', 'authorization: Bearer fixture-secret-token', `${base}/index.html`, `${base}/200k.bin`]),
    );
    await recordDuring({ output: file('curl-h2.db'), comm: 'curl' }, () =>
      run('curl', ['-sk', '--http2', '-o', '/dev/null', '-H', 'cookie: session=fixture-cookie', `${base}/200k.bin`]),
    );
    await recordDuring({ output: file('wget2-gnutls.db'), comm: 'wget2' }, () =>
      run('wget2', ['--no-check-certificate', '--http2', '-q', '-O', '/dev/null', '--no-robots', `${base}/index.html`]),
    );
    await recordDuring({ output: file('node-h2.db'), binaries: [process.execPath], comm: 'node' }, () =>
      run(process.execPath, [path.join(repo, 'test/peers/node-h2.js'), path.join(www, '200k.bin'), tls.key, tls.cert]),
    );
    await recordDuring({ output: file('h2load-overflow.db'), comm: 'h2load', ringbufMb: 1 / 32 }, () =>
      run('h2load', ['-n', '4', '-c', '1', '-m', '4', `${base}/200k.bin`], { timeoutMs: 60_000 }),
    );
    // Mid-connection start: the client's connection and HPACK state exist before recording begins.
    const late = spawn(process.execPath, [path.join(repo, 'test/peers/node-h2.js'), path.join(www, 'small.bin'), tls.key, tls.cert, '--late'], { stdio: ['pipe', 'pipe', 'inherit'] });
    await new Promise((r) => late.stdout.once('data', r));
    await recordDuring({ output: file('node-midstream.db'), binaries: [process.execPath], pids: [late.pid!] }, async () => {
      late.stdin.end('go\n');
      await new Promise((r) => late.on('close', r));
    });
  } finally {
    await server.stop();
  }
  for (const f of fs.readdirSync(out).filter((n) => n.endsWith('.db'))) {
    const st = fs.statSync(path.join(out, f));
    process.stdout.write(`${f}\t${st.size} bytes\n`);
    if (st.size > 1 << 20) throw new Error(`${f} is over 1 MB`);
  }
}

main().catch((e) => {
  process.stderr.write(String(e?.stack ?? e) + '\n');
  process.exitCode = 1;
});
