/**
 * SQS: the template's queues (visibility timeout, receive counts, redrive to the dead-letter
 * queue) and the Lambda event source mappings that poll them; the SQS API for operators
 * (ListQueues, GetQueueAttributes, the DLQ redrive); a line printed when a message moves to a
 * dead-letter queue; depths in `info`.
 */
import type { LambdaRuntime } from '../lambda-runtime';
import { LocalQueues, MappingSpec } from '../queues';
import type { UploadTracker } from '../uploads';
import { resourcesOfType, SandboxService, ServiceContext } from './service';

export class SqsService implements SandboxService {
  readonly name = 'sqs';
  readonly resourceTypes = ['AWS::SQS::Queue', 'AWS::SQS::QueuePolicy', 'AWS::Lambda::EventSourceMapping'];
  readonly queues = new LocalQueues();
  readonly mappings: MappingSpec[] = [];
  private lambdas: LambdaRuntime | undefined;

  constructor(private readonly ctx: ServiceContext, uploads: UploadTracker) {
    this.queues.register(ctx.api);
    this.queues.onBatch((o) => {
      for (const origin of o.origins) uploads.finished(origin, o.functionName, o.failed > 0 ? o.error ?? 'the function reported the record as failed' : undefined);
    });
    this.queues.onDeadLetter((m) => ctx.print(`  ⚠ message ${m.messageId}${m.origin ? ` (s3://${m.origin})` : ''} moved to the dead-letter queue ${m.to} after ${m.receiveCount} receives from ${m.from}`));
  }

  /** The functions the mappings invoke (bound once they exist). */
  bindFunctions(lambdas: LambdaRuntime): void {
    this.lambdas = lambdas;
  }

  async provision(): Promise<void> {
    for (const { model, id } of resourcesOfType(this.ctx.models, 'AWS::SQS::Queue')) {
      const p = model.properties(id);
      this.queues.add({
        arn: String(model.getAtt(id, 'Arn')),
        name: String(model.getAtt(id, 'QueueName')),
        url: String(model.ref(id)),
        visibilityTimeoutSeconds: Number(p.VisibilityTimeout ?? 30),
        deadLetter: p.RedrivePolicy
          ? { arn: String(p.RedrivePolicy.deadLetterTargetArn), maxReceiveCount: Number(p.RedrivePolicy.maxReceiveCount) }
          : undefined,
        createdAt: Date.now(),
      });
    }
    for (const { model, id } of resourcesOfType(this.ctx.models, 'AWS::Lambda::EventSourceMapping')) {
      const p = model.properties(id);
      const source = String(p.EventSourceArn ?? '');
      if (!source.includes(':sqs:')) {
        this.ctx.warnings.push(`${model.stackName}/${id}: event source ${source} is not run by the sandbox (SQS only)`);
        continue;
      }
      this.mappings.push({
        id,
        queueArn: source,
        functionName: String(p.FunctionName),
        batchSize: Number(p.BatchSize ?? 10),
        batchingWindowSeconds: Number(p.MaximumBatchingWindowInSeconds ?? 0),
        maximumConcurrency: Number(p.ScalingConfig?.MaximumConcurrency ?? 2),
        reportBatchItemFailures: (p.FunctionResponseTypes ?? []).includes('ReportBatchItemFailures'),
        enabled: p.Enabled !== false && p.Enabled !== 'false',
      });
    }
  }

  start(): void {
    const lambdas = this.lambdas;
    if (!lambdas) return;
    for (const mapping of this.mappings) this.queues.startMapping(mapping, (fn, event) => lambdas.invoke(fn, event));
  }

  /** The function a queue's mapping invokes. */
  consumerOf(queueArn: string): string | undefined {
    return this.mappings.find((m) => m.queueArn === queueArn)?.functionName;
  }

  /** Each queue's depth (visible, in flight) and, for dead-letter queues, which queues they serve. */
  describe(): unknown {
    return this.queues.all().map((q) => {
      const { visible, inFlight } = q.counts();
      const sources = this.queues.sourcesOf(q.spec.arn).map((s) => s.spec.name);
      return {
        name: q.spec.name,
        url: q.spec.url,
        arn: q.spec.arn,
        visible,
        inFlight,
        ...(q.spec.deadLetter ? { deadLetterQueue: q.spec.deadLetter.arn.split(':').pop(), movedToDeadLetterQueue: q.redriven } : {}),
        ...(sources.length ? { deadLetterQueueOf: sources } : {}),
      };
    });
  }

  async stop(): Promise<void> {
    await this.queues.stop();
  }
}
