/**
 * Optional CI/CD for the example: a self-mutating CDK Pipelines pipeline (CodePipeline +
 * CodeBuild) that takes the repository from a CodeStar (CodeConnections) connection, synthesizes
 * the app, runs the tests, and deploys the data pipeline stage.
 *
 *   npx cdk deploy ServerlessDataPipelineCicd -c pipeline=true \
 *     -c connectionArn=arn:aws:codeconnections:REGION:ACCOUNT:connection/ID -c repo=owner/name [-c branch=main]
 *
 * Deploy it once by hand; from then on every push to the branch updates the pipeline itself
 * (self-mutation) and then the system.
 */
import { Duration, Stack, StackProps, Stage, StageProps } from 'aws-cdk-lib';
import * as codebuild from 'aws-cdk-lib/aws-codebuild';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as kms from 'aws-cdk-lib/aws-kms';
import * as s3 from 'aws-cdk-lib/aws-s3';
import * as pipelines from 'aws-cdk-lib/pipelines';
import { NagPackSuppression, NagSuppressions } from 'cdk-nag-v2';
import { Construct, IConstruct } from 'constructs';
import { DataPipelineStack, DataPipelineStackProps } from './data-pipeline-stack';

/** A deployment of the example system, as a CDK Pipelines stage. */
export interface DataPipelineStageProps extends StageProps {
  /**
   * Settings of the system's stack.
   *
   * @default - the example's defaults
   */
  readonly dataPipeline?: DataPipelineStackProps;
}

/** The stage the pipeline deploys: the example system's stack. */
export class DataPipelineStage extends Stage {
  public readonly stack: DataPipelineStack;

  constructor(scope: Construct, id: string, props: DataPipelineStageProps = {}) {
    super(scope, id, props);
    this.stack = new DataPipelineStack(this, 'DataPipeline', {
      description: 'cdk-serverless-data-pipeline example (deployed by the pipeline)',
      ...props.dataPipeline,
    });
  }
}

/** Settings of the pipeline stack. */
export interface PipelineStackProps extends StackProps {
  /** ARN of the CodeStar / CodeConnections connection to the Git provider (created and authorized in the console). */
  readonly connectionArn: string;

  /** The repository, `owner/name`. */
  readonly repository: string;

  /**
   * Branch that triggers the pipeline.
   *
   * @default 'main'
   */
  readonly branch?: string;

  /**
   * Settings of the deployed system's stack; passed on to the synth step as context so that the
   * pipeline rebuilds exactly the app it was deployed from.
   *
   * @default - the example's defaults
   */
  readonly dataPipeline?: DataPipelineStackProps;

  /**
   * Extra `-c key=value` context the synth step passes to `cdk synth` (the settings of the
   * system, e.g. `{ alertEmail: 'ops@example.com' }`).
   *
   * @default - none
   */
  readonly synthContext?: { [key: string]: string };
}

/** A self-mutating CodePipeline: source → synth → tests → deploy the data pipeline stage. */
export class PipelineStack extends Stack {
  public readonly pipeline: pipelines.CodePipeline;
  public readonly stage: DataPipelineStage;
  /** Build artifacts: KMS-encrypted, versioned, access-logged. */
  public readonly artifactBucket: s3.Bucket;
  public readonly artifactKey: kms.Key;
  public readonly accessLogsBucket: s3.Bucket;

  constructor(scope: Construct, id: string, props: PipelineStackProps) {
    super(scope, id, props);
    if (!/^[\w.-]+\/[\w.-]+$/.test(props.repository)) {
      throw new Error(`repository must be "owner/name", got "${props.repository}"`);
    }
    const branch = props.branch ?? 'main';
    const source = pipelines.CodePipelineSource.connection(props.repository, branch, { connectionArn: props.connectionArn });

    // The synth step runs the same app with the same context, so it rebuilds this pipeline too.
    const context: { [key: string]: string } = {
      pipeline: 'true',
      connectionArn: props.connectionArn,
      repo: props.repository,
      branch,
      ...props.synthContext,
    };
    const contextArgs = Object.entries(context).map(([k, v]) => `-c ${k}=${shellQuote(v)}`).join(' ');

    this.artifactKey = new kms.Key(this, 'ArtifactKey', {
      description: 'Example data pipeline CI/CD: build artifacts',
      enableKeyRotation: true,
    });
    this.accessLogsBucket = new s3.Bucket(this, 'AccessLogsBucket', {
      // Server access logs can only be delivered to a bucket encrypted with S3-managed keys.
      encryption: s3.BucketEncryption.S3_MANAGED,
      enforceSSL: true,
      blockPublicAccess: s3.BlockPublicAccess.BLOCK_ALL,
      versioned: true,
      lifecycleRules: [{ expiration: Duration.days(365), noncurrentVersionExpiration: Duration.days(30) }],
    });
    this.artifactBucket = new s3.Bucket(this, 'ArtifactBucket', {
      encryptionKey: this.artifactKey,
      bucketKeyEnabled: true,
      enforceSSL: true,
      blockPublicAccess: s3.BlockPublicAccess.BLOCK_ALL,
      versioned: true,
      serverAccessLogsBucket: this.accessLogsBucket,
      serverAccessLogsPrefix: 'artifacts/',
      lifecycleRules: [{ noncurrentVersionExpiration: Duration.days(30) }],
    });

    this.pipeline = new pipelines.CodePipeline(this, 'Pipeline', {
      selfMutation: true,
      artifactBucket: this.artifactBucket,
      // One CodeBuild project publishes all file assets.
      publishAssetsInParallel: false,
      synth: new pipelines.ShellStep('Synth', {
        input: source,
        installCommands: ['npm ci'],
        commands: [`npx cdk synth ${contextArgs}`],
        primaryOutputDirectory: 'cdk.out',
      }),
      codeBuildDefaults: {
        // Node.js 20 (the project's minimum) on the standard 7.0 image.
        partialBuildSpec: codebuild.BuildSpec.fromObject({ phases: { install: { 'runtime-versions': { nodejs: '20' } } } }),
        buildEnvironment: {
          buildImage: codebuild.LinuxBuildImage.STANDARD_7_0,
          computeType: codebuild.ComputeType.MEDIUM,
        },
        timeout: Duration.minutes(30),
      },
    });

    this.stage = new DataPipelineStage(this, 'Deploy', { dataPipeline: props.dataPipeline });
    this.pipeline.addStage(this.stage, {
      // The README's test command, on the same commit, before anything is deployed.
      pre: [new pipelines.ShellStep('Test', {
        input: source,
        installCommands: ['npm ci'],
        commands: ['npm test'],
      })],
    });
    // Build the CodePipeline now, so that its generated roles and projects can be reviewed.
    this.pipeline.buildPipeline();
    this.acknowledgeNagFindings();
  }

