/**
 * The ceiling of replay throughput: node's own http2 client and nothing else.
 * One connection, `streams` requests in flight, `requests` GETs of one URL,
 * each body read and dropped. `h2rec replay` sends through this same client
 * (issue 13: node's http2 is the client), so no replay can beat its rate on
 * one connection; the bench prints it next to replay's and h2load's.
 *
 *   node build/bench/lib/h2client.js URL REQUESTS STREAMS
 *   -> "REQUESTS requests in S s" (first request to last stream closed)
 */
import http2 from 'node:http2';

export function parseH2client(out: string): number {
  const m = /^(\d+) requests in ([\d.]+) s$/m.exec(out);
  if (!m) throw new Error(`unreadable h2client output: ${out.slice(-400)}`);
  return Number(m[2]);
}

function main(url: string, requests: number, streams: number): void {
  const u = new URL(url);
  const session = http2.connect(u.origin, { rejectUnauthorized: false });
  session.on('error', (e) => {
    process.stderr.write(`h2client: ${e.message}\n`);
    process.exitCode = 1;
  });
  // Timed from the target's SETTINGS, as replay's figure starts after its connection is up.
  session.once('remoteSettings', () => {
    const t0 = performance.now();
    let sent = 0;
    let done = 0;
    let failed = 0;
    const one = (): void => {
      if (sent >= requests) return;
      sent++;
      const req = session.request({ ':path': u.pathname + u.search }, { endStream: true });
      req.on('response', (h) => {
        if (h[':status'] !== 200) failed++;
      });
      req.resume();
      req.on('error', () => failed++);
      req.on('close', () => {
        if (++done === requests) {
          process.stdout.write(`${requests} requests in ${((performance.now() - t0) / 1000).toFixed(3)} s\n`);
          if (failed) {
            process.stderr.write(`h2client: ${failed} requests failed\n`);
            process.exitCode = 1;
          }
          session.close();
        } else one();
      });
    };
    for (let i = 0; i < streams; i++) one();
  });
}

if (require.main === module) {
  const [url, n, c] = process.argv.slice(2);
  main(url, Number(n), Number(c));
}
