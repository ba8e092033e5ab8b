#!/usr/bin/env node
/**
 * Checks the cloud assembly that a consumer app (Python, Java, Go) synthesized from the packaged
 * library. Every check prints one line, `PASS <label>` or `FAIL <label>: <why>`; the exit code is
 * the number of failed checks (capped at 100). run.sh counts the lines.
 *
 *   node check-assembly.mjs --cdk-out <dir> --stack <name> --assets <library assets/ dir> \
 *     --default-runtime <the library's DEFAULT_RUNTIME, e.g. nodejs24.x> --runtime-lifecycle <cfn-lint's LmbdRuntimeLifecycle.json>
 *
 * What the apps compose is listed once, in EXPECTED below; every app must compose all of it.
 * The library's handler bundles are recognised by content: a function's asset folder must hold
 * the very same index.js as the library's assets/<handler>/index.js, i.e. the bundle travelled
 * through the npm tarball inside the wheel/jar/Go module into the consumer's cdk.out.
 */
import { createHash } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';

const { values: args } = parseArgs({
  options: {
    'cdk-out': { type: 'string' },
    'stack': { type: 'string' },
    'assets': { type: 'string' },
    'default-runtime': { type: 'string' },
    'runtime-lifecycle': { type: 'string' },
  },
});
for (const a of ['cdk-out', 'stack', 'assets', 'default-runtime', 'runtime-lifecycle']) {
  if (!args[a]) {
    console.error('usage: check-assembly.mjs --cdk-out <dir> --stack <name> --assets <dir> --default-runtime <runtime> '
      + `--runtime-lifecycle <LmbdRuntimeLifecycle.json> (missing --${a})`);
    process.exit(100);
  }
}

/**
 * What every consumer app composes. Add a construct here when the apps compose it:
 * `resources` are CloudFormation types with their exact count (or `min`), `handlers` the
 * library asset folders (assets/<name>) whose bundle must back an arm64 function on the library's
 * default Node.js runtime (one AWS does not block for new functions within six months).
 */
const EXPECTED = [
  {
    construct: 'CanonicalStore',
    resources: [
      { type: 'AWS::RDS::DBInstance', count: 1 },
      { type: 'Custom::CanonicalStoreMigrations', count: 1 },
      { type: 'AWS::SecretsManager::Secret', count: 4 },
      { type: 'AWS::SecretsManager::RotationSchedule', count: 4 },
      { type: 'AWS::RDS::DBParameterGroup', count: 1 },
      { type: 'AWS::EC2::VPCEndpoint', min: 1 },
    ],
    handlers: ['canonical-store'],
  },
  {
    construct: 'IngestionPipeline',
    resources: [
      { type: 'AWS::SQS::Queue', count: 2 }, // the queue and its dead-letter queue
      { type: 'AWS::Events::EventBus', count: 1 },
      { type: 'AWS::Lambda::EventSourceMapping', count: 1 },
      { type: 'Custom::S3BucketNotifications', count: 1 },
      { type: 'AWS::S3::Bucket', min: 1 },
      { type: 'AWS::CloudWatch::Alarm', min: 2 },
    ],
    handlers: ['ingestion-pipeline'],
  },
  {
    construct: 'AnalyticsApi',
    resources: [
      { type: 'AWS::ApiGateway::RestApi', count: 1 },
      { type: 'AWS::ApiGateway::Stage', count: 1 },
      { type: 'AWS::DynamoDB::Table', count: 1 }, // the result cache
      { type: 'AWS::ApiGateway::Method', min: 1 },
    ],
    handlers: ['analytics-api'],
  },
  // A new construct: its resources and handler asset folder(s) here, and a few lines in every app.
];

/** Set by every app: the user migration file in test/consumers/migrations/, the tuning of the migrator. */
const USER_MIGRATION_ID = '0001_smoke_reporting_view';
const MIGRATOR_MEMORY = 1024;
const MIGRATOR_EXTRA_ENV = { POWERTOOLS_LOG_LEVEL: 'DEBUG' };
/** Sources every app gives its IngestionPipeline: a built-in one and its own `smoke-partners` (CSV). */
const SOURCE_NAMES = ['crm-customers', 'smoke-partners'];
/** The app's own function (found by this description), connected as the analytics reader. */
const REPORTER_DESCRIPTION = 'consumer-smoke reporter';

