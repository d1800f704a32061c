/**
 * Files holding decrypted data: created fresh with mode 0600 whatever the
 * umask, never through a planted symlink or into another user's inode, and
 * never in place of something that is not ours to replace.
 *
 * Outputs (pcapng, HAR, body files) go through createOutput(): the target is
 * checked (checkOutputTarget), the bytes go to a temporary file beside it,
 * and only a complete file is renamed into place. A failure leaves whatever
 * was there before, byte for byte and inode for inode.
 */
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { EnvError, UsageError } from './errors';

export interface OutputOptions {
  /** replace an existing regular file (never anything else) */
  force?: boolean;
  /**
   * Files the command reads (the journal): an output may never be one of
   * them, nor their SQLite side files (-wal, -shm) or the recorder's -salvage.
   */
  inputs?: readonly string[];
}

/** Side files of a journal that writing over would destroy evidence or corrupt it. */
const INPUT_SUFFIXES = ['', '-wal', '-shm', '-salvage'];

const O_NEW = fs.constants.O_WRONLY | fs.constants.O_CREAT | fs.constants.O_EXCL | fs.constants.O_NOFOLLOW;

function kindOf(st: fs.Stats): string {
  if (st.isSymbolicLink()) return 'a symbolic link';
  if (st.isDirectory()) return 'a directory';
  if (st.isCharacterDevice() || st.isBlockDevice()) return 'a device';
  if (st.isFIFO()) return 'a FIFO';
  if (st.isSocket()) return 'a socket';
  return 'not a regular file';
}

/** The canonical path of `p` with its directory resolved (the file itself need not exist). */
function canonical(p: string): string {
  const dir = path.dirname(path.resolve(p));
  try {
    return path.join(fs.realpathSync(dir), path.basename(p));
  } catch {
    return path.resolve(p);
  }
}

/**
 * Refuses (UsageError, exit 2) a target that an output may not take:
 * anything but a regular file or nothing (a device, FIFO, socket, symlink,
 * directory), one of the inputs or their side files (same device and inode,
 * or the same path), an existing file without `force`, a missing directory.
 * Returns whether a regular file is there (to be replaced on commit).
 */
export function checkOutputTarget(file: string, opts: OutputOptions = {}): { exists: boolean } {
  let st: fs.Stats | undefined;
  try {
    st = fs.lstatSync(file, { throwIfNoEntry: false });
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'ENOTDIR') throw new UsageError(`cannot create ${file}: a component of its directory is not a directory`);
    throw new EnvError(`cannot create ${file}: ${code ?? (e as Error).message}`, { cause: e });
  }
  const target = canonical(file);
  for (const input of opts.inputs ?? []) {
    for (const suffix of INPUT_SUFFIXES) {
      const other = input + suffix;
      const ost = fs.statSync(other, { throwIfNoEntry: false });
      const same = (st && ost && st.dev === ost.dev && st.ino === ost.ino) || canonical(other) === target;
      if (same) throw new UsageError(`${file} is ${suffix ? `a side file of the input journal ${input}` : 'the input journal'}; choose another output`);
    }
  }
  if (st) {
    if (!st.isFile()) throw new UsageError(`${file} is ${kindOf(st)}; refusing to replace it (choose a regular file name)`);
    if (!opts.force) throw new UsageError(`${file} already exists; pass --force to replace it`);
    return { exists: true };
  }
  const dir = path.dirname(file);
  const dst = fs.statSync(dir, { throwIfNoEntry: false });
  if (!dst) throw new UsageError(`cannot create ${file}: its directory does not exist`);
  if (!dst.isDirectory()) throw new UsageError(`cannot create ${file}: ${dir} is not a directory`);
  return { exists: false };
}

function envError(what: string, file: string, e: unknown): EnvError {
  const err = e as NodeJS.ErrnoException;
  return new EnvError(`cannot ${what} ${file}: ${err.code ?? err.message}`, { cause: e });
}

/**
 * A new private temporary file beside `file` (same directory, so the final
 * rename is atomic): `.NAME.h2rec-tmp-PID-RAND`, O_EXCL|O_NOFOLLOW, 0600.
 */
