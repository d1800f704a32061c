/**
 * Parses `nghttp -v` output (nghttp2 src/app_helper.cc) into the frames the
 * client sent and received: the ground truth the analyzer is compared with.
 */
export interface NghttpFrame {
  dir: 'send' | 'recv';
  type: string;
  length: number;
  flags: number;
  stream: number;
  headers: [string, string][];
}

const FRAME = /^\[\s*\d+\.\d+\] (send|recv) (\S+) frame <length=(\d+), flags=0x([0-9a-f]+), stream_id=(\d+)>$/;
const RECV_HEADER = /^\[\s*\d+\.\d+\] recv \(stream_id=(\d+)\) (.*)$/;
const DETAIL = /^ {10}(.*)$/;

function splitHeader(line: string): [string, string] {
  // Pseudo-headers start with ':' so the separator is the first ': ' after position 1.
  const i = line.indexOf(': ', 1);
  return i < 0 ? [line, ''] : [line.slice(0, i), line.slice(i + 2)];
}

export function parseNghttpVerbose(text: string): NghttpFrame[] {
  const out: NghttpFrame[] = [];
  let pendingRecv: [string, string][] = [];
  let last: NghttpFrame | undefined;
  for (const line of text.split('\n')) {
    const f = FRAME.exec(line);
    if (f) {
      last = {
        dir: f[1] as 'send' | 'recv',
        type: f[2],
        length: Number(f[3]),
        flags: parseInt(f[4], 16),
        stream: Number(f[5]),
        headers: [],
      };
      // nghttp prints received header fields before the frame that carried them.
      if (last.dir === 'recv' && (last.type === 'HEADERS' || last.type === 'PUSH_PROMISE')) {
        last.headers = pendingRecv;
        pendingRecv = [];
      }
      out.push(last);
      continue;
    }
    const h = RECV_HEADER.exec(line);
    if (h) {
      pendingRecv.push(splitHeader(h[2]));
      continue;
    }
    const d = DETAIL.exec(line);
    if (d && last && last.dir === 'send' && (last.type === 'HEADERS' || last.type === 'PUSH_PROMISE')) {
      const s = d[1];
      if (s.startsWith(';') || s.startsWith('(') || s.startsWith('[')) continue;
      last.headers.push(splitHeader(s));
      continue;
    }
    if (!d) last = undefined;
  }
  return out;
}
