/**
 * Values that flow between the analyzer stages:
 *   journal rows -> JournalRecord (decoded, ordered)
 *   -> StreamEvent (byte streams per conn+dir, with explicit gaps)
 *   -> frames / messages -> reporters (text, JSON, summary, pcapng, HAR)
 * Every stage is a generator over these values; nothing here does I/O.
 */

// The record layer's values, re-exported for the stages above it.
export type { Dir, ConnKey, SockInfo, JournalRecord, DataRecord, SkipRecord, CloseRecord, SockRecord } from '../record/types';
import type { ConnKey, DataRecord, Dir, SockInfo } from '../record/types';

/** Connection metadata assembled while streaming (stage 3). */
export interface ConnInfo {
  /** analyzer-assigned id, 1-based, in order of first appearance by ktime */
  id: number;
  key: ConnKey;
  pid: number;
  comm: string;
  tids: number[];
  sock?: SockInfo;
  lib: DataRecord['lib'];
  firstKtime: bigint;
}

/** Output of the byte-stream stage (stage 3). */
export type StreamEvent =
  | { kind: 'conn'; conn: ConnInfo }
  | {
      kind: 'bytes';
      conn: ConnInfo;
      dir: Dir;
      /** position of data[0] in the (conn, dir) byte stream */
      pos: bigint;
      data: Uint8Array;
      ktime: bigint;
      tid: number;
    }
  | {
      kind: 'gap';
      conn: ConnInfo;
      dir: Dir;
      pos: bigint;
      length: bigint;
      /**
       * why: 'lost' (missing by position), 'truncated' (cap), 'start' (recording began mid-stream),
       * 'unrecorded' (the recording was interrupted: length 0 stands for an unknown number of bytes from pos on),
       * 'sendfile' / 'splice' (sent by the kernel from a file or pipe: not copied, known size)
       */
      reason: 'lost' | 'truncated' | 'start' | 'unrecorded' | 'sendfile' | 'splice' | 'uncopied';
      ktime: bigint;
    }
  | { kind: 'close'; conn: ConnInfo; ktime: bigint; endPos?: [bigint, bigint] };

export interface Diagnostic {
  kind: 'diagnostic';
  conn?: number;
  dir?: Dir;
  pos?: string;
  stream?: number;
  /** short machine code, e.g. 'FRAME_SIZE_ERROR', 'HPACK_DESYNC' */
  code: string;
  /** human text with the RFC section, e.g. 'RFC 9113 §6.1: DATA frames MUST be associated with a stream' */
  message: string;
  ktime?: bigint;
  /** the type of the frame the finding is about, where a later stage acts on it (INCOMPLETE_FRAME: HPACK knows a cut DATA frame cannot touch its table) */
  frameType?: number;
}

/** Defined in h2const.ts with the rest of the wire vocabulary; re-exported for the stages that import it from here. */
import { FrameType } from './h2const';
export { FrameType };

/**
 * Type-specific frame fields (RFC 9113 §6, RFC 7838, RFC 8336, RFC 9218),
 * named in camelCase, in the order the JSON output prints them. Each is
 * optional: a malformed frame keeps what could be parsed (and a Diagnostic
 * says what could not).
 */
/** Frames without fields of their own (CONTINUATION, unknown types): reading any name gives never. */
export type NoFields = { readonly [name: string]: never };
/** RFC 9113 §6.3 (also in HEADERS with the PRIORITY flag); weight is 1..256 as the RFC counts it */
export type PriorityFields = { exclusive?: boolean; dependency?: number; weight?: number };
export type DataFields = { padLength?: number };
/** `continuations`: set by the HPACK stage on a HEADERS/PUSH_PROMISE it merged with its CONTINUATIONs */
export type HeadersFields = { padLength?: number; continuations?: number } & PriorityFields;
export type RstStreamFields = { errorCode?: number; errorName?: string };
/** [identifier, value] in wire order */
export type SettingsFields = { settings?: [number, number][] };
export type PushPromiseFields = { padLength?: number; promisedStreamId?: number; continuations?: number };
/** the 8 opaque octets as hex */
export type PingFields = { opaqueData?: string };
/** debugData as latin1 */
export type GoawayFields = { lastStreamId?: number; errorCode?: number; errorName?: string; debugData?: string };
export type WindowUpdateFields = { windowSizeIncrement?: number };
export type AltsvcFields = { origin?: string; fieldValue?: string };
export type OriginFields = { origins?: string[] };
export type PriorityUpdateFields = { prioritizedStreamId?: number; priorityFieldValue?: string };

