// REFERENCE COPY for issue 18: lambda/analytics-api/operations/simple-demo.ts as it was on main at b923fd0,
// the pre-issue-18 queries, kept as the reference that test/analytics-equivalence.test.ts compares
// the shipped operation against. Only the imports differ; the SQL is byte-identical: do not edit it.
/** simple_demo: a small sample of the store and its entity counts, to see that everything works. */
import { Binder, LIMIT_SCHEMA } from './common';
import { AccessLevel, OperationDefinition, Params, QueryRunner } from '../../../lambda/analytics-api/operations/types';

async function run(db: QueryRunner, params: Params): Promise<Record<string, unknown>> {
  const counts = await db.rows(`
    SELECT entity_type, count(*) AS entities, max(updated_at) AS last_updated_at
    FROM canonical.entities GROUP BY entity_type ORDER BY entity_type`);
  const b = new Binder();
  const filter = params.entity_type === undefined ? '' : `WHERE entity_type = ${b.bind(params.entity_type, '::text')}`;
  const sample = await db.rows(`
    SELECT entity_type, source_system, source_id, canonical_key, attributes, version, updated_at
    FROM canonical.entities ${filter}
    ORDER BY id
    LIMIT ${b.bind(params.limit)}`, b.values);
  return { entity_counts: counts, sample };
}

export const simpleDemo: OperationDefinition = {
  name: 'simple_demo',
  description: 'A small sample of the store and its entity counts.',
  access: AccessLevel.ANALYTICS,
  longRunning: false,
  parameterSchema: {
    type: 'object',
    additionalProperties: false,
    properties: {
      entity_type: { type: 'string', minLength: 1, maxLength: 100 },
      limit: LIMIT_SCHEMA(50, 5),
    },
  },
  plan: { kind: 'composite', run },
};
