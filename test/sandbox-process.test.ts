/**
 * Process hygiene of the sandbox, as a user runs it: SIGTERM to the outermost process of
 * `npm run sandbox` (npm → projen → node) stops everything within seconds and frees every port;
 * a sandbox killed with SIGKILL leaves its PostgreSQL server (its functions and s3rver exit with
 * it), and the next start in the same folder stops that server, says so, and starts.
 */
import { ChildProcess, spawn } from 'child_process';
import * as fs from 'fs';
import * as net from 'net';
import * as os from 'os';
import * as path from 'path';
import { App, Stack } from 'aws-cdk-lib';
import { BuiltInSources, CanonicalStore, IngestionPipeline } from '../src';

const root = path.join(__dirname, '..');
const work = fs.mkdtempSync(path.join(os.tmpdir(), 'cdp-sandbox-process-'));

function synthesizeApp(): string {
  const outdir = path.join(work, 'cdk.out');
  const app = new App({ outdir });
  const stack = new Stack(app, 'SandboxProcess');
  const store = new CanonicalStore(stack, 'Store');
  new IngestionPipeline(stack, 'Ingestion', { store, sources: [BuiltInSources.crmCustomers()] });
  app.synth();
  return outdir;
}

interface Started {
  readonly child: ChildProcess;
  output(): string;
}

/** Starts a command and waits for the sandbox's "ready" line. */
async function startUntilReady(command: string, args: string[]): Promise<Started> {
  const child = spawn(command, args, { cwd: root, stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, FORCE_COLOR: '0' } });
  let out = '';
  child.stdout!.on('data', (d) => (out += String(d)));
  child.stderr!.on('data', (d) => (out += String(d)));
  await new Promise<void>((resolve, reject) => {
    const timer = setInterval(() => {
      if (/Sandbox ready/.test(out)) {
        clearInterval(timer);
        resolve();
      }
    }, 100);
    child.once('exit', (code) => {
      clearInterval(timer);
      reject(new Error(`exited (${code}) before ready:\n${out}`));
    });
  });
  return { child, output: () => out };
}

/** Every descendant of a process (Linux /proc). */
function descendants(pid: number): number[] {
  const parents = new Map<number, number>();
  for (const entry of fs.readdirSync('/proc').filter((e) => /^\d+$/.test(e))) {
    try {
      const stat = fs.readFileSync(`/proc/${entry}/stat`, 'utf8');
      parents.set(Number(entry), Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]));
    } catch {
      // exited meanwhile
    }
  }
  const out: number[] = [];
  const visit = (p: number) => {
    for (const [child, parent] of parents) {
      if (parent === p) {
        out.push(child);
        visit(child);
      }
    }
  };
  visit(pid);
  return out;
}

const alive = (pid: number) => {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};

const portFree = (port: number) => new Promise<boolean>((resolve) => {
  const server = net.createServer();
  server.once('error', () => resolve(false));
  server.listen(port, '127.0.0.1', () => server.close(() => resolve(true)));
});

async function waitUntil(check: () => boolean | Promise<boolean>, ms: number): Promise<boolean> {
  for (const end = Date.now() + ms; Date.now() < end;) {
    if (await check()) return true;
    await new Promise((r) => setTimeout(r, 100));
  }
  return check();
}

/** The ports the running sandbox listens on (API, S3, local AWS endpoint, PostgreSQL, DynamoDB, Bedrock). */
function portsOf(stateDir: string): number[] {
  const info = JSON.parse(fs.readFileSync(path.join(stateDir, 'sandbox.json'), 'utf8'));
  const urls: string[] = [info.s3.endpoint, info.services, info.dynamodb.endpoint, info.bedrock.endpoint, ...info.apis.map((a: any) => a.url)];
  return [...urls.map((u) => Number(new URL(u).port)), info.database.port];
}

