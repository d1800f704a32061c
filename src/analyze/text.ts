/**
 * Text reporter in the style of `nghttp -v` (nghttp2 src/app_helper.cc).
 * A pure function of events; state is only the clock origin and the last
 * connection printed.
 */
import type { ConnInfo, FrameEvent, Frame } from './types';
import { FrameType } from './types';
import { SETTINGS_NAMES, errorName } from './frames';

export interface TextOptions {
  time: 'rel' | 'abs';
  data: boolean;
  realtimeOffsetNs: bigint;
}

const IND = '          ';

export function connLine(c: ConnInfo): string {
  const addr = c.sock && c.sock.family ? `  ${c.sock.laddr}:${c.sock.lport} -> ${c.sock.raddr}:${c.sock.rport} (fd ${c.sock.fd})` : '  addresses unknown (memory BIO)';
  return `conn ${c.id}  pid ${c.pid} (${c.comm})  threads ${c.tids.join(',')}${addr}  ${c.lib}`;
}

function hex2(n: number): string {
  return '0x' + n.toString(16).padStart(2, '0');
}

export function frameLines(f: Frame): string[] {
  const out: string[] = [];
  out.push(`${f.dir} ${f.typeName} frame <length=${f.length}, flags=${hex2(f.flags)}, stream_id=${f.stream}>`);
  const fl = f.flagNames;
  if (fl.length) out.push(`${IND}; ${fl.join(' | ')}`);
  const x = f.fields;
  switch (f.type) {
    case FrameType.DATA:
      if (x.padLength !== undefined) out.push(`${IND}(padlen=${x.padLength})`);
      break;
    case FrameType.HEADERS: {
      const pad = (x.padLength as number | undefined) ?? 0;
      if (f.flags & 0x20) out.push(`${IND}(padlen=${pad}, dep_stream_id=${x.dependency}, weight=${x.weight}, exclusive=${x.exclusive ? 1 : 0})`);
      else out.push(`${IND}(padlen=${pad})`);
      break;
    }
    case FrameType.PRIORITY:
      out.push(`${IND}(dep_stream_id=${x.dependency}, weight=${x.weight}, exclusive=${x.exclusive ? 1 : 0})`);
      break;
    case FrameType.RST_STREAM:
      out.push(`${IND}(error_code=${errorName(x.errorCode as number)}(${hex2(x.errorCode as number)}))`);
      break;
    case FrameType.SETTINGS: {
      const s = (x.settings as [number, number][]) ?? [];
      out.push(`${IND}(niv=${s.length})`);
      for (const [id, v] of s) out.push(`${IND}[${SETTINGS_NAMES[id] ?? 'UNKNOWN'}(${hex2(id)}):${v}]`);
      break;
    }
    case FrameType.PUSH_PROMISE:
      out.push(`${IND}(padlen=${(x.padLength as number | undefined) ?? 0}, promised_stream_id=${x.promisedStreamId})`);
      break;
    case FrameType.PING:
      out.push(`${IND}(opaque_data=${x.opaqueData})`);
      break;
    case FrameType.GOAWAY: {
      const dd = (x.debugData as string) ?? '';
      out.push(`${IND}(last_stream_id=${x.lastStreamId}, error_code=${errorName(x.errorCode as number)}(${hex2(x.errorCode as number)}), opaque_data(${dd.length})=[${dd}])`);
      break;
    }
    case FrameType.WINDOW_UPDATE:
      out.push(`${IND}(window_size_increment=${x.windowSizeIncrement})`);
      break;
    case FrameType.ALTSVC:
      out.push(`${IND}(origin=${x.origin}, field_value=${x.fieldValue})`);
      break;
    case FrameType.ORIGIN:
      for (const o of (x.origins as string[]) ?? []) out.push(`${IND}[${o}]`);
      break;
    case FrameType.PRIORITY_UPDATE:
      out.push(`${IND}(prioritized_stream_id=${x.prioritizedStreamId}, priority_field_value=${x.priorityFieldValue})`);
      break;
    default:
      break;
  }
  for (const h of f.headers ?? []) out.push(`${IND}${h.name}: ${h.value}${h.unknown ? '   (dynamic-table entry unknown: recorded mid-connection or after a gap)' : ''}`);
  return out;
}

