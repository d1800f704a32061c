/**
 * Demo peer: an HTTP/2 server over TLS on loopback, in its own process so
 * the recorder can name it by pid. Started by `h2rec demo` with an IPC
 * channel:  node server.js KEY CERT  -> sends {listening: port}.
 * It exits when the parent disconnects.
 */
import fs from 'node:fs';
import http2 from 'node:http2';
import type { AddressInfo } from 'node:net';

const [keyFile, certFile] = process.argv.slice(2);

const PAGE = '<!doctype html><title>h2rec demo</title><p>Hello over HTTP/2, seen in plaintext by h2rec.</p>\n';

const server = http2.createSecureServer({ key: fs.readFileSync(keyFile), cert: fs.readFileSync(certFile) });

server.on('stream', (stream, headers) => {
  const method = headers[':method'];
  const path = headers[':path'];
  if (method === 'GET' && path === '/') {
    stream.respond({ ':status': 200, 'content-type': 'text/html; charset=utf-8', 'server': 'h2rec-demo' });
    stream.end(PAGE);
    return;
  }
  if (method === 'POST' && path === '/echo') {
    const parts: Buffer[] = [];
    stream.on('data', (d: Buffer) => parts.push(d));
    stream.on('end', () => {
      const body = Buffer.concat(parts);
      stream.respond({ ':status': 200, 'content-type': 'application/json', 'server': 'h2rec-demo' });
      stream.end(JSON.stringify({ received: body.length, echo: body.toString('utf8') }) + '\n');
    });
    return;
  }
  stream.respond({ ':status': 404, 'content-type': 'text/plain' });
  stream.end('not found\n');
});

server.listen(0, '127.0.0.1', () => {
  process.send?.({ listening: (server.address() as AddressInfo).port });
});
process.on('disconnect', () => {
  server.close();
  process.exit(0);
});
// Never outlive a demo that crashed without disconnecting.
setTimeout(() => process.exit(2), 120_000).unref();
