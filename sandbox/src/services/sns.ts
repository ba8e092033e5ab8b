/**
 * SNS and SES: the template's topics and subscriptions (Lambda and SQS subscribers receive the
 * notification as in the cloud), SES v2 SendEmail; every message and e-mail lands in the outbox.
 */
import * as fs from 'fs';
import * as path from 'path';
import { LocalSes, LocalSns, Outbox, Subscription } from '../messaging';
import { resourcesOfType, SandboxService, ServiceContext } from './service';
import type { Targets } from './targets';

export class SnsService implements SandboxService {
  readonly name = 'sns';
  readonly resourceTypes = ['AWS::SNS::Topic', 'AWS::SNS::Subscription', 'AWS::SNS::TopicPolicy', 'AWS::SES::EmailIdentity', 'AWS::SES::ConfigurationSet'];
  readonly outbox: Outbox;
  readonly sns: LocalSns;

  constructor(private readonly ctx: ServiceContext, targets: Targets) {
    this.outbox = new Outbox(path.join(ctx.stateDir, 'outbox'));
    for (const f of fs.readdirSync(this.outbox.directory)) fs.rmSync(path.join(this.outbox.directory, f), { force: true });
    this.sns = new LocalSns(this.outbox, async (sub, notification, message) => {
      if (sub.protocol === 'lambda') {
        await targets.invoke(sub.endpoint, { Records: [{ EventSource: 'aws:sns', EventVersion: '1.0', EventSubscriptionArn: `${sub.topicArn}:local`, Sns: notification }] }, `SNS → ${sub.endpoint}`);
      } else if (sub.protocol === 'sqs') {
        await targets.deliver(sub.endpoint, sub.rawMessageDelivery ? message : JSON.stringify(notification), `SNS ${sub.topicArn}`);
      }
    }, ctx.region);
    this.sns.register(ctx.api);
    new LocalSes(this.outbox).register(ctx.api);
    this.outbox.onEntry((e) => ctx.print(`  ✉ ${e.kind === 'email' ? `e-mail to ${e.to.join(', ') || '(no recipient)'}` : 'SNS message'}: ${e.subject} → ${path.relative(ctx.cwd, e.file)}`));
  }

  async provision(): Promise<void> {
    for (const { model, id } of resourcesOfType(this.ctx.models, 'AWS::SNS::Topic')) {
      const arn = String(model.ref(id));
      this.sns.addTopic(arn, String(model.getAtt(id, 'TopicName')));
      for (const s of model.properties(id).Subscription ?? []) this.sns.subscribe({ topicArn: arn, protocol: s.Protocol, endpoint: s.Endpoint });
    }
    for (const { model, id } of resourcesOfType(this.ctx.models, 'AWS::SNS::Subscription')) {
      const p = model.properties(id);
      const sub: Subscription = { topicArn: String(p.TopicArn), protocol: String(p.Protocol), endpoint: String(p.Endpoint), filterPolicy: p.FilterPolicy, rawMessageDelivery: p.RawMessageDelivery === true || p.RawMessageDelivery === 'true' };
      this.sns.subscribe(sub);
    }
  }

  describe(): unknown {
    return { topics: [...this.sns.topics.values()].map((t) => t.name), outbox: this.outbox.directory };
  }

  async stop(): Promise<void> {
    // in memory; the outbox stays for reading
  }
}
