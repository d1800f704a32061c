/**
 * Demo peer: an HTTP/2 client over TLS. Started by `h2rec demo` with an IPC
 * channel; it waits for {go: port} so that the recorder is live before the
 * first byte, makes a GET and a POST, closes the session (GOAWAY) and sends
 * back {done: [...]}.  node client.js CERT
 */
import fs from 'node:fs';
import http2 from 'node:http2';

const [certFile] = process.argv.slice(2);

interface Exchange {
  method: string;
  path: string;
  status: number;
  bytes: number;
}

function request(session: http2.ClientHttp2Session, method: string, path: string, body?: string): Promise<Exchange> {
  return new Promise((resolve, reject) => {
    const headers: http2.OutgoingHttpHeaders = { ':method': method, ':path': path, 'user-agent': 'h2rec-demo-client' };
    if (body !== undefined) headers['content-type'] = 'application/json';
    const req = session.request(headers);
    let status = 0;
    let bytes = 0;
    req.on('response', (h) => (status = Number(h[':status'])));
    req.on('data', (d: Buffer) => (bytes += d.length));
    req.on('end', () => resolve({ method, path, status, bytes }));
    req.on('error', reject);
    req.end(body);
  });
}

async function exchange(port: number): Promise<Exchange[]> {
  // The certificate is verified for real: it names 127.0.0.1 and is our only CA.
  const session = http2.connect(`https://127.0.0.1:${port}`, { ca: fs.readFileSync(certFile) });
  session.on('error', () => undefined);
  const out = [await request(session, 'GET', '/')];
  out.push(await request(session, 'POST', '/echo', JSON.stringify({ hello: 'h2rec', n: 42 })));
  await new Promise<void>((r) => session.close(() => r()));
  return out;
}

process.on('message', (m: { go?: number }) => {
  if (typeof m?.go !== 'number') return;
  exchange(m.go).then(
    (done) => process.send?.({ done }),
    (e: Error) => process.send?.({ error: e.message }),
  );
});
process.on('disconnect', () => process.exit(0));
process.send?.({ waiting: true });
setTimeout(() => process.exit(2), 120_000).unref();
