/**
 * Ingestion runs as the idempotency record of the IngestionPipeline, committed with the data:
 * - run_id (primary key) is derived from the object version (or ETag) and any forced re-ingest
 *   token, so a redelivered event finds the committed run;
 * - the same content (SHA-256) is loaded once per source system and entity type, unless forced
 *   (empty files excepted: there is nothing to load twice);
 * - the manifest is kept with the run, so a run committed before its manifest and event went out
 *   can publish them on redelivery (notified_at says they did).
 */
export const id = '0002_ingestion_runs_idempotency';

export const sql = /* sql */ `
ALTER TABLE canonical.ingestion_runs
  ADD COLUMN source_name   text,
  ADD COLUMN etag          text,
  ADD COLUMN stale         bigint NOT NULL DEFAULT 0,
  ADD COLUMN processed_key text,
  ADD COLUMN rejected_key  text,
  ADD COLUMN duplicate_of  uuid,
  ADD COLUMN manifest      jsonb,
  ADD COLUMN notified_at   timestamptz;

ALTER TABLE canonical.ingestion_runs DROP CONSTRAINT ingestion_runs_status_check;
ALTER TABLE canonical.ingestion_runs ADD CONSTRAINT ingestion_runs_status_check
  CHECK (status IN ('running', 'succeeded', 'rejected', 'failed', 'skipped'));

CREATE UNIQUE INDEX ingestion_runs_content_once ON canonical.ingestion_runs (source_system, entity_type, sha256)
  WHERE status = 'succeeded' AND NOT forced AND received > 0;

COMMENT ON COLUMN canonical.ingestion_runs.run_id IS
  'Derived from bucket, key, version id (or ETag) and the forced re-ingest token: one run per object version.';
`;
