/**
 * Before/after in one sitting: a benchmark runs each side (a build, see build.ts) in a child
 * process of its own (`<script> --side <dir> …`), one after the other, each with its own freshly
 * started databases, and compares the results the children report.
 *
 * A side prints its progress as usual and, last, one line `SIDE_RESULT <json>`, which the parent
 * takes out of the output it passes on.
 */
import { spawn } from 'child_process';
import * as os from 'os';
import * as path from 'path';
import { THIS_BUILD } from './build';

const RESULT_PREFIX = 'SIDE_RESULT ';

/** `--name value` from the command line. */
export function option(name: string): string | undefined {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? process.argv[i + 1] : undefined;
}

/** The command line without `--name value` for each of `names`. */
export function argsWithout(...names: string[]): string[] {
  const args = process.argv.slice(2);
  const out: string[] = [];
  for (let i = 0; i < args.length; i++) {
    if (names.includes(args[i].replace(/^--/, ''))) i++;
    else out.push(args[i]);
  }
  return out;
}

/** The 1-, 5- and 15-minute load averages, e.g. "1.52 1.20 0.98". */
export function loadAverage(): string {
  return os.loadavg().map((l) => l.toFixed(2)).join(' ');
}

/** Reports a side's result to the parent (the last line of its output). */
export function reportSide(result: unknown): void {
  process.stdout.write(`${RESULT_PREFIX}${JSON.stringify(result)}\n`);
}

/** Runs `script --side <dir> args…` through ts-node in a child process; its result. */
export function runSide<T>(script: string, dir: string, args: string[], env: Record<string, string> = {}): Promise<T> {
  const tsNode = require.resolve('ts-node/dist/bin.js', { paths: [THIS_BUILD] });
  const child = spawn(process.execPath, [tsNode, '--project', path.join(THIS_BUILD, 'tsconfig.dev.json'), script, '--side', dir, ...args], {
    cwd: THIS_BUILD, stdio: ['ignore', 'pipe', 'inherit'], env: { ...process.env, ...env },
  });
  let result: T | undefined;
  let pending = '';
  child.stdout.setEncoding('utf8');
  child.stdout.on('data', (chunk: string) => {
    pending += chunk;
    const lines = pending.split('\n');
    pending = lines.pop()!;
    for (const line of lines) {
      if (line.startsWith(RESULT_PREFIX)) result = JSON.parse(line.slice(RESULT_PREFIX.length)) as T;
      else process.stdout.write(`${line}\n`);
    }
  });
  return new Promise((resolve, reject) => {
    child.on('error', reject);
    child.on('exit', (code) => {
      if (pending) process.stdout.write(`${pending}\n`);
      if (code !== 0) reject(new Error(`the side for ${dir} exited with ${code}`));
      else if (result === undefined) reject(new Error(`the side for ${dir} reported no result`));
      else resolve(result);
    });
  });
}

/** `after / before` as "0.42×" ("–" when either is missing). */
export function ratio(after: number | null | undefined, before: number | null | undefined): string {
  if (after === null || after === undefined || !before) return '–';
  return `${(after / before).toFixed(2)}×`;
}

/** A markdown table. */
export function table(header: string[], rows: string[][]): string {
  return [`| ${header.join(' | ')} |`, `|${header.map(() => '---').join('|')}|`, ...rows.map((r) => `| ${r.join(' | ')} |`)].join('\n');
}
