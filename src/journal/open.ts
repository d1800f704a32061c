import Database from 'better-sqlite3';
import { InputError } from '../errors';

/**
 * Opens a journal read-only. A recorder killed in the middle of a commit
 * leaves a hot rollback journal (JOURNAL-journal) that SQLite must roll back
 * before anyone reads; a read-only connection cannot (SQLITE_READONLY_ROLLBACK).
 * SQLite calls a journal hot only when no process holds the write lock, so
 * no recorder is writing: one read-write open rolls the half-written batch
 * back (every committed batch stays), then the journal is opened read-only.
 */
export function openReadOnly(path: string): Database.Database {
  const open = (): Database.Database => {
    const db = new Database(path, { readonly: true, fileMustExist: true });
    db.defaultSafeIntegers(true);
    return db;
  };
  const db = open();
  try {
    db.pragma('schema_version', { simple: true });
    return db;
  } catch (e) {
    db.close();
    if ((e as { code?: string }).code !== 'SQLITE_READONLY_ROLLBACK') throw e;
  }
  try {
    const rw = new Database(path, { fileMustExist: true });
    rw.pragma('schema_version', { simple: true });
    rw.close();
  } catch (e) {
    throw new InputError(`${path} holds a batch half-written by a killed recorder; open it once with write access to roll that batch back (${(e as Error).message})`, { cause: e });
  }
  return open();
}

