/**
 * An independent, minimal HTTP/2 frame walker used as a test oracle for the
 * recorder: it concatenates DATA payloads (padding stripped) of a byte
 * stream, skipping the client preface. It deliberately shares no code with
 * src/analyze so a bug there cannot hide a recorder bug here.
 */
const PREFACE = Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n');

export function dataPayloads(chunks: Buffer[], stream?: number): Buffer[] {
  let buf = Buffer.concat(chunks);
  if (buf.subarray(0, PREFACE.length).equals(PREFACE)) buf = buf.subarray(PREFACE.length);
  const out: Buffer[] = [];
  let off = 0;
  while (off + 9 <= buf.length) {
    const len = buf.readUIntBE(off, 3);
    const type = buf[off + 3];
    const flags = buf[off + 4];
    const sid = buf.readUInt32BE(off + 5) & 0x7fffffff;
    if (off + 9 + len > buf.length) break;
    if (type === 0 && (stream === undefined || sid === stream)) {
      let p = buf.subarray(off + 9, off + 9 + len);
      if (flags & 0x8) p = p.subarray(1, p.length - p[0]);
      out.push(p);
    }
    off += 9 + len;
  }
  return out;
}