export function createTemp(file: string): { tmp: string; fd: number } {
  const dir = path.dirname(file);
  const base = path.basename(file).slice(0, 180);
  for (let attempt = 0; ; attempt++) {
    const tmp = path.join(dir, `.${base}.h2rec-tmp-${process.pid}-${crypto.randomBytes(6).toString('hex')}`);
    try {
      const fd = fs.openSync(tmp, O_NEW, 0o600);
      fs.fchmodSync(fd, 0o600); // whatever the umask
      return { tmp, fd };
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      if (code === 'EEXIST' && attempt < 8) continue;
      if (code === 'ENOENT') throw new UsageError(`cannot create ${file}: its directory does not exist`);
      throw envError('create', file, e);
    }
  }
}

/**
 * Puts a complete temporary file in place of `file`, after checking the
 * target again (it may have changed while we wrote). Without `force` the
 * link(2) fails if anything appeared meanwhile: never a silent replacement.
 */
export function commitTemp(tmp: string, file: string, opts: OutputOptions = {}): void {
  try {
    const { exists } = checkOutputTarget(file, opts);
    try {
      if (exists) fs.renameSync(tmp, file);
      else {
        fs.linkSync(tmp, file);
        fs.unlinkSync(tmp);
      }
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'EEXIST') throw new UsageError(`${file} already exists; pass --force to replace it`);
      throw envError('create', file, e);
    }
  } catch (e) {
    fs.rmSync(tmp, { force: true });
    throw e;
  }
}

/** An output being written: bytes go to a temporary file until commit(). */
export interface Output {
  readonly path: string;
  /** octets written so far */
  readonly bytes: number;
  write(b: Uint8Array): void;
  /** flushes to disk, then renames the complete file into place */
  commit(): void;
  /** after a failure: removes the temporary file; whatever `path` held stays */
  discard(): void;
}

/**
 * Opens an output: checks the target now (UsageError for a bad one), writes
 * into a temporary file, and replaces the target only on commit().
 */
export function createOutput(file: string, opts: OutputOptions = {}): Output {
  checkOutputTarget(file, opts);
  const { tmp, fd: fd0 } = createTemp(file);
  let fd = fd0;
  let bytes = 0;
  const close = (): void => {
    if (fd < 0) return;
    const f = fd;
    fd = -1;
    fs.closeSync(f);
  };
  return {
    path: file,
    get bytes() {
      return bytes;
    },
    write(b: Uint8Array): void {
      if (fd < 0) throw new Error(`write to ${file} after commit or discard`);
      let o = 0;
      try {
        while (o < b.byteLength) o += fs.writeSync(fd, b, o, b.byteLength - o);
      } catch (e) {
        throw envError('write', file, e);
      }
      bytes += b.byteLength;
    },
    commit(): void {
      try {
        // On disk before the rename: a crash then leaves the old file or the whole new one.
        fs.fdatasyncSync(fd);
        close();
      } catch (e) {
        this.discard();
        throw envError('write', file, e);
      }
      commitTemp(tmp, file, opts);
    },
    discard(): void {
      try {
        close();
      } catch {
        // already unusable; removing it is what matters
      }
      fs.rmSync(tmp, { force: true });
    },
  };
}

/**
 * Opens `path` for writing as a new file we own (the journal, the salvage
 * file). With `overwrite`, an existing regular file is unlinked first; a
 * symlink, device, FIFO, socket or directory is refused, never removed.
 * O_CREAT|O_EXCL|O_NOFOLLOW then refuses anything that reappeared in between.
 */
export function openPrivate(file: string, overwrite: boolean): number {
  try {
    if (overwrite) {
      const st = fs.lstatSync(file, { throwIfNoEntry: false });
      if (st && !st.isFile()) throw new UsageError(`${file} is ${kindOf(st)}; refusing to replace it (choose a regular file name)`);
      if (st) fs.unlinkSync(file);
    }
    const fd = fs.openSync(file, O_NEW, 0o600);
    fs.fchmodSync(fd, 0o600);
    return fd;
  } catch (e) {
    if (e instanceof UsageError) throw e;
    const err = e as NodeJS.ErrnoException;
    if (err.code === 'EEXIST') throw new UsageError(`${file} already exists; pass --force to replace it`);
    if (err.code === 'ENOENT') throw new UsageError(`cannot create ${file}: its directory does not exist`);
    if (err.code === 'EISDIR') throw new UsageError(`cannot write ${file}: it is a directory`);
    // EACCES, EROFS, ENOSPC, EPERM ...: the environment refuses, as for any other output.
    throw new EnvError(`cannot create ${file}: ${err.code ?? err.message}`, { cause: e });
  }
}
