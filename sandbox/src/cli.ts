#!/usr/bin/env node
/**
 * cdp-sandbox: run an app built with cdk-serverless-data-pipeline on this machine, offline.
 *
 *   cdp-sandbox [start] [--app "<command>"] [--cdk-out <dir>] [--stage <path>] [--stack <pattern>]…
 *               [--port 3000] [--s3-port 4569] [--state-dir .sandbox] [--db-tls auto|require|disable]
 *               [--real-bedrock] [--verbose] [-c key=value]
 *   cdp-sandbox upload <file> <prefix> [--bucket <name>] [--no-wait]
 *   cdp-sandbox trigger <rule or schedule name>
 *   cdp-sandbox info
 */
import * as fs from 'fs';
import * as path from 'path';
import { watchLaunchers } from './processes';
import { localS3ClientConfig } from './s3';
import { SandboxInfo, startSandbox } from './sandbox';
import { describeEmitted } from './uploads';

interface Args {
  readonly positional: string[];
  readonly flags: Record<string, string | true>;
  readonly context: Record<string, string>;
  /** `--stack` patterns (repeatable). */
  readonly stacks: string[];
}

function parseArgs(argv: string[]): Args {
  const positional: string[] = [];
  const flags: Record<string, string | true> = {};
  const context: Record<string, string> = {};
  const stacks: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === '--stack' || a.startsWith('--stack=')) {
      stacks.push(...(a.includes('=') ? a.slice(8) : argv[++i] ?? '').split(',').filter(Boolean));
    } else if (a === '-c' || a === '--context') {
      const [k, ...v] = (argv[++i] ?? '').split('=');
      context[k] = v.join('=');
    } else if (a.startsWith('--')) {
      const [k, v] = a.slice(2).split('=', 2);
      if (v !== undefined) flags[k] = v;
      else if (['real-bedrock', 'verbose', 'no-wait', 'help'].includes(k)) flags[k] = true;
      else flags[k] = argv[++i] ?? '';
    } else if (a === '-h') {
      flags.help = true;
    } else {
      positional.push(a);
    }
  }
  return { positional, flags, context, stacks };
}

const USAGE = `Usage:
  cdp-sandbox [start] [options]     synthesize the app and run it locally (Ctrl-C stops everything)
      --app "<command>"            the CDK app command (default: cdk.json's "app", else examples/app.ts)
      --cdk-out <dir>              run an already synthesized cloud assembly instead
      --stage <path>               run the stacks of this stage (e.g. a CDK Pipelines stage)
      --stack <pattern>            run only these stacks (path Stage/Stack, id or name; * wildcards; repeatable)
      --port <n>                   port of the API (default 3000)
      --s3-port <n>                port of the S3 endpoint (default 4569)
      --state-dir <dir>            outbox, logs and data (default .sandbox)
      --db-tls auto|require|disable   TLS to the local PostgreSQL (default auto: TLS when openssl exists)
      --real-bedrock               send the analyzer's Bedrock calls to real Bedrock (your AWS credentials)
      --verbose                    also print the functions' log lines
      -c key=value                 context for the app
  cdp-sandbox upload <file> <prefix> [--bucket <name>] [--no-wait]
                                   upload into the raw-data bucket under <prefix> and wait for the rows
  cdp-sandbox trigger <name>       run a scheduled rule or schedule now
  cdp-sandbox info                 print the running sandbox's endpoints and queue depths (JSON only:
                                   npm run --silent sandbox -- info | jq)`;

function stateFile(flags: Args['flags']): string {
  return path.resolve(String(flags['state-dir'] ?? '.sandbox'), 'sandbox.json');
}

function readInfo(flags: Args['flags']): SandboxInfo {
  const file = stateFile(flags);
  if (!fs.existsSync(file)) throw new Error(`No sandbox is running here (no ${path.relative(process.cwd(), file)}): start one with \`npm run sandbox\``);
  return JSON.parse(fs.readFileSync(file, 'utf8'));
}

function s3Lines(info: SandboxInfo): string[] {
  const lines: string[] = [];
  for (const bucket of info.s3.notifiedBuckets) {
    const byTarget = new Map<string, string[]>();
    for (const n of info.s3.notifications.filter((x) => x.bucket === bucket)) {
      const list = byTarget.get(n.target) ?? [];
      list.push(`${n.prefix || '*'}${n.suffix ? `…${n.suffix}` : ''}`);
      byTarget.set(n.target, list);
    }
    lines.push(`  Raw bucket      s3://${bucket}`);
    for (const [target, prefixes] of byTarget) lines.push(`                  ${prefixes.join(', ')} → ${target}`);
  }
  const others = Object.values(info.s3.buckets).filter((b) => !info.s3.notifiedBuckets.includes(b));
  if (others.length) lines.push(`  Other buckets   ${others.join(', ')}`);
  lines.push(`  S3 endpoint     ${info.s3.endpoint}   credentials S3RVER / S3RVER, path-style addressing, checksums WHEN_REQUIRED`);
  if (info.s3.notifiedBuckets[0]) {
    lines.push('  Upload          npm run sandbox -- upload <file> <prefix>/     (or any S3 client, e.g.:)');
    lines.push('                  AWS_ACCESS_KEY_ID=S3RVER AWS_SECRET_ACCESS_KEY=S3RVER AWS_REQUEST_CHECKSUM_CALCULATION=when_required \\');
    lines.push(`                    aws --endpoint-url ${info.s3.endpoint} s3 cp <file> s3://${info.s3.notifiedBuckets[0]}/<prefix>/`);
  }
  return lines;
}

