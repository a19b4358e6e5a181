import { runStorageContract } from './storage-contract.ts';
import { SqliteStorage } from './sqlite-storage.ts';
import { PgStorage } from './pg-storage.ts';
import { PG_URL, freshPgSchema, tempDir } from '../test-support.ts';

let sqliteDir: ReturnType<typeof tempDir> | null = null;
runStorageContract({
  name: 'SqliteStorage',
  open: async () => {
    sqliteDir = tempDir();
    return SqliteStorage.open({ path: sqliteDir.file('cloud.db'), synchronous: 'NORMAL' });
  },
  reopen: () => SqliteStorage.open({ path: sqliteDir!.file('cloud.db') }),
  cleanup: async () => sqliteDir?.cleanup(),
});

let pgSchema: Awaited<ReturnType<typeof freshPgSchema>> | null = null;
runStorageContract({
  name: 'PgStorage',
  open: async () => {
    pgSchema = await freshPgSchema();
    return PgStorage.open({ connectionString: PG_URL, schema: pgSchema.schema });
  },
  reopen: () => PgStorage.open({ connectionString: PG_URL, schema: pgSchema!.schema }),
  cleanup: async () => pgSchema?.drop(),
});
