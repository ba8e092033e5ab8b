import { Aws, CfnMapping, Stack, Token } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import { Construct } from 'constructs';

/** Foundation model id of Amazon Nova Lite. */
const NOVA_LITE = 'amazon.nova-lite-v1:0';

/**
 * The cross-region inference profiles of Amazon Nova Lite, per source region: the profile to
 * call and the regions it may route requests to (its foundation-model ARNs must be allowed in
 * each). From the Bedrock documentation at the time of this release; when AWS extends a
 * profile, pass it with `BedrockModel.inferenceProfile(...)` until the library is updated.
 */
const NOVA_LITE_GEOGRAPHIES: { [geo: string]: { readonly sources: string[]; readonly destinations: string[] } } = {
  us: { sources: ['us-east-1', 'us-east-2', 'us-west-2'], destinations: ['us-east-1', 'us-east-2', 'us-west-2'] },
  eu: {
    sources: ['eu-central-1', 'eu-north-1', 'eu-south-1', 'eu-south-2', 'eu-west-1', 'eu-west-3'],
    destinations: ['eu-central-1', 'eu-north-1', 'eu-south-1', 'eu-south-2', 'eu-west-1', 'eu-west-3'],
  },
  apac: {
    sources: ['ap-northeast-1', 'ap-northeast-2', 'ap-northeast-3', 'ap-south-1', 'ap-south-2', 'ap-southeast-1', 'ap-southeast-2'],
    destinations: ['ap-northeast-1', 'ap-northeast-2', 'ap-northeast-3', 'ap-south-1', 'ap-south-2', 'ap-southeast-1', 'ap-southeast-2'],
  },
};

/** Columns `Destination1..N` of the mapping (a profile with fewer regions repeats its last one). */
const MAX_DESTINATIONS = Math.max(...Object.values(NOVA_LITE_GEOGRAPHIES).map((g) => g.destinations.length));
const MAPPING_ID = 'NovaLiteInferenceProfiles';

/** The regions where the default model (Amazon Nova Lite through its inference profile) can be used. */
export function novaLiteRegions(): string[] {
  return Object.values(NOVA_LITE_GEOGRAPHIES).flatMap((g) => g.sources).sort();
}

function novaLiteMapping(scope: Construct): CfnMapping {
  const stack = Stack.of(scope);
  const existing = stack.node.tryFindChild(MAPPING_ID);
  if (existing) return existing as CfnMapping;
  const mapping: { [region: string]: { [key: string]: string } } = {};
  for (const [geo, g] of Object.entries(NOVA_LITE_GEOGRAPHIES)) {
    for (const region of g.sources) {
      const row: { [key: string]: string } = { ProfileId: `${geo}.${NOVA_LITE}` };
      for (let i = 0; i < MAX_DESTINATIONS; i++) row[`Destination${i + 1}`] = g.destinations[Math.min(i, g.destinations.length - 1)];
      mapping[region] = row;
    }
  }
  // lazy: resolved at synth for a stack with a concrete region (and not written to the template);
  // Fn::FindInMap on AWS::Region at deploy time for an environment-agnostic stack.
  return new CfnMapping(stack, MAPPING_ID, { mapping, lazy: true });
}

/** What a model needs at run time and in IAM. */
export interface BoundBedrockModel {
  /** `modelId` for Converse: a model id or an inference profile id. */
  readonly modelId: string;
  /** The statements that allow `bedrock:InvokeModel` on exactly this model. */
  readonly statements: iam.PolicyStatement[];
  /** True for the library's default model (its prices are the default prices). */
  readonly isDefault: boolean;
}

/**
 * The Bedrock model the analyzer calls through the Converse API, and the IAM statements that
 * allow exactly that: `bedrock:InvokeModel` on the model, or on the inference profile and its
 * foundation model in each region the profile routes to (only through that profile).
 */