  /**
   * cdk-nag findings on what CDK Pipelines generates, accepted by design: each on one resource,
   * granular findings listed (or matched) one by one.
   */
  private acknowledgeNagFindings(): void {
    const pipelineRoot = this.pipeline.node;
    const policies = pipelineRoot.findAll()
      .filter((c): c is iam.Policy => c instanceof iam.Policy && c.node.id === 'DefaultPolicy');
    for (const policy of policies) {
      const path = policy.node.path;
      acknowledge(policy, 'HIPAA.Security-IAMNoInlinePolicy',
        'Generated by CDK Pipelines for one pipeline role each; an inline policy keeps each role\'s permissions with that role');
      if (path.endsWith('/CodeBuildActionRole/DefaultPolicy')) continue; // starts the builds: no wildcard
      const selfMutation = path.includes('/UpdatePipeline/SelfMutation/');
      const assets = path.includes('/Assets/');
      const buildProject = selfMutation || assets || path.includes('/Build/Synth/') || path.includes('/Deploy/Test/');
      // CDK's grants on the artifact bucket (and its key): read / write / list the build artifacts.
      const appliesTo: Array<string | { regex: string }> = [
        { regex: '/^Action::s3:(GetObject|GetBucket|List|DeleteObject|Abort)\\*$/' },
        { regex: '/^Resource::<ArtifactBucket[0-9A-F]{8}\\.Arn>\\/\\*$/' },
      ];
      if (!assets) appliesTo.push({ regex: '/^Action::kms:(GenerateDataKey|ReEncrypt)\\*$/' });
      if (buildProject) {
        // A CodeBuild project's own log groups and report groups (named after the project).
        appliesTo.push(
          { regex: '/^Resource::arn:<AWS::Partition>:logs:<AWS::Region>:<AWS::AccountId>:log-group:\\/aws\\/codebuild\\/.+$/' },
          { regex: '/^Resource::arn:<AWS::Partition>:codebuild:<AWS::Region>:<AWS::AccountId>:report-group\\/.+$/' },
        );
      }
      if (selfMutation || assets) appliesTo.push('Resource::*');
      if (selfMutation) appliesTo.push('Resource::arn:*:iam::<AWS::AccountId>:role/*');
      const reason = selfMutation
        ? 'CDK Pipelines self-mutation: describes stacks and lists buckets (no resource-level permissions), assumes only the CDK bootstrap roles (tag-conditioned), and uses the artifact bucket, its key and its own CodeBuild logs'
        : assets
          ? 'CDK Pipelines asset publishing: starts and watches its CodeBuild builds (no resource-level permissions), reads the artifact bucket, writes its own CodeBuild logs and reports'
          : 'CDK Pipelines: the pipeline and its build steps read and write the build artifacts in the artifact bucket (CDK grant wildcards) and their own CodeBuild log and report groups';
      acknowledge(policy, 'AwsSolutions-IAM5', reason, appliesTo);
    }
    for (const project of pipelineRoot.findAll().filter((c): c is codebuild.CfnProject => c instanceof codebuild.CfnProject)) {
      acknowledge(project, 'HIPAA.Security-CodeBuildProjectSourceRepoUrl',
        'The project\'s source is the pipeline artifact (source type CODEPIPELINE) from the CodeStar connection: no repository URL and no credentials in the project');
    }
    acknowledge(this.artifactBucket, 'HIPAA.Security-S3BucketReplicationEnabled',
      'Build artifacts are reproducible from the repository at any commit: no cross-region replica is needed');
    acknowledge(this.accessLogsBucket, 'HIPAA.Security-S3BucketReplicationEnabled',
      'Access logs of the build artifact bucket: kept in one region with the pipeline');
    acknowledge(this.accessLogsBucket, 'HIPAA.Security-S3DefaultEncryptionKMS',
      'S3 delivers server access logs only to buckets encrypted with S3-managed keys (SSE-S3), not SSE-KMS');
  }
}

function acknowledge(resource: IConstruct, id: string, reason: string, appliesTo?: NagPackSuppression['appliesTo']): void {
  NagSuppressions.addResourceSuppressions(resource, [{ id, reason, appliesTo }]);
}

/** Single-quotes a value for the shell of the CodeBuild step. */
function shellQuote(value: string): string {
  return /^[\w.:/@=+-]+$/.test(value) ? value : `'${value.replace(/'/g, '\'\\\'\'')}'`;
}
