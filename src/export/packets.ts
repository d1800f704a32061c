/**
 * Synthetic Ethernet + IPv4/IPv6 + TCP packets carrying decrypted bytes, and
 * exported-PDU (LINKTYPE_WIRESHARK_UPPER_PDU) packets naming the http2
 * dissector. Pure functions of their inputs.
 */
import net from 'node:net';

export interface Endpoint {
  /** 4 or 16 bytes */
  ip: Uint8Array;
  port: number;
}

export const TCP_SYN = 0x02;
export const TCP_ACK = 0x10;
export const TCP_PSH = 0x08;
export const TCP_FIN = 0x01;

function sum16(b: Uint8Array, acc = 0): number {
  for (let i = 0; i + 1 < b.length; i += 2) acc += (b[i] << 8) | b[i + 1];
  if (b.length & 1) acc += b[b.length - 1] << 8;
  return acc;
}

function fold(acc: number): number {
  while (acc > 0xffff) acc = (acc & 0xffff) + Math.floor(acc / 0x10000);
  return ~acc & 0xffff;
}

/**
 * Text address -> 4 or 16 octets; undefined when it is not an address. An
 * IPv4-mapped IPv6 address (::ffff:a.b.c.d) becomes plain IPv4, which is
 * what the kernel put on the wire for such a socket.
 */
export function ipFromString(text: string): Uint8Array | undefined {
  const s = text.replace(/%.*$/, ''); // a zone index names an interface, not part of the address
  const kind = net.isIP(s);
  if (kind === 4) return Uint8Array.from(s.split('.').map(Number));
  if (kind !== 6) return undefined;
  let head = s;
  let v4: number[] = [];
  const dotted = /:(\d+\.\d+\.\d+\.\d+)$/.exec(s);
  if (dotted) {
    v4 = dotted[1].split('.').map(Number);
    head = s.slice(0, dotted.index + 1) + '0:0';
  }
  const [l, r] = head.includes('::') ? head.split('::') : [head, undefined];
  const left = l ? l.split(':') : [];
  const right = r ? r.split(':') : [];
  const groups = r === undefined ? left : [...left, ...Array<string>(8 - left.length - right.length).fill('0'), ...right];
  const out = new Uint8Array(16);
  groups.forEach((g, i) => {
    const n = parseInt(g || '0', 16);
    out[i * 2] = n >> 8;
    out[i * 2 + 1] = n & 0xff;
  });
  if (v4.length) out.set(v4, 12);
  const mapped = out.subarray(0, 10).every((b) => b === 0) && out[10] === 0xff && out[11] === 0xff;
  return mapped ? out.slice(12) : out;
}

export function ipToString(ip: Uint8Array): string {
  if (ip.byteLength === 4) return Array.from(ip).join('.');
  const g: string[] = [];
  for (let i = 0; i < 16; i += 2) g.push(((ip[i] << 8) | ip[i + 1]).toString(16));
  return g.join(':').replace(/(^|:)0(:0)+(:|$)/, '::').replace(/:{3,}/, '::');
}

/** RFC 1071 one's-complement sum of 16-bit words, folded and inverted. */
export function internetChecksum(...parts: Uint8Array[]): number {
  let acc = 0;
  for (const p of parts) acc = sum16(p, acc);
  return fold(acc);
}

/** One TCP segment in an Ethernet frame; checksums computed as a real stack would. */
export function tcpPacket(src: Endpoint, dst: Endpoint, seq: number, ack: number, flags: number, payload: Uint8Array): Buffer {
  const v6 = src.ip.byteLength === 16;
  const tcpLen = 20 + payload.byteLength;
  const ipLen = v6 ? 40 : 20;
  const out = Buffer.alloc(14 + ipLen + tcpLen);
  // Ethernet: locally administered MACs; the type says which IP follows.
  out.set([0x02, 0, 0, 0, 0, 2, 0x02, 0, 0, 0, 0, 1], 0);
  out.writeUInt16BE(v6 ? 0x86dd : 0x0800, 12);
  const ip = out.subarray(14, 14 + ipLen);
  if (v6) {
    ip[0] = 0x60;
    ip.writeUInt16BE(tcpLen, 4);
    ip[6] = 6;
    ip[7] = 64;
    ip.set(src.ip, 8);
    ip.set(dst.ip, 24);
  } else {
    ip[0] = 0x45;
    ip.writeUInt16BE(ipLen + tcpLen, 2);
    ip.writeUInt16BE(0x4000, 6); // DF
    ip[8] = 64;
    ip[9] = 6;
    ip.set(src.ip, 12);
    ip.set(dst.ip, 16);
    ip.writeUInt16BE(fold(sum16(ip)), 10);
  }
  const tcp = out.subarray(14 + ipLen);
  tcp.writeUInt16BE(src.port, 0);
  tcp.writeUInt16BE(dst.port, 2);
  tcp.writeUInt32BE(seq >>> 0, 4);
  tcp.writeUInt32BE(ack >>> 0, 8);
  tcp[12] = 5 << 4;
  tcp[13] = flags;
  tcp.writeUInt16BE(65535, 14);
  tcp.set(payload, 20);
  const pseudo = Buffer.alloc(v6 ? 40 : 12);
  if (v6) {
    pseudo.set(src.ip, 0);
    pseudo.set(dst.ip, 16);
    pseudo.writeUInt32BE(tcpLen, 32);
    pseudo[39] = 6;
  } else {
    pseudo.set(src.ip, 0);
    pseudo.set(dst.ip, 4);
    pseudo[9] = 6;
    pseudo.writeUInt16BE(tcpLen, 10);
  }
  tcp.writeUInt16BE(fold(sum16(tcp, sum16(pseudo))), 16);
  return out;
}

function tlv(tag: number, value: Uint8Array): Buffer {
  const h = Buffer.alloc(4);
  h.writeUInt16BE(tag, 0);
  h.writeUInt16BE(value.byteLength, 2);
  return Buffer.concat([h, Buffer.from(value)]);
}

const u32be = (n: number): Buffer => {
  const b = Buffer.alloc(4);
  b.writeUInt32BE(n >>> 0, 0);
  return b;
};

/**
 * Exported PDU: big-endian TLVs naming the dissector and the addresses, then
 * whole HTTP/2 frames. Each direction has its own address/port pair so
 * Wireshark keeps one HPACK context per direction. `dissector` is 'http' for
 * HTTP/1 messages.
 */
export function pduPacket(src: Endpoint, dst: Endpoint, frames: Uint8Array, dissector = 'http2'): Buffer {
  const v6 = src.ip.byteLength === 16;
  // NUL-terminated, NUL-padded to a multiple of 4
  const name = Buffer.alloc((dissector.length + 4) & ~3);
  name.write(dissector, 'latin1');
  return Buffer.concat([
    tlv(12, name),
    tlv(v6 ? 22 : 20, src.ip),
    tlv(v6 ? 23 : 21, dst.ip),
    tlv(24, u32be(2)), // port type: TCP
    tlv(25, u32be(src.port)),
    tlv(26, u32be(dst.port)),
    tlv(0, new Uint8Array(0)),
    Buffer.from(frames),
  ]);
}