let passed = 0;
let failed = 0;
function check(label, fn) {
  try {
    const problem = fn();
    if (problem) {
      failed++;
      console.log(`FAIL ${label}: ${problem}`);
    } else {
      passed++;
      console.log(`PASS ${label}`);
    }
  } catch (e) {
    failed++;
    console.log(`FAIL ${label}: ${e.message}`);
  }
}
/**
 * What is wrong with a library function's runtime, if anything: it must be a Node.js runtime, the
 * library's default, and one that AWS's lifecycle (the pinned cfn-lint's data) does not block for
 * new functions within six months, as the runtime gate in the tests requires.
 */
function runtimeProblem(runtime) {
  if (!/^nodejs\d+\.x$/.test(String(runtime))) return `Runtime ${JSON.stringify(runtime)} is not a Node.js runtime`;
  if (runtime !== args['default-runtime']) return `Runtime ${runtime}, the library's default is ${args['default-runtime']}`;
  const blocked = json(args['runtime-lifecycle'])[runtime]?.['create-block'];
  const horizon = new Date();
  horizon.setUTCMonth(horizon.getUTCMonth() + 6);
  if (blocked === undefined) return `Runtime ${runtime} is not in AWS's lifecycle data (${args['runtime-lifecycle']})`;
  return blocked && blocked <= horizon.toISOString().slice(0, 10) ? `AWS blocks creating functions on ${runtime} from ${blocked}` : undefined;
}
const sha256 = (file) => createHash('sha256').update(readFileSync(file)).digest('hex');
const json = (file) => JSON.parse(readFileSync(file, 'utf8'));

const cdkOut = args['cdk-out'];
const stack = args.stack;
const templateFile = join(cdkOut, `${stack}.template.json`);
const assetsFile = join(cdkOut, `${stack}.assets.json`);

let template;
check(`${stack}: template synthesized (${templateFile})`, () => {
  template = json(templateFile);
  return template.Resources ? undefined : 'no Resources';
});
if (!template) {
  console.log(`check-assembly: ${passed} passed, ${failed} failed`);
  process.exit(Math.min(failed, 100));
}
const resources = Object.entries(template.Resources);
const ofType = (type) => resources.filter(([, r]) => r.Type === type);
const refTo = (value) => value?.Ref ?? value?.['Fn::GetAtt']?.[0];

// ----- resources -----
for (const { construct, resources: expected } of EXPECTED) {
  for (const { type, count, min } of expected) {
    const n = ofType(type).length;
    check(`${construct}: ${type} ${count !== undefined ? `x${count}` : `>= ${min}`}`, () =>
      (count !== undefined ? n === count : n >= min) ? undefined : `found ${n}`);
  }
}

check('CanonicalStore: parameter group requires TLS (rds.force_ssl = 1)', () => {
  const groups = ofType('AWS::RDS::DBParameterGroup').concat(ofType('AWS::RDS::DBClusterParameterGroup'));
  return groups.some(([, g]) => String(g.Properties?.Parameters?.['rds.force_ssl']) === '1')
    ? undefined : 'no parameter group with rds.force_ssl = 1';
});