/** The fields of each frame type we parse (nghttp2's nghttp2_frame union, keyed by type). */
export type FrameFieldsByType = {
  [FrameType.DATA]: DataFields;
  [FrameType.HEADERS]: HeadersFields;
  [FrameType.PRIORITY]: PriorityFields;
  [FrameType.RST_STREAM]: RstStreamFields;
  [FrameType.SETTINGS]: SettingsFields;
  [FrameType.PUSH_PROMISE]: PushPromiseFields;
  [FrameType.PING]: PingFields;
  [FrameType.GOAWAY]: GoawayFields;
  [FrameType.WINDOW_UPDATE]: WindowUpdateFields;
  [FrameType.CONTINUATION]: NoFields;
  [FrameType.ALTSVC]: AltsvcFields;
  [FrameType.ORIGIN]: OriginFields;
  [FrameType.PRIORITY_UPDATE]: PriorityUpdateFields;
};
export type KnownFrameType = keyof FrameFieldsByType;
/** Any frame's fields, as a reporter that prints them all sees them. */
export type FrameFields = FrameFieldsByType[KnownFrameType];

/** What every frame has, whatever its type. */
interface FrameHead {
  kind: 'frame';
  conn: ConnInfo;
  dir: Dir;
  /** stream position of the frame's first header byte */
  pos: bigint;
  /** ktime / tid of the TLS call that delivered the frame's last byte */
  ktime: bigint;
  tid: number;
  /** RFC name, or 'UNKNOWN(0xNN)' */
  typeName: string;
  /** the 24-bit length field of the frame header */
  length: number;
  flags: number;
  flagNames: string[];
  stream: number;
  /** DATA payload without padding; header block fragment for header frames */
  payload: Uint8Array;
  /** the frame exactly as on the wire, header included (exporters copy it verbatim) */
  raw?: Uint8Array;
  /** set by the HPACK stage on the frame that completes a header block */
  headers?: HeaderField[];
}

/** A frame of a type we parse: `fields` is that type's (a union of types gives the union of their frames). */
export type FrameOf<T extends KnownFrameType> = T extends KnownFrameType ? FrameHead & { type: T; fields: FrameFieldsByType[T] } : never;
/** 0 .. N-1 as a union of literals. */
type Below<N extends number, Acc extends number[] = []> = Acc['length'] extends N ? Acc[number] : Below<N, [...Acc, Acc['length']]>;
/**
 * The type octet of a frame we do not parse, as literals (RFC 9113 §4.1: 8 bits):
 * so comparing `f.type` with a known type narrows `Frame` to that type's member.
 */
export type UnknownFrameType = Exclude<Below<256>, KnownFrameType>;
/** A frame of a type we do not know (RFC 9113 §5.5: ignored, shown with its header only). */
export type UnknownFrame = FrameHead & { type: UnknownFrameType; fields: NoFields };

/**
 * One HTTP/2 frame as parsed from a (conn, dir) byte stream (stage 5 output),
 * a union discriminated by `type`: after `f.type === FrameType.GOAWAY` (or a
 * `case` of a switch on it) `f.fields` has GOAWAY's fields. For
 * HEADERS/PUSH_PROMISE/CONTINUATION, `payload` is the header block fragment
 * with padding and priority fields already stripped.
 */
export type Frame = FrameOf<KnownFrameType> | UnknownFrame;

/**
 * The slot of a HeaderField shared by every reference to one HPACK table
 * entry (hpack.ts): null until a reporter keeps there what it made of the
 * field (json.ts: its encoded `["name","value"]`); absent on other fields.
 */
