/**
 * The library's own migrations, in order. Append only: an applied migration is never edited
 * (the runner refuses a changed checksum), so fixes are new migrations.
 */
import * as m0001 from './0001_canonical_schema';
import * as m0002 from './0002_ingestion_runs_idempotency';
import * as m0003 from './0003_source_id_normalization';
import * as m0004 from './0004_typed_storage';
import * as m0005 from './0005_hierarchy_links_and_customer_days';

export interface Migration {
  readonly id: string;
  readonly sql: string;
}

export const LIBRARY_MIGRATIONS: readonly Migration[] = [m0001, m0002, m0003, m0004, m0005];