// ----- handler bundles: function -> asset folder in cdk.out -> same bytes as the library's -----
const assetManifest = existsSync(assetsFile) ? json(assetsFile) : { files: {} };
/** cdk.out folder of a function's code: S3Key `<hash>.zip` -> assets.json source path. */
function assetDirOf(fn) {
  const key = fn.Properties?.Code?.S3Key;
  if (typeof key !== 'string') return undefined;
  const entry = Object.values(assetManifest.files ?? {}).find((f) =>
    Object.values(f.destinations ?? {}).some((d) => d.objectKey === key));
  return entry && join(cdkOut, entry.source.path);
}
const functions = ofType('AWS::Lambda::Function');
const handlerFunctions = {};
for (const { construct, handlers } of EXPECTED) {
  for (const handler of handlers) {
    const libraryBundle = join(args.assets, handler, 'index.js');
    check(`${construct}: library bundle assets/${handler}/index.js exists`, () =>
      existsSync(libraryBundle) ? undefined : `missing ${libraryBundle} (run npx projen bundle)`);
    if (!existsSync(libraryBundle)) continue;
    const want = sha256(libraryBundle);
    const matches = functions.filter(([, fn]) => {
      const dir = assetDirOf(fn);
      return dir && existsSync(join(dir, 'index.js')) && sha256(join(dir, 'index.js')) === want;
    });
    check(`${construct}: a function runs the ${handler} bundle from cdk.out/asset.<hash>/index.js`, () =>
      matches.length >= 1 ? undefined : `no function's asset folder holds the library's ${handler}/index.js`);
    if (matches.length === 0) continue;
    handlerFunctions[handler] = matches[0];
    for (const [id, fn] of matches) {
      check(`${construct}: ${handler} function ${id} on the default runtime ${args['default-runtime']} (Node.js, not blocked), arm64`, () =>
        runtimeProblem(fn.Properties.Runtime) ?? (JSON.stringify(fn.Properties.Architectures) === '["arm64"]'
          ? undefined : `Architectures ${JSON.stringify(fn.Properties.Architectures)}`));
      check(`${construct}: ${handler} function ${id} source map shipped next to the bundle`, () =>
        existsSync(join(assetDirOf(fn), 'index.js.map')) ? undefined : 'no index.js.map in the asset folder');
    }
  }
}

// ----- what the app passed through the language binding -----
const migrations = ofType('Custom::CanonicalStoreMigrations')[0]?.[1];
check(`CanonicalStore: Migrations.fromDirectory -> user migration ${USER_MIGRATION_ID}`, () => {
  const ids = (migrations?.Properties?.UserMigrations ?? []).map((m) => m.id);
  return ids.includes(USER_MIGRATION_ID) ? undefined : `UserMigrations ids: ${JSON.stringify(ids)}`;
});
check('CanonicalStore: LambdaTuning struct reaches the migrator (memory, extra environment)', () => {
  const fn = handlerFunctions['canonical-store']?.[1];
  if (!fn) return 'no migrator function';
  const env = fn.Properties.Environment?.Variables ?? {};
  const problems = [];
  if (fn.Properties.MemorySize !== MIGRATOR_MEMORY) problems.push(`MemorySize ${fn.Properties.MemorySize}`);
  for (const [k, v] of Object.entries(MIGRATOR_EXTRA_ENV)) if (env[k] !== v) problems.push(`${k}=${env[k]}`);
  return problems.join(', ') || undefined;
});

// IngestionPipeline: the sources the app defined travel in sources.json next to the bundle.
check('IngestionPipeline: sources.json in the processor asset holds the app\'s sources (structs, enums, `any`)', () => {
  const fn = handlerFunctions['ingestion-pipeline']?.[1];
  if (!fn) return 'no ingestion processor function';
  const file = join(assetDirOf(fn), 'sources.json');
  if (!existsSync(file)) return 'no sources.json in the processor asset folder';
  const sources = json(file).sources ?? [];
  const names = sources.map((src) => src.name);
  for (const name of SOURCE_NAMES) if (!names.includes(name)) return `sources: ${JSON.stringify(names)}`;
  const partners = JSON.stringify(sources.find((src) => src.name === 'smoke-partners'));
  const expected = ['"csv"', '"dd/MM/yyyy"', '"standard"', '"partner_id"', '"lower"', '"idNormalization":"trim"', '"tier":{"type":["string","null"]}'];
  const missing = expected.filter((e) => !partners.includes(e));
  return missing.length ? `smoke-partners lacks ${missing.join(', ')}: ${partners}` : undefined;
});
check('IngestionPipeline: onIngestionSucceeded(id, [smoke-partners]) rule on the pipeline bus', () => {
  const rules = ofType('AWS::Events::Rule').map(([, r]) => r.Properties?.EventPattern ?? {});
  const ok = rules.some((p) => JSON.stringify(p['detail-type']) === '["Ingestion Succeeded"]'
    && JSON.stringify(p.detail?.sourceName) === '["smoke-partners"]');
  return ok ? undefined : `event patterns: ${JSON.stringify(rules)}`;
});