describe('sandbox processes', () => {
  let cdkOut: string;
  beforeAll(() => {
    cdkOut = synthesizeApp();
  });
  afterAll(() => fs.rmSync(work, { recursive: true, force: true }));
  // A failed test must not leave its processes (nor keep Jest waiting on their pipes).
  const cleanup: number[] = [];
  afterEach(() => {
    for (const pid of cleanup.splice(0)) if (alive(pid)) process.kill(pid, 'SIGKILL');
  });

  // The outermost process (npm) may forward the signal; SIGKILL cannot be forwarded: the sandbox sees its launcher gone.
  test.each([['SIGTERM', 'npm'], ['SIGKILL', 'npm'], ['SIGINT', 'projen']] as const)(
    '%s to %s of `npm run sandbox` stops everything within seconds and frees the ports', async (signal, target) => {
      await signalTest(signal, target);
    });

  async function signalTest(signal: NodeJS.Signals, target: 'npm' | 'projen'): Promise<void> {
    const stateDir = path.join(work, `${signal}-${target}`);
    const npm = await startUntilReady('npm', ['run', 'sandbox', '--', '--cdk-out', cdkOut, '--state-dir', stateDir, '--port', '0', '--s3-port', '0']);
    const processes = descendants(npm.child.pid!);
    cleanup.push(npm.child.pid!, ...processes);
    const projen = processes.find((p) => /node\0.*projen\0sandbox/.test(fs.readFileSync(`/proc/${p}/cmdline`, 'utf8')));
    expect(projen).toBeDefined();
    const ports = portsOf(stateDir);
    const dataDir = JSON.parse(fs.readFileSync(path.join(stateDir, 'sandbox.json'), 'utf8')).database.dataDir;
    // npm, projen, the sandbox, s3rver and the functions' processes.
    expect(processes.length).toBeGreaterThanOrEqual(5);
    expect(fs.existsSync(path.join(dataDir, 'postmaster.pid'))).toBe(true);

    const t0 = Date.now();
    process.kill(target === 'npm' ? npm.child.pid! : projen!, signal);
    expect(await waitUntil(() => processes.every((p) => !alive(p)), 10_000)).toBe(true);
    const seconds = (Date.now() - t0) / 1000;
    expect(seconds).toBeLessThan(10);
    expect(fs.existsSync(path.join(dataDir, 'postmaster.pid'))).toBe(false);
    for (const port of ports) expect(await portFree(port)).toBe(true);
    expect(fs.existsSync(path.join(stateDir, 'processes.json'))).toBe(false);
    console.log(`${signal} to ${target}: ${processes.length} processes and PostgreSQL gone, ports ${ports.join(', ')} free, in ${seconds.toFixed(1)} s`);
  }

  test('a start after a SIGKILLed sandbox stops what that one left, says so, and starts', async () => {
    const stateDir = path.join(work, 'killed');
    const cli = ['node_modules/.bin/ts-node', '--transpile-only', '--project', 'tsconfig.dev.json', 'sandbox/src/cli.ts', '--cdk-out', cdkOut, '--state-dir', stateDir, '--port', '0', '--s3-port', '0'];
    const first = await startUntilReady(process.execPath, cli);
    const children = descendants(first.child.pid!);
    cleanup.push(first.child.pid!, ...children);
    const dataDir = JSON.parse(fs.readFileSync(path.join(stateDir, 'sandbox.json'), 'utf8')).database.dataDir;
    const postmaster = Number(fs.readFileSync(path.join(dataDir, 'postmaster.pid'), 'utf8').split('\n')[0]);
    first.child.kill('SIGKILL');
    // Its function processes and s3rver watch their parent and exit; PostgreSQL (a daemon) stays.
    expect(await waitUntil(() => children.every((p) => !alive(p)), 5_000)).toBe(true);
    expect(alive(postmaster)).toBe(true);

    const second = await startUntilReady(process.execPath, cli);
    cleanup.push(second.child.pid!);
    try {
      expect(second.output()).toMatch(/stopped what a previous sandbox left running: PostgreSQL/);
      expect(alive(postmaster)).toBe(false);
    } finally {
      second.child.kill('SIGTERM');
      await new Promise((r) => second.child.once('exit', r));
    }
    console.log(second.output().split('\n').find((l) => l.includes('previous sandbox')));
  });
});
