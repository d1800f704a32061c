'use strict';
/*
 * Test peer: a node http2 TLS server (child process) and client (this
 * process), both using node's statically linked OpenSSL.
 *   node node-h2.js FILE KEY CERT [--wait]
 * Serves FILE at /file, fetches it once, POSTs 64 KiB, and prints
 * {"serverPid","clientPid","sha256"}. With --wait it prints "ready" and
 * waits for a line on stdin before making requests. With --late it makes
 * one request first, then prints "ready" and waits, so a recording started
 * then joins a connection (and HPACK tables) already in use.
 */
const http2 = require('node:http2');
const crypto = require('node:crypto');
const fs = require('node:fs');
const { fork } = require('node:child_process');

const [file, key, cert, flag] = process.argv.slice(2);

if (process.env.H2REC_PEER_ROLE === 'server') {
  const body = fs.readFileSync(file);
  const srv = http2.createSecureServer({ key: fs.readFileSync(key), cert: fs.readFileSync(cert) });
  srv.on('stream', (stream, headers) => {
    if (headers[':method'] === 'POST') {
      let n = 0;
      stream.on('data', (d) => (n += d.length));
      stream.on('end', () => {
        stream.respond({ ':status': 200, 'content-type': 'text/plain' });
        stream.end(`got ${n}\n`);
      });
      return;
    }
    stream.respond({ ':status': 200, 'content-type': 'application/octet-stream', 'content-length': body.length });
    stream.end(body);
  });
  srv.listen(0, '127.0.0.1', () => process.send({ port: srv.address().port }));
  process.on('disconnect', () => srv.close(() => process.exit(0)));
  setTimeout(() => process.exit(2), 120000).unref();
  return;
}

function request(client, headers, payload) {
  return new Promise((resolve, reject) => {
    const req = client.request(headers);
    const parts = [];
    req.on('data', (d) => parts.push(d));
    req.on('end', () => resolve(Buffer.concat(parts)));
    req.on('error', reject);
    req.end(payload);
  });
}

async function main() {
  const child = fork(__filename, process.argv.slice(2), { env: { ...process.env, H2REC_PEER_ROLE: 'server' } });
  const { port } = await new Promise((r) => child.once('message', r));
  if (flag === '--wait') {
    process.stdout.write('ready\n');
    await new Promise((r) => process.stdin.once('data', r));
  }
  const client = http2.connect(`https://127.0.0.1:${port}`, { rejectUnauthorized: false });
  if (flag === '--late') {
    await request(client, { ':path': '/file', 'x-session': 'before-recording' });
    process.stdout.write('ready\n');
    await new Promise((r) => process.stdin.once('data', r));
  }
  const got = await request(client, { ':path': '/file', 'x-session': 'before-recording' });
  await request(client, { ':path': '/upload', ':method': 'POST' }, crypto.randomBytes(65536));
  await new Promise((r) => client.close(r));
  child.disconnect();
  await new Promise((r) => child.once('exit', r));
  process.stdout.write(JSON.stringify({ serverPid: child.pid, clientPid: process.pid, sha256: crypto.createHash('sha256').update(got).digest('hex') }) + '\n');
}
main().catch((e) => {
  process.stderr.write(String(e && e.stack || e) + '\n');
  process.exit(1);
});