// AnalyticsApi: the app's own operation travels in user-operations.json next to the bundle.
check('AnalyticsApi: user-operations.json in the handler asset holds the app\'s operation and its schema', () => {
  const fn = handlerFunctions['analytics-api']?.[1];
  if (!fn) return 'no analytics function';
  const file = join(assetDirOf(fn), 'user-operations.json');
  if (!existsSync(file)) return 'no user-operations.json in the handler asset folder';
  const text = readFileSync(file, 'utf8');
  const missing = ['customers_in_country', ':country', '"minLength"', '"additionalProperties"'].filter((e) => !text.includes(e));
  return missing.length ? `lacks ${missing.join(', ')}` : undefined;
});

const reporter = functions.find(([, fn]) => fn.Properties?.Description === REPORTER_DESCRIPTION);
check('app function: connectionEnvironment(ANALYTICS_READER) in its environment', () => {
  if (!reporter) return `no function described "${REPORTER_DESCRIPTION}"`;
  const env = reporter[1].Properties.Environment?.Variables ?? {};
  const missing = ['DB_HOST', 'DB_PORT', 'DB_NAME', 'DB_SECRET_ARN'].filter((k) => env[k] === undefined);
  if (missing.length) return `missing ${missing.join(', ')}`;
  return env.DB_TLS === 'verify-full' ? undefined : `DB_TLS ${env.DB_TLS}`;
});
/** Logical ids that stand for the analytics reader's secret: the secret and its target attachment. */
const analyticsSecretIds = new Set();
for (const [id, r] of ofType('AWS::SecretsManager::Secret')) {
  if (r.Properties?.GenerateSecretString?.SecretStringTemplate?.includes('"pipeline_analytics"')) analyticsSecretIds.add(id);
}
for (const [id, r] of ofType('AWS::SecretsManager::SecretTargetAttachment')) {
  if (analyticsSecretIds.has(refTo(r.Properties?.SecretId))) analyticsSecretIds.add(id);
}
check('app function: grantConnect lets its role read the analytics secret, and no other', () => {
  if (!reporter) return 'no reporter function';
  const roleId = refTo(reporter[1].Properties.Role);
  const statements = ofType('AWS::IAM::Policy')
    .filter(([, p]) => (p.Properties.Roles ?? []).some((r) => refTo(r) === roleId))
    .flatMap(([, p]) => p.Properties.PolicyDocument.Statement);
  const secretReads = statements.filter((s) => [].concat(s.Action).includes('secretsmanager:GetSecretValue'));
  const targets = secretReads.flatMap((s) => [].concat(s.Resource)).map(refTo);
  if (targets.length === 0) return 'no secretsmanager:GetSecretValue in its role';
  const other = targets.filter((t) => !analyticsSecretIds.has(t));
  return other.length ? `also reads ${other.join(', ')}` : undefined;
});
check('app function: AnalyticsApi.grantInvoke gives its role execute-api:Invoke on the API', () => {
  if (!reporter) return 'no reporter function';
  const roleId = refTo(reporter[1].Properties.Role);
  const apiId = ofType('AWS::ApiGateway::RestApi')[0]?.[0];
  const ok = ofType('AWS::IAM::Policy')
    .filter(([, p]) => (p.Properties.Roles ?? []).some((r) => refTo(r) === roleId))
    .flatMap(([, p]) => p.Properties.PolicyDocument.Statement)
    .some((st) => [].concat(st.Action).includes('execute-api:Invoke') && JSON.stringify(st.Resource).includes(`"${apiId}"`));
  return ok ? undefined : `no execute-api:Invoke on ${apiId} in its role`;
});
check('app function: grantConnect opens the store port to its security group', () => {
  if (!reporter) return 'no reporter function';
  const sgIds = (reporter[1].Properties.VpcConfig?.SecurityGroupIds ?? []).map(refTo);
  const ok = ofType('AWS::EC2::SecurityGroupIngress').some(([, r]) =>
    r.Properties.FromPort === 5432 && sgIds.includes(refTo(r.Properties.SourceSecurityGroupId)));
  return ok ? undefined : `no ingress on 5432 from ${sgIds.join(', ') || 'its (missing) security group'}`;
});

console.log(`check-assembly ${stack}: ${passed} passed, ${failed} failed`);
process.exit(Math.min(failed, 100));