function notes(info: SandboxInfo): string[] {
  const lines: string[] = [];
  for (const n of info.notSelected) lines.push(`stack ${n.id} not run: ${n.reason}`);
  const skipped = Object.entries(info.skipped).map(([type, n]) => `${type}${n > 1 ? ` ×${n}` : ''}`);
  if (skipped.length) lines.push(`skipped (not run locally): ${skipped.join(', ')}`);
  lines.push(...[...new Set(info.warnings)].slice(0, 15));
  return lines.length ? ['', '  Notes:', ...lines.map((l) => `   - ${l}`)] : [];
}

function summary(info: SandboxInfo, cwd: string): string {
  const rel = (p: string) => `${path.relative(cwd, p) || '.'}/`;
  const lines = [
    '',
    `Sandbox ready in ${(info.startupMs / 1000).toFixed(1)} s — no AWS account, nothing leaves this machine.`,
    '',
    `  Stacks          ${info.stacks.map((s) => s.id).join(', ')}`,
  ];
  for (const a of info.apis) {
    lines.push(`  API             ${a.url}   (also under /${a.stage})`);
    for (const k of a.apiKeys) lines.push(`  API key         x-api-key: ${k.value}   (${k.name})`);
  }
  lines.push(...s3Lines(info));
  if (info.database) lines.push(`  PostgreSQL      ${info.database.adminUrl.replace(/\/postgres$/, `/${info.database.databases[0] ?? 'postgres'}`)}   (TLS ${info.database.tls ? 'required' : 'off'})`);
  lines.push(`  DynamoDB        ${info.dynamodb.endpoint}   ${info.dynamodb.tables.length} table(s)`);
  if (info.sqs.length) lines.push(`  SQS             ${info.services}   ${info.sqs.length} queue(s), ${info.sqs.filter((q) => q.deadLetterQueueOf).length} dead-letter; depths: npm run --silent sandbox -- info | jq .sqs`);
  if (info.stateMachines.length) lines.push(`  Step Functions  ${info.stateMachines.join(', ')}`);
  for (const sch of info.schedules ?? []) lines.push(`  Schedule        ${sch.id} (${sch.expression}): run it now with \`npm run sandbox -- trigger ${sch.id}\``);
  lines.push(`  Bedrock         ${info.bedrock.mode === 'real' ? 'real Bedrock (your credentials)' : 'local stand-in: deterministic answers from the statistics, labelled as such'}`);
  lines.push(`  Outbox          ${rel(info.outbox)}   (SES e-mails as .eml/.html, SNS messages as .json)`);
  lines.push(`  Logs            ${rel(info.logs)}   (one file per function; events.log)`);
  lines.push(...notes(info), '', 'Ctrl-C stops everything.', '');
  return lines.join('\n');
}

async function start(args: Args): Promise<void> {
  const f = args.flags;
  const num = (v: string | true | undefined) => (v === undefined || v === true ? undefined : Number(v));
  const text = (v: string | true | undefined) => (typeof v === 'string' ? v : undefined);
  // Stop with the launcher chain (npm → projen → node) even before the sandbox is up.
  let stopping: ((why: string) => Promise<void>) | undefined;
  const pending: string[] = [];
  const stopOn = (why: string) => (stopping ? void stopping(why) : pending.push(why));
  for (const s of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) process.on(s, () => stopOn(s));
  watchLaunchers((pid) => stopOn(`the process that launched the sandbox (pid ${pid}) exited`));
  process.stdout.on('error', () => undefined);
  const sandbox = await startSandbox({
    app: text(f.app),
    cloudAssembly: text(f['cdk-out']),
    selection: { stage: text(f.stage), stacks: args.stacks.length ? args.stacks : undefined },
    apiPort: num(f.port),
    s3Port: num(f['s3-port']),
    servicesPort: num(f['services-port']),
    stateDir: text(f['state-dir']),
    databaseTls: text(f['db-tls']) as 'auto' | 'require' | 'disable' | undefined,
    realBedrock: f['real-bedrock'] === true,
    verbose: f.verbose === true,
    region: text(f.region),
    context: Object.keys(args.context).length ? args.context : undefined,
  });
  console.log(summary(sandbox.info, process.cwd()));
  let stopped = false;
  stopping = async (why: string) => {
    if (stopped) return;
    stopped = true;
    console.log(`\n${why}: stopping the sandbox…`);
    const t0 = Date.now();
    await sandbox.stop();
    console.log(`Stopped everything in ${((Date.now() - t0) / 1000).toFixed(1)} s.`);
    process.exit(0);
  };
  process.on('uncaughtException', (e) => {
    console.error(e);
    void stopping?.('error');
  });
  if (pending.length) void stopping(pending[0]);
}

