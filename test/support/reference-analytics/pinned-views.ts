/**
 * Today's typed views pinned for the reference. Issue 18 keeps `canonical.customers`, `orders`,
 * `products` and `health_readings` with their names and columns but may redefine them over the new
 * typed storage; a reference that read them would then read the new storage too and could not see
 * a cast that differs. So the reference reads copies of the views (and of the casts they use) as
 * migration 0001 defines them, over `canonical.entities`, in a schema of the test's own.
 */
import { sql as schema0001 } from '../../../lambda/canonical-store/migrations/0001_canonical_schema';
import { GroupRole } from '../../../lambda/canonical-store/runner';

export const PINNED_SCHEMA = 'equiv_reference';

const VIEWS = ['customers', 'orders', 'products', 'health_readings'];
const CASTS = ['as_numeric', 'as_timestamptz', 'as_date'];
const PINNED_NAME = new RegExp(`\\bcanonical\\.(${[...VIEWS, ...CASTS].join('|')})\\b`, 'g');

/** The SQL text with its references to today's typed views and casts pointed at the pinned copies. */
export function toPinned(sql: string): string {
  return sql.replace(PINNED_NAME, `${PINNED_SCHEMA}.$1`);
}

/** The casts and views of migration 0001, verbatim but for their schema. */
export function pinnedDefinitions(): string[] {
  const casts = [...schema0001.matchAll(/CREATE FUNCTION canonical\.(\w+)\(v text\)[\s\S]*?\$\$;/g)].filter((m) => CASTS.includes(m[1]));
  const views = [...schema0001.matchAll(/CREATE VIEW canonical\.(\w+) AS[\s\S]*?;/g)].filter((m) => VIEWS.includes(m[1]));
  if (casts.length !== CASTS.length || views.length !== VIEWS.length) {
    throw new Error(`Expected ${CASTS.length} casts and ${VIEWS.length} views in migration 0001, found ${casts.length} and ${views.length}`);
  }
  return [...casts, ...views].map((m) => toPinned(m[0]));
}

/** Creates the pinned copies (as a superuser client) and lets the analytics reader read them. */
export async function createPinnedViews(client: { query(text: string): Promise<unknown> }): Promise<void> {
  await client.query(`CREATE SCHEMA ${PINNED_SCHEMA}`);
  for (const definition of pinnedDefinitions()) await client.query(definition);
  await client.query(`GRANT USAGE ON SCHEMA ${PINNED_SCHEMA} TO ${GroupRole.ANALYTICS}`);
  await client.query(`GRANT SELECT ON ALL TABLES IN SCHEMA ${PINNED_SCHEMA} TO ${GroupRole.ANALYTICS}`);
}

/** The pinned view of a typed view's name (for comparing the live view with it). */
export const pinnedView = (view: string) => `${PINNED_SCHEMA}.${view}`;
export const PINNED_VIEWS: readonly string[] = VIEWS;
