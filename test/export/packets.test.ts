import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { spawnSync } from 'node:child_process';
import fc from 'fast-check';
import { internetChecksum, ipFromString, ipToString, pduPacket, tcpPacket, TCP_ACK, TCP_PSH, TCP_SYN } from '../../src/export/packets';
import { epb, idb, shb, LINKTYPE_ETHERNET } from '../../src/export/pcapng';

const v4a = { ip: Uint8Array.of(10, 200, 0, 1), port: 40001 };
const v4b = { ip: Uint8Array.of(10, 201, 0, 1), port: 8443 };
const v6a = { ip: ipFromString('fd00::1')!, port: 50000 };
const v6b = { ip: ipFromString('fd00::2')!, port: 443 };

test('addresses: IPv4, IPv6 with ::, IPv4-mapped IPv6 as IPv4, zone index dropped, junk refused', () => {
  assert.deepEqual([...ipFromString('127.0.0.1')!], [127, 0, 0, 1]);
  assert.deepEqual([...ipFromString('::1')!], [...Array(15).fill(0), 1]);
  assert.deepEqual([...ipFromString('fe80::1:2%eth0')!], [0xfe, 0x80, ...Array(10).fill(0), 0, 1, 0, 2]);
  assert.deepEqual([...ipFromString('2001:db8:0:0:1:0:0:1')!], [0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 1]);
  assert.deepEqual([...ipFromString('::ffff:192.0.2.7')!], [192, 0, 2, 7]);
  assert.equal(ipFromString('999.1.1.1'), undefined);
  assert.equal(ipFromString(''), undefined);
  assert.equal(ipToString(Uint8Array.of(1, 2, 3, 4)), '1.2.3.4');
  assert.equal(ipToString(ipFromString('fd00::2')!), 'fd00::2');
  fc.assert(
    fc.property(fc.ipV6(), (s) => {
      const b = ipFromString(s)!;
      // Round trip through text: the same 16 (or mapped 4) octets.
      assert.deepEqual([...ipFromString(ipToString(b))!], [...b]);
    }),
  );
});

test('an IPv4 TCP segment: header fields as a stack writes them, both checksums verify to zero', () => {
  const payload = Buffer.from('hello, world!'); // odd length: the checksum pads with a zero octet
  const p = tcpPacket(v4a, v4b, 0x10000001, 0x20000001, TCP_ACK | TCP_PSH, payload);
  assert.equal(p.length, 14 + 20 + 20 + payload.length);
  assert.equal(p.readUInt16BE(12), 0x0800);
  const ip = p.subarray(14, 34);
  assert.equal(ip[0], 0x45);
  assert.equal(ip.readUInt16BE(2), 20 + 20 + payload.length);
  assert.equal(ip[9], 6);
  assert.deepEqual([...ip.subarray(12, 16)], [10, 200, 0, 1]);
  assert.deepEqual([...ip.subarray(16, 20)], [10, 201, 0, 1]);
  assert.equal(internetChecksum(ip), 0, 'RFC 791 header checksum');
  const tcp = p.subarray(34);
  assert.equal(tcp.readUInt16BE(0), 40001);
  assert.equal(tcp.readUInt16BE(2), 8443);
  assert.equal(tcp.readUInt32BE(4), 0x10000001);
  assert.equal(tcp.readUInt32BE(8), 0x20000001);
  assert.equal(tcp[12] >> 4, 5);
  assert.equal(tcp[13], TCP_ACK | TCP_PSH);
  const pseudo = Buffer.alloc(12);
  pseudo.set(ip.subarray(12, 20), 0);
  pseudo[9] = 6;
  pseudo.writeUInt16BE(tcp.length, 10);
  assert.equal(internetChecksum(pseudo, tcp), 0, 'RFC 9293 §3.1 checksum over the pseudo-header');
  assert.deepEqual(tcp.subarray(20), payload);
});

