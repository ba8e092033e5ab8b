/**
 * User-defined operations checked at synth by the API's own code: the SQL guard (the real
 * PostgreSQL parser, WebAssembly, which loads asynchronously) and the parameter check run in a child
 * Node.js process (constructs are synchronous), from the script bundled into
 * assets/synth-checks/ (lambda/analytics-api/check-user-operations.ts). The child is the Node.js
 * that runs the construct, so this works the same from TypeScript, Python, Java, .NET and Go apps.
 */
import { spawnSync } from 'child_process';
import * as fs from 'fs';
import * as path from 'path';
import { UserDefinedOperation } from './analytics-api-props';

/** `src/analytics-api/` (ts-jest) and `lib/analytics-api/` (after jsii) sit at the same depth. */
const SCRIPT = path.join(__dirname, '..', '..', 'assets', 'synth-checks', 'check-user-operations.js');
const TIMEOUT_MS = 120_000;
/** Results by input: an app (or a test suite) that declares the same operations twice checks them once. */
const checked = new Map<string, CheckResult[]>();

interface CheckResult {
  readonly name: string;
  readonly error?: string;
}

/** Throws, naming `userOperations[i]`, for the first operation the API would refuse at cold start. */
export function checkUserOperationsSql(operations: UserDefinedOperation[], reservedNames: string[]): void {
  if (operations.length === 0) return;
  if (!fs.existsSync(SCRIPT)) {
    throw new Error(`The synth-time SQL check ${SCRIPT} is missing: run \`npx projen bundle\` to build it`);
  }
  const input = JSON.stringify({
    operations: operations.map((op) => ({ name: op.name, sql: op.sql, parameterSchema: op.parameterSchema })),
    reservedNames,
  });
  let results = checked.get(input);
  if (!results) {
    results = runCheck(input);
    checked.set(input, results);
  }
  results.forEach((result, i) => {
    if (result.error !== undefined) {
      throw new Error(`userOperations[${i}] ('${result.name}') is refused by the API's SQL guard: ${result.error}`);
    }
  });
}

function runCheck(input: string): CheckResult[] {
  const child = spawnSync(process.execPath, [SCRIPT], { input, encoding: 'utf8', timeout: TIMEOUT_MS, maxBuffer: 16 * 1024 * 1024 });
  if (child.error || child.status !== 0) {
    const why = child.error?.message ?? (child.signal ? `killed by ${child.signal}` : `exit code ${child.status}`);
    throw new Error(`userOperations could not be checked (${process.execPath} ${SCRIPT}: ${why}): ${(child.stderr ?? '').trim().slice(0, 2000)}`);
  }
  return (JSON.parse(child.stdout) as { results: CheckResult[] }).results;
}
