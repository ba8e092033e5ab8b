import * as fs from 'fs';
import * as path from 'path';
import { UserMigration } from './canonical-store-props';

const MIGRATION_ID = /^[A-Za-z0-9_.-]+$/;

/**
 * Helpers to supply user migrations to a `CanonicalStore`.
 */
export class Migrations {
  /**
   * Reads the `*.sql` files of `directory` at synth time, sorted by file name; each file is one
   * migration whose id is the file name without `.sql` (e.g. `0001_customers_by_region`).
   *
   * @param directory path of the folder with the migration files
   */
  public static fromDirectory(directory: string): UserMigration[] {
    if (!fs.existsSync(directory) || !fs.statSync(directory).isDirectory()) {
      throw new Error(`Migrations.fromDirectory: ${directory} is not a directory`);
    }
    return fs.readdirSync(directory)
      .filter((file) => file.endsWith('.sql'))
      .sort()
      .map((file) => ({ id: file.slice(0, -'.sql'.length), sql: fs.readFileSync(path.join(directory, file), 'utf8') }));
  }

  private constructor() {}
}

/** Synth-time checks of the `migrations` prop: ids unique and well-formed, SQL not empty. */
export function validateMigrations(migrations: UserMigration[]): void {
  const seen = new Set<string>();
  migrations.forEach((migration, index) => {
    if (!migration.id || !MIGRATION_ID.test(migration.id)) {
      throw new Error(`migrations[${index}].id "${migration.id ?? ''}" is invalid: use letters, digits, "_", "." and "-" only`);
    }
    if (seen.has(migration.id)) {
      throw new Error(`migrations: duplicate id "${migration.id}"; every migration needs a unique id`);
    }
    seen.add(migration.id);
    if (!migration.sql || migration.sql.trim() === '') {
      throw new Error(`migrations: "${migration.id}" has no SQL`);
    }
  });
}
