/**
 * The synth-time check of user-defined operations: the very code the API runs at cold start
 * (buildUserOperation: the SQL guard on the real PostgreSQL parser, the `:name` parameters against
 * parameterSchema), run by the AnalyticsApi construct in a child Node.js process, because the
 * parser (WebAssembly) loads asynchronously and constructs are synchronous.
 *
 * Bundled by projenrc/bundle-lambdas.ts into assets/synth-checks/check-user-operations.js (shipped
 * in the npm package, with the parser's .wasm next to it). Reads `{ operations, reservedNames }` as
 * JSON on stdin; writes `{ results: [{ name, error? }] }` as JSON on stdout, one result per
 * operation in order; exits non-zero only when it could not check at all.
 */
import { buildUserOperation, UserOperationSpec } from './operations/user-defined';

interface CheckInput {
  readonly operations: UserOperationSpec[];
  readonly reservedNames: string[];
}

async function readStdin(): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}

async function main(): Promise<void> {
  const input = JSON.parse(await readStdin()) as CheckInput;
  const reserved = new Set(input.reservedNames);
  const results: Array<{ name: string; error?: string }> = [];
  for (const spec of input.operations) {
    try {
      await buildUserOperation(spec, reserved);
      results.push({ name: spec.name });
    } catch (error) {
      results.push({ name: spec.name, error: (error as Error).message });
    }
  }
  process.stdout.write(JSON.stringify({ results }));
}

main().catch((error) => {
  process.stderr.write(`${(error as Error).stack ?? error}\n`);
  process.exit(1);
});
