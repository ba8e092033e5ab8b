/**
 * Process hygiene. The sandbox records every process it starts (function environments, s3rver)
 * and its PostgreSQL data folder in `<stateDir>/processes.json`, so a start after a sandbox that
 * was killed hard (SIGKILL) or orphaned stops what that one left, and says so. And the sandbox
 * watches the chain that launched it (npm → sh → projen → sh → node): when any of those exits —
 * a signal to npm, say — it stops everything, as with Ctrl-C. Linux (/proc); elsewhere only the
 * direct parent is watched.
 */
import { createHash } from 'crypto';
import * as fs from 'fs';
import * as path from 'path';
import { stopStaleServer } from './local-postgres';
import type { RecordedProcess } from './services/service';

interface ProcessFile {
  readonly pid: number;
  /** The launcher chain the sandbox watched (pids), to tell an orphaned sandbox from a live one. */
  readonly launchers: number[];
  readonly entries: Array<RecordedProcess & { command?: string }>;
}

export function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

function cmdline(pid: number): string | undefined {
  try {
    return fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8');
  } catch {
    return undefined;
  }
}

/** A digest of a process's command line: the same pid with another command is not ours. */
function commandDigest(pid: number): string | undefined {
  const command = cmdline(pid);
  return command === undefined ? undefined : createHash('sha256').update(command).digest('hex').slice(0, 16);
}

function parentOf(pid: number): number | undefined {
  try {
    // /proc/<pid>/stat: "pid (comm) state ppid …"; comm may hold spaces and parentheses.
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    return Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
  } catch {
    return undefined;
  }
}

/** A process that only launches the sandbox: npm, npx, projen, ts-node, or a `sh -c` around one. */
function isLauncher(command: string): boolean {
  const args = command.split('\0');
  if (/(^|\/)(ba|da)?sh$/.test(args[0]) && args[1] === '-c') return true;
  // npm sets its process title ("npm run sandbox …"), which replaces its command line.
  const words = args.slice(0, 3).flatMap((a) => a.split(' ').slice(0, 1));
  return words.some((a) => /(^|\/)(npm|npx|projen|ts-node)(-cli)?(\.js)?$/.test(a));
}

/** The sandbox's launcher chain, innermost first: its parent while it is a launcher, and so on up. */
export function launcherChain(pid = process.pid): number[] {
  const chain: number[] = [];
  for (let p = parentOf(pid); p && p > 1; p = parentOf(p)) {
    const command = cmdline(p);
    if (command === undefined || !isLauncher(command)) break;
    chain.push(p);
  }
  return chain;
}

/** Calls `onGone` (once) when a process of the launcher chain exits. Returns a function that stops watching. */
export function watchLaunchers(onGone: (pid: number) => void, intervalMs = 500): () => void {
  const chain = fs.existsSync('/proc/self/stat') ? launcherChain() : [];
  const parent = process.ppid;
  const timer = setInterval(() => {
    const launcherGone = chain.find((p) => !isAlive(p) || (p === chain[0] && process.ppid !== p));
    const gone = launcherGone ?? (chain.length === 0 && process.ppid !== parent ? parent : undefined);
    if (gone !== undefined) {
      clearInterval(timer);
      onGone(gone);
    }
  }, intervalMs);
  timer.unref();
  return () => clearInterval(timer);
}

/** The record of what this sandbox started. */
export class ProcessRecord {
  private readonly entries: ProcessFile['entries'] = [];
  private readonly launchers = fs.existsSync('/proc/self/stat') ? launcherChain() : [];

  constructor(private readonly file: string) {
    this.write();
  }

  add(entry: RecordedProcess): void {
    this.entries.push({ ...entry, command: entry.pid ? commandDigest(entry.pid) : undefined });
    this.write();
  }

  /** A clean stop: nothing left to record. */
  remove(): void {
    fs.rmSync(this.file, { force: true });
  }

  private write(): void {
    const alive = this.entries.filter((e) => e.postgresDataDir || (e.pid && isAlive(e.pid)));
    const content: ProcessFile = { pid: process.pid, launchers: this.launchers, entries: alive };
    fs.writeFileSync(this.file, JSON.stringify(content, null, 2));
  }
}

async function waitForExit(pid: number, ms: number): Promise<boolean> {
  for (const end = Date.now() + ms; Date.now() < end;) {
    if (!isAlive(pid)) return true;
    await new Promise((r) => setTimeout(r, 100));
  }
  return !isAlive(pid);
}

/**
 * Stops what a previous sandbox in the same folder left: the sandbox itself when it was orphaned
 * (its launcher gone), its function processes and s3rver (by pid, when the command line still
 * matches), its PostgreSQL server. A sandbox that is still attached to its launcher is left alone
 * (an error says how to stop it). Returns what was stopped, for one line at start.
 */
export async function stopLeftovers(file: string): Promise<string[]> {
  if (!fs.existsSync(file)) return [];
  const previous = JSON.parse(fs.readFileSync(file, 'utf8')) as ProcessFile;
  const stopped: string[] = [];
  if (previous.pid === process.pid) throw new Error(`A sandbox of this process already runs from ${path.dirname(file)}: stop() it first, or use another stateDir`);
  if (isAlive(previous.pid) && isAlive(previous.pid) && isLauncherOrSandbox(previous.pid)) {
    const orphaned = previous.launchers.length > 0 && !previous.launchers.every(isAlive);
    if (!orphaned) {
      throw new Error(`A sandbox is already running from ${path.dirname(file)} (pid ${previous.pid}): stop it (Ctrl-C in its terminal, or \`kill ${previous.pid}\`), or use another --state-dir`);
    }
    process.kill(previous.pid, 'SIGTERM');
    if (!await waitForExit(previous.pid, 10_000)) process.kill(previous.pid, 'SIGKILL');
    stopped.push(`the orphaned sandbox (pid ${previous.pid})`);
  }
  let functions = 0;
  for (const e of previous.entries) {
    if (e.postgresDataDir) {
      if (stopStaleServer(e.postgresDataDir)) stopped.push(e.what);
    } else if (e.pid && isAlive(e.pid) && e.command !== undefined && commandDigest(e.pid) === e.command) {
      process.kill(e.pid, 'SIGKILL');
      if (e.what.startsWith('function ')) functions++;
      else stopped.push(e.what);
    }
  }
  if (functions) stopped.push(`${functions} function process${functions === 1 ? '' : 'es'}`);
  fs.rmSync(file, { force: true });
  return stopped;
}

function isLauncherOrSandbox(pid: number): boolean {
  const command = cmdline(pid);
  return command === undefined || /node|ts-node|cdp-sandbox/.test(command);
}
