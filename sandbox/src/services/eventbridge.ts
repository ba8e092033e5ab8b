/**
 * EventBridge and EventBridge Scheduler: the template's rules (event patterns matched on any bus,
 * targets invoked with Input / InputPath / InputTransformer) and schedules, run on demand
 * (`cdp-sandbox trigger <name>`); every event put on a bus is logged to logs/events.log.
 */
import * as fs from 'fs';
import * as path from 'path';
import { AwsError } from '../aws-api';
import { LocalEventBridge, LocalRule, RuleTarget } from '../eventbridge';
import type { StackModel } from '../resolver';
import { resourcesOfType, SandboxService, ServiceContext } from './service';
import type { Targets } from './targets';

/** An AWS::Events::Rule of the template, its pattern and targets resolved. */
export function ruleOf(model: StackModel, logicalId: string): LocalRule {
  const p = model.properties(logicalId);
  const bus = String(p.EventBusName ?? 'default');
  return {
    id: `${model.stackName}/${logicalId}`,
    name: String(model.ref(logicalId)).split('|').pop()!,
    bus: bus.startsWith('arn:') ? bus.split('/').pop()! : bus,
    pattern: typeof p.EventPattern === 'string' ? JSON.parse(p.EventPattern) : p.EventPattern,
    schedule: p.ScheduleExpression,
    enabled: (p.State ?? 'ENABLED') === 'ENABLED',
    targets: (p.Targets ?? []) as RuleTarget[],
  };
}

export class EventBridgeService implements SandboxService {
  readonly name = 'events';
  readonly resourceTypes = ['AWS::Events::EventBus', 'AWS::Events::Rule', 'AWS::Events::EventBusPolicy', 'AWS::Events::Archive', 'AWS::Scheduler::Schedule', 'AWS::Scheduler::ScheduleGroup'];
  readonly events: LocalEventBridge;
  private readonly log: fs.WriteStream;

  constructor(private readonly ctx: ServiceContext, targets: Targets) {
    this.log = fs.createWriteStream(path.join(ctx.logsDir, 'events.log'), { flags: 'a' });
    this.events = new LocalEventBridge(ctx.region, ctx.accountId, (target, input, rule) => targets.deliver(target.Arn, input, `rule ${rule.name}`),
      (rule, target, error) => ctx.print(`  ✘ rule ${rule.name} → ${target.Arn.split(':').pop()}: ${error.message}`));
    this.events.register(ctx.api);
    this.events.onEvent((e) => this.logLine(`${e.event.time} bus=${e.bus} ${e.event.source} "${e.event['detail-type']}" rules=[${e.rules.join(',')}] ${JSON.stringify(e.event.detail).slice(0, 2000)}`));
    ctx.api.route('POST', /^\/_sandbox\/trigger\/(.+)$/, (_r, m) => {
      try {
        const rule = this.events.trigger(decodeURIComponent(m[1]));
        return { status: 200, headers: { 'content-type': 'application/json' }, body: JSON.stringify({ triggered: rule.id, targets: rule.targets.map((t) => t.Arn) }) };
      } catch (error) {
        throw new AwsError('ResourceNotFoundException', (error as Error).message, 404);
      }
    });
  }

  logLine(line: string): void {
    this.log.write(`${line}\n`);
  }

  async provision(): Promise<void> {
    for (const { model, id } of resourcesOfType(this.ctx.models, 'AWS::Events::Rule')) this.events.addRule(ruleOf(model, id));
    for (const { model, id } of resourcesOfType(this.ctx.models, 'AWS::Scheduler::Schedule')) {
      const p = model.properties(id);
      this.events.addRule({
        id: `${model.stackName}/${id}`,
        name: String(model.ref(id)),
        bus: '(scheduler)',
        schedule: p.ScheduleExpression,
        enabled: (p.State ?? 'ENABLED') === 'ENABLED',
        targets: [{ Id: 'target', Arn: String(p.Target?.Arn), Input: p.Target?.Input }],
      });
    }
  }

  /** Scheduled rules and schedules (run on demand). */
  schedules(): Array<{ id: string; expression: string }> {
    return this.events.rules.filter((r) => r.schedule).map((r) => ({ id: r.id.split('/').pop()!, expression: String(r.schedule) }));
  }

  describe(): unknown {
    return { rules: this.events.rules.length, schedules: this.schedules(), log: path.join(this.ctx.logsDir, 'events.log') };
  }

  async stop(): Promise<void> {
    await new Promise<void>((r) => this.log.end(() => r()));
  }
}
