/**
 * Writes a large synthetic salvage file beside a tiny killed journal, to
 * measure how the reader handles the largest salvage a loader can leave
 * (docs/RELIABILITY.md, "Salvage"):
 *   node build/test/reliability/make-salvage.js OUT.db SIZE_MIB [RECORD_BYTES]
 * Records of RECORD_BYTES payload (default 16 KiB) on 8 connections, in ring-buffer
 * order: by ktime, except that every 5th pair is swapped (per-CPU reservations).
 */
import fs from 'node:fs';
import { encodeRecord, MSG_RECORD } from '../../src/record/abi';
import { salvagePath } from '../../src/journal/salvage';
import { makeJournal, dataRec } from '../helpers/journal';
import { loaderMessage } from '../helpers/bytes';

export function makeSalvage(out: string, sizeMiB: number, recordBytes = 16384): number {
  makeJournal(out, [dataRec({ dir: 'send', ts: 1n, pos: 0n, data: Buffer.from('x') })], { incomplete: true });
  const fd = fs.openSync(salvagePath(out), 'w', 0o600);
  const payload = Buffer.alloc(recordBytes, 0x61);
  const one = encodeRecord(dataRec({ dir: 'send', ts: 0n, pos: 0n, data: payload })).byteLength + 8;
  const n = Math.floor((sizeMiB * 2 ** 20) / one);
  const batch: Buffer[] = [];
  const flush = (): void => {
    fs.writeSync(fd, Buffer.concat(batch));
    batch.length = 0;
  };
  for (let i = 0; i < n; i++) {
    const j = i % 5 === 0 && i + 1 < n ? i + 1 : i % 5 === 1 ? i - 1 : i;
    const conn = j % 8;
    const r = encodeRecord(dataRec({ dir: 'send', ptr: '0x' + (0x1000 + conn).toString(16), ts: BigInt(1000 + 10 * j), pos: BigInt(Math.floor(j / 8) * recordBytes) + (conn === 0 ? 1n : 0n), data: payload }));
    batch.push(loaderMessage(MSG_RECORD, r));
    if (batch.length >= 128) flush();
  }
  flush();
  fs.closeSync(fd);
  return n;
}

if (require.main === module) {
  const [out, size, rec] = process.argv.slice(2);
  const n = makeSalvage(out, Number(size), rec ? Number(rec) : undefined);
  console.log(`${salvagePath(out)}: ${n} records`);
}
