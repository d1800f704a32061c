/**
 * Files holding decrypted data: created fresh with mode 0600 whatever the
 * umask, never through a planted symlink or into another user's inode.
 */
import fs from 'node:fs';
import { EnvError, UsageError } from './errors';

/**
 * Opens `path` for writing as a new file we own. With `overwrite`, an
 * existing entry is unlinked first (a symlink is removed, not followed), then
 * O_CREAT|O_EXCL refuses anything that reappeared in between.
 */
export function openPrivate(path: string, overwrite: boolean): number {
  try {
    if (overwrite) {
      const st = fs.lstatSync(path, { throwIfNoEntry: false });
      if (st?.isDirectory()) throw new UsageError(`cannot write ${path}: it is a directory`);
      if (st) fs.unlinkSync(path);
    }
    const fd = fs.openSync(path, fs.constants.O_WRONLY | fs.constants.O_CREAT | fs.constants.O_EXCL | fs.constants.O_NOFOLLOW, 0o600);
    fs.fchmodSync(fd, 0o600);
    return fd;
  } catch (e) {
    if (e instanceof UsageError) throw e;
    const err = e as NodeJS.ErrnoException;
    if (err.code === 'EEXIST') throw new UsageError(`${path} already exists; choose another output or pass --force`);
    if (err.code === 'ENOENT') throw new UsageError(`cannot create ${path}: its directory does not exist`);
    if (err.code === 'EISDIR') throw new UsageError(`cannot write ${path}: it is a directory`);
    // EACCES, EROFS, ENOSPC, EPERM ...: the environment refuses, as for any other output.
    throw new EnvError(`cannot create ${path}: ${err.code ?? err.message}`, { cause: e });
  }
}

/** Writes all of `data` to a new private file. */
export function writePrivateFile(path: string, data: Uint8Array, overwrite = true): void {
  const fd = openPrivate(path, overwrite);
  try {
    let o = 0;
    while (o < data.byteLength) o += fs.writeSync(fd, data, o, data.byteLength - o);
    fs.closeSync(fd);
  } catch (e) {
    fs.closeSync(fd);
    fs.rmSync(path, { force: true });
    throw new EnvError(`cannot write ${path}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`, { cause: e });
  }
}