test('an IPv6 TCP segment: next header 6, payload length, checksum over the IPv6 pseudo-header', () => {
  const p = tcpPacket(v6a, v6b, 1, 2, TCP_SYN, new Uint8Array(0));
  assert.equal(p.readUInt16BE(12), 0x86dd);
  const ip = p.subarray(14, 54);
  assert.equal(ip[0] >> 4, 6);
  assert.equal(ip.readUInt16BE(4), 20);
  assert.equal(ip[6], 6);
  const tcp = p.subarray(54);
  const pseudo = Buffer.alloc(40);
  pseudo.set(ip.subarray(8, 40), 0);
  pseudo.writeUInt32BE(tcp.length, 32);
  pseudo[39] = 6;
  assert.equal(internetChecksum(pseudo, tcp), 0);
});

test('sequence numbers wrap modulo 2^32', () => {
  const p = tcpPacket(v4a, v4b, 2 ** 32 + 5, 2 ** 33 + 7, TCP_ACK, new Uint8Array(1));
  assert.equal(p.readUInt32BE(34 + 4), 5);
  assert.equal(p.readUInt32BE(34 + 8), 7);
});

test('tshark validates our IP and TCP checksums as good (v4 and v6, odd and even lengths)', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'h2rec-packets-'));
  const file = path.join(dir, 'c.pcapng');
  const pkts = [
    tcpPacket(v4a, v4b, 100, 0, TCP_SYN, new Uint8Array(0)),
    tcpPacket(v4a, v4b, 101, 1, TCP_ACK | TCP_PSH, Buffer.from('odd')),
    tcpPacket(v4b, v4a, 1, 104, TCP_ACK | TCP_PSH, Buffer.alloc(1400, 0xff)),
    tcpPacket(v6a, v6b, 7, 9, TCP_ACK | TCP_PSH, Buffer.from('seven')),
  ];
  fs.writeFileSync(file, Buffer.concat([shb('h2rec test', 'Linux'), idb(LINKTYPE_ETHERNET, 'x', 'y'), ...pkts.map((p, i) => epb(0, BigInt(i), p, 'outbound', []))]));
  const r = spawnSync('tshark', ['-r', file, '-o', 'ip.check_checksum:TRUE', '-o', 'tcp.check_checksum:TRUE', '-T', 'fields', '-e', 'ip.checksum.status', '-e', 'tcp.checksum.status'], { encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  const rows = r.stdout.trim().split('\n').map((l) => l.split('\t'));
  assert.equal(rows.length, 4);
  // Wireshark's checksum status: 0 bad, 1 good, 2 unverified; IPv6 has no header checksum.
  assert.deepEqual(rows, [['1', '1'], ['1', '1'], ['1', '1'], ['', '1']]);
});

test('an exported PDU: big-endian tags naming http2, the addresses, port type TCP, the ports, then the frames', () => {
  const frames = Buffer.from('000000040000000000', 'hex');
  const p = pduPacket(v4a, v4b, frames);
  const want = Buffer.concat([
    Buffer.from('000c0008', 'hex'), Buffer.from('http2\0\0\0', 'latin1'),
    Buffer.from('00140004', 'hex'), Buffer.from([10, 200, 0, 1]),
    Buffer.from('00150004', 'hex'), Buffer.from([10, 201, 0, 1]),
    Buffer.from('0018000400000002', 'hex'),
    Buffer.from('0019000400009c41', 'hex'),
    Buffer.from('001a0004000020fb', 'hex'),
    Buffer.from('00000000', 'hex'),
    frames,
  ]);
  assert.deepEqual(p, want);
  const p6 = pduPacket(v6a, v6b, frames);
  assert.equal(p6.readUInt16BE(12), 22, 'IPv6 source tag');
  assert.equal(p6.readUInt16BE(14), 16);
  assert.equal(p6.readUInt16BE(32), 23, 'IPv6 destination tag');
});
