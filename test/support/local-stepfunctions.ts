/**
 * The tests' Step Functions: the sandbox's own (sandbox/src/step-functions.ts: the synthesized ASL
 * run by aws-local-stepfunctions, tasks bound to the local services), in-process. The template is
 * read by the sandbox's resolver (its local names and ARNs), its state machines and rules added as
 * the sandbox adds them; Lambda tasks call the test's handlers in this process
 * (sandbox/src/lambda-in-process.ts); DynamoDB tasks go to the test's dynalite, SNS tasks to the
 * test's SNS; status changes reach the template's rules (the unfinished-job marker) through the
 * sandbox's EventBridge and target routing. StartExecution / DescribeExecution / StopExecution are
 * served on the sandbox's local AWS endpoint (point AWS_ENDPOINT_URL_SFN at `endpoint`).
 */
import { LocalAwsApi } from '../../sandbox/src/aws-api';
import { LocalEventBridge } from '../../sandbox/src/eventbridge';
import { InProcessFunction, InProcessLambdas } from '../../sandbox/src/lambda-in-process';
import type { LocalSns } from '../../sandbox/src/messaging';
import { LocalQueues } from '../../sandbox/src/queues';
import { StackModel, stackModels } from '../../sandbox/src/resolver';
import { ruleOf } from '../../sandbox/src/services/eventbridge';
import { functionSettings } from '../../sandbox/src/services/lambda';
import { addStateMachine } from '../../sandbox/src/services/stepfunctions';
import { Targets } from '../../sandbox/src/services/targets';
import { LocalStepFunctions } from '../../sandbox/src/step-functions';

export interface CfnTemplate {
  readonly Resources: Record<string, { readonly Type: string; readonly Properties?: any }>;
}

/** A handler bound to a function of the template (by logical id). */
export type LocalFunction = Pick<InProcessFunction, 'handler' | 'beforeInvoke'>;

const region = 'us-east-1';
const accountId = '123456789012';

/** The template as the sandbox resolves it: `ref(id)` is a table's name, a topic's or state machine's ARN. */
export function localModel(template: CfnTemplate): StackModel {
  return stackModels([{ id: 'Test', stackName: 'Test', template }], { region, accountId }, {})[0];
}

export interface LocalStepFunctionsOptions {
  readonly model: StackModel;
  /** Handlers by the logical id of their AWS::Lambda::Function. */
  readonly functions: Record<string, LocalFunction>;
  /** The endpoint DynamoDB tasks call (the test's dynalite). */
  readonly dynamodbEndpoint: string;
  /** The S3 that `aws-sdk:s3:*` tasks and Distributed Maps' ItemReader/ResultWriter use (the test's, see ./local-s3.ts). */
  readonly s3Endpoint?: string;
  /** The SNS that `sns:publish` tasks publish to (the test's, see ./local-sns.ts). */
  readonly sns: LocalSns;
  /** Wait between retries in ms (default 0: no waiting). */
  readonly retryIntervalMs?: number;
}

export interface LocalWorkflow {
  readonly sfn: LocalStepFunctions;
  readonly lambdas: InProcessLambdas;
  /** The local AWS endpoint serving the Step Functions API. */
  readonly endpoint: string;
  close(): Promise<void>;
}

export async function startLocalStepFunctions(options: LocalStepFunctionsOptions): Promise<LocalWorkflow> {
  const { model } = options;
  const lambdas = new InProcessLambdas();
  for (const [id, fn] of Object.entries(options.functions)) lambdas.add({ ...functionSettings(model, id), ...fn });
  const targets = new Targets();
  const events = new LocalEventBridge(region, accountId, (target, input, rule) => targets.deliver(target.Arn, input, `rule ${rule.name}`));
  for (const [id] of model.ofType('AWS::Events::Rule')) events.addRule(ruleOf(model, id));
  const queues = new LocalQueues();
  const api = new LocalAwsApi();
  const sfn = new LocalStepFunctions({
    region,
    account: accountId,
    sns: options.sns,
    events,
    queues,
    invokeLambda: (fn, payload) => lambdas.invoke(fn, payload),
    endpointFor: (service) => (service === 'dynamodb' ? options.dynamodbEndpoint : service === 's3' && options.s3Endpoint ? options.s3Endpoint : api.endpoint),
    retryIntervalMs: options.retryIntervalMs ?? 0,
  });
  for (const [id] of model.ofType('AWS::StepFunctions::StateMachine')) addStateMachine(sfn, model, id);
  targets.bind({ lambdas, queues, sns: options.sns, stepFunctions: sfn, events, logLine: () => undefined });
  sfn.register(api);
  const endpoint = await api.listen(0);
  return {
    sfn,
    lambdas,
    endpoint,
    async close() {
      await sfn.stop();
      await lambdas.settle();
      await Promise.all([api.close(), queues.stop()]);
    },
  };
}