export class BedrockModel {
  /**
   * Amazon Nova Lite through the cross-region inference profile of the stack's geography
   * (`us.`, `eu.` or `apac.amazon.nova-lite-v1:0`), chosen with a mapping on the region: at synth
   * time for a stack with a region, at deploy time (`Fn::FindInMap` on `AWS::Region`) for an
   * environment-agnostic stack. Deploying to a region without a Nova Lite profile fails; use
   * another model there.
   */
  public static novaLite(): BedrockModel {
    return new BedrockModel('nova-lite', (scope) => {
      const stack = Stack.of(scope);
      const mapping = novaLiteMapping(scope);
      if (!Token.isUnresolved(stack.region) && !novaLiteRegions().includes(stack.region)) {
        throw new Error(`Amazon Nova Lite has no cross-region inference profile known for ${stack.region} `
          + `(known: ${novaLiteRegions().join(', ')}); pass model: BedrockModel.foundationModel(...) or BedrockModel.inferenceProfile(...)`);
      }
      const profileId = mapping.findInMap(stack.region, 'ProfileId');
      const regions = Array.from({ length: MAX_DESTINATIONS }, (_, i) => mapping.findInMap(stack.region, `Destination${i + 1}`));
      return { modelId: profileId, statements: profileStatements(profileId, NOVA_LITE, regions), isDefault: true };
    });
  }

  /**
   * A foundation model invoked directly (on-demand throughput) in the stack's region, e.g.
   * `amazon.nova-micro-v1:0`. Models that are offered through inference profiles only need
   * `inferenceProfile(...)`.
   */
  public static foundationModel(modelId: string): BedrockModel {
    validateId(modelId, 'modelId');
    return new BedrockModel(modelId, () => ({
      modelId,
      statements: [new iam.PolicyStatement({
        sid: 'InvokeBedrockModel',
        actions: ['bedrock:InvokeModel'],
        resources: [`arn:${Aws.PARTITION}:bedrock:${Aws.REGION}::foundation-model/${modelId}`],
      })],
      isDefault: false,
    }));
  }

  /**
   * A (system-defined) cross-region inference profile, e.g. `eu.anthropic.claude-3-haiku-20240307-v1:0`,
   * with the foundation model it routes to and the regions it may route to (from the profile's
   * description in the Bedrock documentation or `aws bedrock get-inference-profile`).
   *
   * @param profileId        the inference profile id, called as the `modelId`
   * @param foundationModelId the model the profile serves, e.g. `anthropic.claude-3-haiku-20240307-v1:0`
   * @param regions          every destination region of the profile
   */
  public static inferenceProfile(profileId: string, foundationModelId: string, regions: string[]): BedrockModel {
    validateId(profileId, 'profileId');
    validateId(foundationModelId, 'foundationModelId');
    if (regions.length === 0) throw new Error('inferenceProfile: regions must list the regions the profile routes to');
    for (const r of regions) {
      if (!Token.isUnresolved(r) && !/^[a-z]{2}(-gov)?-[a-z]+-\d$/.test(r)) throw new Error(`inferenceProfile: "${r}" is not a region name`);
    }
    return new BedrockModel(profileId, () => ({
      modelId: profileId,
      statements: profileStatements(profileId, foundationModelId, regions),
      isDefault: false,
    }));
  }

  private constructor(
    /** A short description of the model, for messages. */
    public readonly description: string,
    private readonly binder: (scope: Construct) => BoundBedrockModel,
  ) {}

  /**
   * The model id and IAM statements for a construct in `scope`.
   *
   * @internal
   */
  public _bind(scope: Construct): BoundBedrockModel {
    return this.binder(scope);
  }
}

function validateId(id: string, name: string): void {
  if (!Token.isUnresolved(id) && !/^[a-z0-9][a-z0-9.:_-]{2,199}$/i.test(id)) throw new Error(`${name} "${id}" is not a Bedrock model or profile id`);
}

function profileStatements(profileId: string, foundationModelId: string, regions: string[]): iam.PolicyStatement[] {
  const profileArn = `arn:${Aws.PARTITION}:bedrock:${Aws.REGION}:${Aws.ACCOUNT_ID}:inference-profile/${profileId}`;
  return [
    new iam.PolicyStatement({
      sid: 'InvokeBedrockInferenceProfile',
      actions: ['bedrock:InvokeModel'],
      resources: [profileArn],
    }),
    new iam.PolicyStatement({
      sid: 'InvokeBedrockModelThroughProfile',
      actions: ['bedrock:InvokeModel'],
      resources: Array.from(new Set(regions)).map((r) => `arn:${Aws.PARTITION}:bedrock:${r}::foundation-model/${foundationModelId}`),
      // Only through the profile: the role cannot call the model in those regions directly.
      conditions: { StringLike: { 'bedrock:InferenceProfileArn': profileArn } },
    }),
  ];
}
