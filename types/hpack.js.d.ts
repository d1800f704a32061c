/**
 * Type declarations for hpack.js 2.1.6 (indutny), which ships none.
 * Only what h2rec uses: the RFC 7541 static table and Huffman code, and the
 * (de)compressor used as an independent oracle in tests.
 */
declare module 'hpack.js' {
  import type { Duplex } from 'node:stream';

  namespace hpack {
    interface Field {
      name: string;
      /** one JS char per octet (latin1); re-decode as UTF-8 */
      value: string;
      neverIndex: boolean;
    }

    interface TableOptions {
      /** protocol maximum (SETTINGS_HEADER_TABLE_SIZE); the README's `size` key is ignored */
      maxSize: number;
      lookupDepth?: number;
    }

    interface Decompressor extends Duplex {
      /** decodes everything written so far; errors go to `cb` or an 'error' event */
      execute(cb?: (err: Error | null) => void): void;
      updateTableSize(size: number): void;
      read(): Field | null;
    }

    interface CompressorField {
      name: string;
      /** one JS char per octet */
      value: string;
      neverIndex?: boolean;
      huffman?: boolean;
    }

    interface Compressor extends Duplex {
      /** encodes one header list; the block is then readable in one or more chunks */
      write(fields: CompressorField[]): boolean;
      read(): Buffer | null;
      updateTableSize(size: number): void;
      /** emits size updates 0 then the current size: the table is emptied */
      reset(): void;
    }

    const decompressor: { create(opts: { table: TableOptions }): Decompressor };
    const compressor: { create(opts: { table: TableOptions }): Compressor };
    const huffman: { encode: [number, number][]; decode: unknown[] };
  }
  export = hpack;
}

declare module 'hpack.js/lib/hpack/static-table' {
  export const table: { name: string; value: string; nameSize: number; totalSize: number }[];
}

declare module 'hpack.js/lib/hpack/huffman' {
  /** RFC 7541 Appendix B: [bit length, code] for symbols 0..256 (256 = EOS) */
  export const encode: [number, number][];
}