export const FIELD_CACHE: unique symbol = Symbol('h2rec.fieldCache');

/** A decoded header list, attached to the frame that completed the block (stage 6 output). */
export interface HeaderField {
  name: string;
  value: string;
  /** RFC 7541 §6.2.3 never-indexed literal */
  neverIndex?: boolean;
  /** set when the field referenced a dynamic-table entry we could not know (mid-connection start / desync) */
  unknown?: boolean;
}

export type Protocol = 'h2' | 'http1' | 'opaque';

/** Output of the frame stage (stage 5): frames, findings, and the stream events they sit between. */
export type FrameEvent =
  | Frame
  | Diagnostic
  | Extract<StreamEvent, { kind: 'conn' | 'gap' | 'close' }>
  | { kind: 'protocol'; conn: ConnInfo; dir: Dir; protocol: Protocol; pos: bigint; ktime: bigint; note: string }
  | Http1Head
  | Http1Body
  | Http1End
  | Http1Wire
  | { kind: 'opaque'; conn: ConnInfo; dir: Dir; pos: bigint; length: number; ktime: bigint };

/**
 * How an HTTP/1 message's body is delimited (RFC 9112 §6.3): none (HEAD, 1xx,
 * 204, 304, a request without framing headers), by Content-Length, by the
 * chunked coding, by the connection's close (responses only), or not at all
 * because the connection becomes a tunnel (CONNECT 2xx, 101) or HTTP/2 (h2c).
 */
export type Http1BodyMode = 'none' | 'length' | 'chunked' | 'close' | 'tunnel' | 'h2';

/** An HTTP/1 message head (start line and header section), at the empty line that ends it. */
export interface Http1Head {
  kind: 'http1';
  conn: ConnInfo;
  dir: Dir;
  /** stream position of the start line's first byte */
  pos: bigint;
  ktime: bigint;
  tid: number;
  startLine: string;
  headers: [string, string][];
  message: 'request' | 'response';
  /**
   * exchange number on the connection: the nth request is n; a response carries its
   * request's number (0: no request seen, e.g. the recording began mid-connection)
   */
  seq: number;
  bodyMode: Http1BodyMode;
  /** Content-Length, when it delimits the body */
  contentLength?: number;
  /** head octets on the wire, start line to the empty line */
  headBytes: number;
  /** a 1xx response: another response to the same request follows */
  informational?: boolean;
}

/** Body octets of an HTTP/1 message (chunk framing removed), a view like a DATA payload. */
export interface Http1Body {
  kind: 'http1-body';
  conn: ConnInfo;
  dir: Dir;
  pos: bigint;
  ktime: bigint;
  tid: number;
  seq: number;
  message: 'request' | 'response';
  payload: Uint8Array;
}

/** The end of an HTTP/1 message: body length, trailers, and whether it ended as its framing says. */
export interface Http1End {
  kind: 'http1-end';
  conn: ConnInfo;
  dir: Dir;
  /** stream position just past the message */
  pos: bigint;
  ktime: bigint;
  tid: number;
  seq: number;
  message: 'request' | 'response';
  informational?: boolean;
  bodyMode: Http1BodyMode;
  /** body octets seen (decoded from chunks; gaps excluded) */
  bodyBytes: number;
  /** trailer fields after the last chunk (RFC 9112 §7.1.2) */
  trailers: [string, string][];
  /** false: cut by a gap, the connection's end or malformed framing */
  complete: boolean;
  /** body octets lost to gaps */
  lostBytes?: number;
}

/**
 * HTTP/1 octets exactly as on the wire, in order, once each (heads, chunk
 * framing, bodies; `http: false` for tunnel bytes and unparseable runs):
 * what the pcapng exporter copies. Reporters ignore it.
 */
export interface Http1Wire {
  kind: 'http1-wire';
  conn: ConnInfo;
  dir: Dir;
  pos: bigint;
  ktime: bigint;
  tid: number;
  data: Uint8Array;
  http: boolean;
  /** the last octet of an HTTP/1 message: a packet boundary for exporters */
  messageEnd?: boolean;
}
