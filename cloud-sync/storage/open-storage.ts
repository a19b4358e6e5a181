import { CloudError } from '../errors.ts';
import type { CloudStorage } from './storage-types.ts';

/**
 * Picks the backend: PostgreSQL when a database URL is given (the service
 * reads DATABASE_URL), else SQLite in `sqlitePath`. Each backend module is
 * loaded only when chosen, so a SQLite deployment never loads `pg`.
 */
export interface OpenStorageOptions {
  readonly databaseUrl?: string | undefined;
  readonly sqlitePath?: string | undefined;
  /** PostgreSQL only: the schema to use (tests). */
  readonly schema?: string | undefined;
}

export async function openStorage(o: OpenStorageOptions): Promise<CloudStorage> {
  if (o.databaseUrl !== undefined && o.databaseUrl !== '') {
    if (!/^postgres(ql)?:\/\//.test(o.databaseUrl)) throw new CloudError('E_CONFIG', 'DATABASE_URL must be a postgres:// or postgresql:// URL');
    const { PgStorage } = await import('./pg-storage.ts');
    return PgStorage.open({ connectionString: o.databaseUrl, ...(o.schema !== undefined ? { schema: o.schema } : {}) });
  }
  if (o.sqlitePath === undefined || o.sqlitePath === '') throw new CloudError('E_CONFIG', 'give a SQLite file (--db FILE) or set DATABASE_URL');
  const { SqliteStorage } = await import('./sqlite-storage.ts');
  return SqliteStorage.open({ path: o.sqlitePath });
}
