/**
 * The HTTP/2 wire vocabulary, defined once (nghttp2.h's enums): frame types,
 * flags, SETTINGS identifiers and error codes, each with its RFC name. Every
 * parser, reporter and exporter imports them from here; no other module
 * spells a type, flag, setting or error code as a bare number.
 */

/** RFC 9113 §6 frame types, plus the extensions we name. */
export const FrameType = {
  DATA: 0x0,
  HEADERS: 0x1,
  PRIORITY: 0x2,
  RST_STREAM: 0x3,
  SETTINGS: 0x4,
  PUSH_PROMISE: 0x5,
  PING: 0x6,
  GOAWAY: 0x7,
  WINDOW_UPDATE: 0x8,
  CONTINUATION: 0x9,
  ALTSVC: 0xa, // RFC 7838
  ORIGIN: 0xc, // RFC 8336
  PRIORITY_UPDATE: 0x10, // RFC 9218
} as const;

/** Frame type -> RFC name, for the types above. */
export const TYPE_NAMES: Record<number, string> = Object.fromEntries(Object.entries(FrameType).map(([name, t]) => [t, name]));

export function typeName(t: number): string {
  return TYPE_NAMES[t] ?? `UNKNOWN(0x${t.toString(16).padStart(2, '0')})`;
}

/** RFC 9113 §6 flag bits (ACK shares END_STREAM's bit: it is defined on SETTINGS and PING only). */
export const Flag = {
  END_STREAM: 0x1,
  ACK: 0x1,
  END_HEADERS: 0x4,
  PADDED: 0x8,
  PRIORITY: 0x20,
} as const;

/** Flag bits per type, in nghttp's print order (nghttp2 src/app_helper.cc). */
export const FLAG_DEFS: Record<number, readonly (readonly [number, string])[]> = {
  [FrameType.DATA]: [[Flag.END_STREAM, 'END_STREAM'], [Flag.PADDED, 'PADDED']],
  [FrameType.HEADERS]: [[Flag.END_STREAM, 'END_STREAM'], [Flag.END_HEADERS, 'END_HEADERS'], [Flag.PADDED, 'PADDED'], [Flag.PRIORITY, 'PRIORITY']],
  [FrameType.SETTINGS]: [[Flag.ACK, 'ACK']],
  [FrameType.PUSH_PROMISE]: [[Flag.END_HEADERS, 'END_HEADERS'], [Flag.PADDED, 'PADDED']],
  [FrameType.PING]: [[Flag.ACK, 'ACK']],
  [FrameType.CONTINUATION]: [[Flag.END_HEADERS, 'END_HEADERS']],
};

const NO_FLAGS: readonly (readonly [number, string])[] = [];

/** The defined flags of a frame type. */
export const flagDefs = (type: number): readonly (readonly [number, string])[] => FLAG_DEFS[type] ?? NO_FLAGS;

/**
 * The names for each (type, flags) of the wire, made once: every frame of a
 * kind shares its array (a per-frame array was a visible share of the
 * frame-heavy run's garbage). Callers never change the array.
 */
const FLAG_NAMES: (string[] | undefined)[] = new Array(256 * 256);

export function flagNames(type: number, flags: number): string[] {
  const wire = type >= 0 && type < 256 && flags >= 0 && flags < 256 && Number.isInteger(type) && Number.isInteger(flags);
  const key = type * 256 + flags;
  const known = wire ? FLAG_NAMES[key] : undefined;
  if (known) return known;
  const out: string[] = [];
  for (const [bit, name] of flagDefs(type)) if (flags & bit) out.push(name);
  if (wire) FLAG_NAMES[key] = out;
  return out;
}

/** RFC 9113 §6.5.2 SETTINGS identifiers, plus RFC 8441 and RFC 9218. */
export const SettingsId = {
  HEADER_TABLE_SIZE: 0x1,
  ENABLE_PUSH: 0x2,
  MAX_CONCURRENT_STREAMS: 0x3,
  INITIAL_WINDOW_SIZE: 0x4,
  MAX_FRAME_SIZE: 0x5,
  MAX_HEADER_LIST_SIZE: 0x6,
  ENABLE_CONNECT_PROTOCOL: 0x8, // RFC 8441
  NO_RFC7540_PRIORITIES: 0x9, // RFC 9218
} as const;

/** SETTINGS identifier -> 'SETTINGS_' + its RFC name. */
export const SETTINGS_NAMES: Record<number, string> = Object.fromEntries(Object.entries(SettingsId).map(([name, id]) => [id, `SETTINGS_${name}`]));

/** RFC 9113 §7 error codes. */
export const ErrorCode = {
  NO_ERROR: 0x0,
  PROTOCOL_ERROR: 0x1,
  INTERNAL_ERROR: 0x2,
  FLOW_CONTROL_ERROR: 0x3,
  SETTINGS_TIMEOUT: 0x4,
  STREAM_CLOSED: 0x5,
  FRAME_SIZE_ERROR: 0x6,
  REFUSED_STREAM: 0x7,
  CANCEL: 0x8,
  COMPRESSION_ERROR: 0x9,
  CONNECT_ERROR: 0xa,
  ENHANCE_YOUR_CALM: 0xb,
  INADEQUATE_SECURITY: 0xc,
  HTTP_1_1_REQUIRED: 0xd,
} as const;

/** Error code -> RFC name. */
export const ERROR_NAMES: Record<number, string> = Object.fromEntries(Object.entries(ErrorCode).map(([name, c]) => [c, name]));

export function errorName(code: number): string {
  return ERROR_NAMES[code] ?? 'UNKNOWN';
}
