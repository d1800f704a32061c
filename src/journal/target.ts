/**
 * Where `record -o PATH` may write. A journal is a regular file the recorder
 * creates: never a device, FIFO, socket or symlink target (`-o /dev/null
 * --force` once turned /dev/null into a file), never a journal another
 * recorder is still writing, and an existing journal only with --force.
 */
import fs from 'node:fs';
import nodePath from 'node:path';
import { EnvError, UsageError } from '../errors';
import { liveRecorder } from './owner';
import { salvagePath } from './salvage';

/** What lstat found, in words for one error line. */
export function fileKind(st: fs.Stats): string {
  if (st.isSymbolicLink()) return 'a symbolic link';
  if (st.isDirectory()) return 'a directory';
  if (st.isCharacterDevice()) return 'a character device';
  if (st.isBlockDevice()) return 'a block device';
  if (st.isFIFO()) return 'a FIFO';
  if (st.isSocket()) return 'a socket';
  return 'a regular file';
}

export function checkJournalTarget(path: string, host: string, overwrite: boolean): void {
  const dir = nodePath.dirname(path);
  if (!fs.statSync(dir, { throwIfNoEntry: false })?.isDirectory()) throw new UsageError(`cannot create ${path}: its directory does not exist`);
  const st = fs.lstatSync(path, { throwIfNoEntry: false });
  if (!st) return;
  if (!st.isFile()) throw new UsageError(`${path} is ${fileKind(st)}, not a journal file; choose another output`);
  const live = liveRecorder(path, host);
  if (live) throw new UsageError(`${path} is being recorded by pid ${live.pid}; stop that recorder first or choose another output`);
  if (!overwrite) throw new UsageError(`${path} already exists; choose another output or pass --force`);
}

/**
 * Moves the finished-to-initialise journal `tmp` to `path`. Without
 * overwrite, link(2) refuses a file that appeared since the check; with it,
 * the old journal's -wal/-shm/-salvage go first, since SQLite would replay a
 * stale -wal into the new file.
 */
export function placeJournal(tmp: string, path: string, overwrite: boolean): void {
  try {
    if (overwrite) {
      const st = fs.lstatSync(path, { throwIfNoEntry: false });
      if (st && !st.isFile()) throw new UsageError(`${path} is ${fileKind(st)}, not a journal file; choose another output`);
      for (const side of [`${path}-wal`, `${path}-shm`, salvagePath(path)]) {
        const s = fs.lstatSync(side, { throwIfNoEntry: false });
        if (s?.isFile() || s?.isSymbolicLink()) fs.unlinkSync(side);
      }
      fs.renameSync(tmp, path);
      return;
    }
    fs.linkSync(tmp, path);
    fs.unlinkSync(tmp);
  } catch (e) {
    if (e instanceof UsageError) throw e;
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'EEXIST') throw new UsageError(`${path} already exists; choose another output or pass --force`);
    throw new EnvError(`cannot create ${path}: ${code ?? (e as Error).message}`, { cause: e });
  }
}
