/**
 * End-to-end (issue 15 item 3): nginx answers a POST before the client has
 * sent its body (`return 201/401/413` never read it), then resets the stream
 * with NO_ERROR (RFC 9113 §8.1). Recorded for real from curl by the CLI
 * recorder; each request must stay one exchange with the bytes curl really
 * sent, in --summary, HAR and --bodies.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { spawnSync, type ChildProcess } from 'node:child_process';
import { tmpDir, makeCert, freePort, waitForPort, randomFile, run, type RunResult } from '../helpers/peers';
import { walkJournal } from '../helpers/walk';
import { dataPayloads } from '../helpers/h2walk';
import { NGINX, spawnNginx, writeNginxConf } from '../helpers/nginx';
import { recordWhile } from '../reliability/helpers';
import { summaryRows } from '../helpers/output';

const cli = path.resolve(__dirname, '../../src/cli.js');
const dir = tmpDir('e2e-early');
const SMALL = 23;
const BIG = 2 << 20;
const LOCATIONS: Record<string, number> = { '/created': 201, '/auth': 401, '/big': 413 };
let port = 0;
let nginx: ChildProcess | undefined;

before(async () => {
  if (!fs.existsSync(NGINX)) return;
  const tls = makeCert(dir);
  port = await freePort();
  const p = (f: string): string => path.join(dir, f);
  // Large enough that nginx's own client_max_body_size check does not answer first: each location says what it returns.
  writeNginxConf(
    dir,
    `  access_log off;\n` +
      `  server {\n    listen 127.0.0.1:${port} ssl http2;\n    client_max_body_size 16m;\n` +
      `    ssl_certificate ${tls.cert};\n    ssl_certificate_key ${tls.key};\n` +
      Object.entries(LOCATIONS).map(([loc, code]) => `    location ${loc} { return ${code}; }\n`).join('') +
      '  }\n',
  );
  nginx = spawnNginx(dir);
  await waitForPort(port);
  randomFile(p('small.bin'), SMALL);
  randomFile(p('big.bin'), BIG);
});

after(async () => {
  if (nginx && nginx.exitCode === null) {
    const gone = new Promise((r) => nginx!.once('exit', r));
    nginx.kill('SIGTERM');
    await gone;
  }
});

/** The real CLI recorder (curl's traffic) while `body` runs; stopped by SIGINT like Ctrl-C. */
const recordWith = <T>(journal: string, body: () => Promise<T>): Promise<T> => recordWhile(['-o', journal, '--comm', 'curl'], body);

const sum = (bufs: Buffer[]): number => bufs.reduce((a, b) => a + b.length, 0);

test('an early response by nginx (return 201/401/413) is one exchange per request with the bytes curl sent', { skip: !fs.existsSync(NGINX) && 'nginx missing' }, async () => {
  const journal = path.join(dir, 'early.db');
  const cases: { loc: string; file: string; res?: RunResult }[] = [];
  for (const loc of Object.keys(LOCATIONS)) for (const file of ['small.bin', 'big.bin']) cases.push({ loc, file });
  await recordWith(journal, async () => {
    for (const c of cases) {
      c.res = await run('curl', ['-sk', '--http2', '-o', '/dev/null', '-w', '%{http_code}', '--data-binary', `@${path.join(dir, c.file)}`, `https://127.0.0.1:${port}${c.loc}`]);
    }
  });
  for (const c of cases) assert.equal(c.res!.stdout, String(LOCATIONS[c.loc]), `curl got ${c.loc}'s status`);

  const a = spawnSync(process.execPath, [cli, 'analyze', journal, '--summary', '--format', 'json'], { encoding: 'utf8' });
  assert.equal(a.status, 0, a.stderr);
  const rows = summaryRows(a.stdout);
  const streams = walkJournal(journal);
  for (const c of cases) {
    const pid = c.res!.pid;
    const mine = rows.filter((r) => r.pid === pid);
    assert.equal(mine.length, 1, `${c.loc} ${c.file}: one row, not a second one for late DATA: ${JSON.stringify(mine)}`);
    const r = mine[0];
    assert.deepEqual([r.method, r.path, r.status, r.state, r.lossy], ['POST', c.loc, LOCATIONS[c.loc], 'complete', false], JSON.stringify(r));
    assert.ok(r.reset === null || r.reset === 'NO_ERROR', `no failure: ${r.reset}`);
    // What the journal holds for curl's stream 1, walked independently of the analyzer.
    const dirs = [...streams.values()].filter((s) => s.pid === pid);
    const sent = sum(dataPayloads(dirs.find((s) => s.dir === 'send')!.chunks, 1));
    const got = sum(dataPayloads(dirs.find((s) => s.dir === 'recv')!.chunks, 1));
    assert.equal(r.requestBytes, sent, `${c.loc} ${c.file}: request bytes are the DATA bytes curl sent`);
    assert.ok(sent <= (c.file === 'big.bin' ? BIG : SMALL));
    assert.equal(r.responseBytes, got, `${c.loc} ${c.file}: response bytes`);
    if (LOCATIONS[c.loc] !== 201) assert.ok(got > 0, 'nginx sends an error page');
  }
  assert.ok(rows.some((r) => r.earlyResponse), 'nginx answered before the body was sent');

  const har = path.join(dir, 'early.har');
  const bodies = path.join(dir, 'bodies');
  const e = spawnSync(process.execPath, [cli, 'export', journal, '--har', har, '--bodies', bodies], { encoding: 'utf8' });
  assert.equal(e.status, 0, e.stderr);
  const entries = (JSON.parse(fs.readFileSync(har, 'utf8')) as { log: { entries: { request: { method: string; url: string }; response: { status: number }; comment: string }[] } }).log.entries;
  assert.equal(entries.length, cases.length, 'exactly the real requests');
  for (const c of cases) {
    const mine = entries.filter((x) => x.comment.startsWith(`pid=${c.res!.pid} `));
    assert.equal(mine.length, 1);
    assert.deepEqual([mine[0].request.method, new URL(mine[0].request.url).pathname, mine[0].response.status], ['POST', c.loc, LOCATIONS[c.loc]]);
  }
  const files = fs.existsSync(bodies) ? fs.readdirSync(bodies) : [];
  assert.ok(files.length > 0, 'error pages and uploads were written');
  assert.deepEqual(files.filter((f) => f.endsWith('.partial')), [], 'no body is marked partial');
});