async function upload(args: Args): Promise<void> {
  const [file, prefix] = args.positional.slice(1);
  if (!file || prefix === undefined) throw new Error('Usage: cdp-sandbox upload <file> <prefix>');
  const info = readInfo(args.flags);
  const bucket = typeof args.flags.bucket === 'string' ? args.flags.bucket : info.s3.notifiedBuckets[0] ?? Object.values(info.s3.buckets)[0];
  if (!bucket) throw new Error('The app has no bucket');
  const key = prefix.endsWith('/') || prefix === '' ? `${prefix}${path.basename(file)}` : `${prefix}/${path.basename(file)}`;
  const { S3Client } = await import('@aws-sdk/client-s3');
  const { Upload } = await import('@aws-sdk/lib-storage');
  const client = new S3Client(localS3ClientConfig(info.s3.endpoint));
  const t0 = Date.now();
  const size = fs.statSync(file).size;
  await new Upload({ client, params: { Bucket: bucket, Key: key, Body: fs.createReadStream(file) } }).done();
  client.destroy();
  console.log(`Uploaded ${file} (${size} bytes) to s3://${bucket}/${key} in ${Date.now() - t0} ms`);
  if (args.flags['no-wait'] === true) return;
  const deadline = Date.now() + 120_000;
  let unknownSince = Date.now();
  for (;;) {
    const r = await fetch(`${info.services}/_sandbox/objects?bucket=${encodeURIComponent(bucket)}&key=${encodeURIComponent(key)}`);
    const p = await r.json() as any;
    if (p.status === 'processed' || p.status === 'failed') {
      if (p.status === 'failed') console.log(`✘ ${p.functionName}: ${p.error}`);
      else console.log(`✔ ${p.functionName}: ${p.event ? describeEmitted(p.event) : 'processed (no event about the object)'}`);
      console.log(`Upload → result: ${(p.ms / 1000).toFixed(2)} s`);
      process.exitCode = p.status === 'failed' ? 1 : 0;
      return;
    }
    if (p.status !== 'unknown') unknownSince = Date.now();
    if (Date.now() - unknownSince > 5000) {
      console.log(`No notification of the app matches s3://${bucket}/${key}: nothing processes it (see the prefixes in the sandbox's summary)`);
      return;
    }
    if (Date.now() > deadline) throw new Error(`s3://${bucket}/${key} was not processed within 2 minutes`);
    await new Promise((res) => setTimeout(res, 200));
  }
}

/** The AWS SDK's Node.js 20 end-of-support notice is not the sandbox's news: keep the console for the sandbox's own lines. */
function quietSdkNodeVersionWarning(): void {
  const emit = process.emitWarning.bind(process) as (...a: unknown[]) => void;
  process.emitWarning = ((warning: unknown, ...rest: unknown[]) => {
    const text = `${warning instanceof Error ? `${warning.name} ${warning.message}` : String(warning)} ${JSON.stringify(rest)}`;
    if (/NodeVersionSupportWarning|will require node >=/.test(text)) return;
    emit(warning, ...rest);
  }) as typeof process.emitWarning;
}

async function main(): Promise<void> {
  quietSdkNodeVersionWarning();
  const args = parseArgs(process.argv.slice(2));
  if (args.flags.help) {
    console.log(USAGE);
    return;
  }
  const command = args.positional[0] ?? 'start';
  switch (command) {
    case 'start':
      return start(args);
    case 'upload':
      return upload(args);
    case 'trigger': {
      const info = readInfo(args.flags);
      const r = await fetch(`${info.services}/_sandbox/trigger/${encodeURIComponent(args.positional[1] ?? '')}`, { method: 'POST' });
      console.log(await r.text());
      process.exitCode = r.ok ? 0 : 1;
      return;
    }
    case 'info':
    case 'status': {
      // Live (queue depths move); the start-time file when the sandbox does not answer.
      const info = readInfo(args.flags);
      const live = await fetch(`${info.services}/_sandbox/info`).then((r) => r.json(), () => undefined);
      console.log(JSON.stringify(live ?? info, null, 2));
      return;
    }
    default:
      console.log(USAGE);
      process.exitCode = 2;
  }
}

main().catch((error: Error) => {
  console.error(`cdp-sandbox: ${error.message}`);
  process.exit(1);
});