function preview(p: Uint8Array): string[] {
  const out: string[] = [];
  const n = Math.min(p.byteLength, 64);
  for (let i = 0; i < n; i += 16) {
    const row = p.subarray(i, Math.min(i + 16, n));
    const hex = Buffer.from(row).toString('hex').replace(/(..)/g, '$1 ').trimEnd();
    const asc = Array.from(row, (b) => (b >= 0x20 && b < 0x7f ? String.fromCharCode(b) : '.')).join('');
    out.push(`${IND}| ${hex.padEnd(47)}  ${asc}`);
  }
  if (p.byteLength > n) out.push(`${IND}| ... ${p.byteLength - n} more bytes`);
  return out;
}

export class TextReporter {
  private origin?: bigint;
  private lastConn = 0;
  constructor(private readonly opts: TextOptions) {}

  private stamp(ktime: bigint): string {
    if (this.opts.time === 'abs') {
      const ns = ktime + this.opts.realtimeOffsetNs;
      const ms = Number(ns / 1_000_000n);
      const us = String(Number(ns % 1_000_000n) / 1000 | 0).padStart(3, '0');
      return `[${new Date(ms).toISOString().replace('Z', '')}${us}]`;
    }
    if (this.origin === undefined) this.origin = ktime;
    const d = ktime - this.origin;
    const sec = d / 1_000_000_000n;
    const ms = (d % 1_000_000_000n) / 1_000_000n;
    return `[${String(sec).padStart(3, ' ')}.${String(ms).padStart(3, '0')}]`;
  }

  private switchTo(c: ConnInfo): string {
    if (this.lastConn === c.id) return '';
    this.lastConn = c.id;
    return `-- conn ${c.id} (${c.comm} ${c.pid}) --\n`;
  }

  /** Text for one event (possibly empty). */
  format(e: FrameEvent): string {
    switch (e.kind) {
      case 'conn':
        this.lastConn = e.conn.id;
        if (this.origin === undefined) this.origin = e.conn.firstKtime;
        return `${connLine(e.conn)}\n`;
      case 'frame': {
        const lines = frameLines(e);
        if (this.opts.data && e.type === FrameType.DATA) lines.push(...preview(e.payload));
        return this.switchTo(e.conn) + `${this.stamp(e.ktime)} ${lines.join('\n')}\n`;
      }
      case 'gap':
        return this.switchTo(e.conn) + `${this.stamp(e.ktime)} !! gap: conn ${e.conn.id} ${e.dir} pos=${e.pos} bytes=${e.length} (${e.reason})\n`;
      case 'diagnostic':
        return `${e.ktime !== undefined ? this.stamp(e.ktime) + ' ' : ''}!! ${e.code}: conn ${e.conn ?? '?'} ${e.dir ?? ''}${e.stream !== undefined ? ` stream ${e.stream}` : ''}${e.pos ? ` pos=${e.pos}` : ''}: ${e.message}\n`;
      case 'protocol':
        return `${this.stamp(e.ktime)} conn ${e.conn.id} ${e.dir}: ${e.protocol} (${e.note})\n`;
      case 'http1':
        return (
          this.switchTo(e.conn) +
          `${this.stamp(e.ktime)} ${e.dir} ${e.startLine}\n` +
          e.headers.map(([k, v]) => `${IND}${k}: ${v}\n`).join('')
        );
      case 'opaque':
        return this.switchTo(e.conn) + `${this.stamp(e.ktime)} ${e.dir} ${e.length} bytes (not HTTP)\n`;
      case 'close':
        return '';
      default:
        return '';
    }
  }
}
