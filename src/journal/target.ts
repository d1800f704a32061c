/**
 * Where `record -o PATH` may write: the checks every output gets
 * (fsutil.checkOutputTarget: a regular file, replaced only with --force),
 * plus one of its own: never a journal another recorder is still writing.
 */
import fs from 'node:fs';
import { UsageError } from '../errors';
import { checkOutputTarget, commitTemp } from '../fsutil';
import { liveRecorder } from './owner';
import { salvagePath } from './salvage';

export function checkJournalTarget(path: string, host: string, overwrite: boolean): void {
  if (fs.lstatSync(path, { throwIfNoEntry: false })?.isFile()) {
    const live = liveRecorder(path, host);
    if (live) throw new UsageError(`${path} is being recorded by pid ${live.pid}; stop that recorder first or choose another output`);
  }
  checkOutputTarget(path, { force: overwrite });
}

/**
 * Moves the initialised journal `tmp` to `path`. A replaced journal's
 * -wal/-shm/-salvage go first: SQLite would replay a stale -wal into the new file.
 */
export function placeJournal(tmp: string, path: string, overwrite: boolean): void {
  if (overwrite && fs.lstatSync(path, { throwIfNoEntry: false })?.isFile()) {
    for (const side of [`${path}-wal`, `${path}-shm`, salvagePath(path)]) {
      const s = fs.lstatSync(side, { throwIfNoEntry: false });
      if (s?.isFile() || s?.isSymbolicLink()) fs.unlinkSync(side);
    }
  }
  commitTemp(tmp, path, { force: overwrite });
}
