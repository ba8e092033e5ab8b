/**
 * The id normalisation that keyed the stored entities of each identity space (entity type, source
 * system), written by the IngestionPipeline in the transaction of the run that loads with it. A run
 * whose source normalises ids differently is refused unless the source declares the re-key
 * (`rekeyIdsFrom`), which the run then performs in its own transaction (docs/ingestion.md "Source
 * ids"). Stores from before this migration have no row: their ids were trimmed.
 */
export const id = '0003_source_id_normalization';

export const sql = /* sql */ `
CREATE TABLE canonical.source_id_normalization (
  entity_type      text NOT NULL,
  source_system    text NOT NULL,
  id_normalization text NOT NULL CHECK (id_normalization IN ('trim', 'trim_and_lowercase', 'trim_and_uppercase', 'none')),
  run_id           uuid,
  updated_at       timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (entity_type, source_system)
);

GRANT SELECT, INSERT, UPDATE ON canonical.source_id_normalization TO canonical_writer;
GRANT SELECT ON canonical.source_id_normalization TO canonical_analytics;

COMMENT ON TABLE canonical.source_id_normalization IS
  'How the stored source ids of each (entity_type, source_system) were normalised; changed only by a declared re-key.';
`;
