/**
 * `logEncryptionKey` in a template: the `KmsKeyId` of the log groups a construct creates, and the
 * statements of a key policy that let CloudWatch Logs use the key.
 */
import { Stack } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import * as kms from 'aws-cdk-lib/aws-kms';
import * as logs from 'aws-cdk-lib/aws-logs';
import { IConstruct } from 'constructs';

/** Props with `logEncryptionKey`, a new key of the stack, or without it. */
export function logKeyProps(withKey: boolean): (stack: Stack) => { logEncryptionKey?: kms.IKey } {
  return (stack) => (withKey ? { logEncryptionKey: new kms.Key(stack, 'LogsKey') } : {});
}

/** The template's `KmsKeyId` of each log group under `scope` (undefined: none), by logical id. */
export function logGroupKeys(template: Template, scope: IConstruct): { [logicalId: string]: unknown } {
  const stack = Stack.of(scope);
  const groups = template.findResources('AWS::Logs::LogGroup');
  const ids = scope.node.findAll().filter((c) => c instanceof logs.CfnLogGroup).map((c) => stack.resolve((c as logs.CfnLogGroup).logicalId));
  return Object.fromEntries(ids.map((id: string) => [id, groups[id].Properties.KmsKeyId]));
}

/** The key's ARN as the template references it. */
export function keyArnOf(key: kms.IKey): unknown {
  return Stack.of(key).resolve(key.keyArn);
}

/** The statements of the key's policy whose principal is CloudWatch Logs. */
export function cloudWatchLogsStatements(template: Template, key: kms.Key): any[] {
  const id = Stack.of(key).resolve((key.node.defaultChild as kms.CfnKey).logicalId);
  return template.findResources('AWS::KMS::Key')[id].Properties.KeyPolicy.Statement
    .filter((s: any) => JSON.stringify(s.Principal?.Service ?? '').includes('logs.'));
}

/**
 * With `logEncryptionKey: key` (a key of the stack): each of the `count` log groups under `scope`
 * is encrypted with it, and the key policy lets CloudWatch Logs of the region use it for the
 * account's log groups, in one statement.
 */
export function expectLogGroupsEncrypted(template: Template, scope: IConstruct, key: kms.Key, count: number): void {
  const keys = Object.values(logGroupKeys(template, scope));
  expect(keys).toHaveLength(count);
  for (const k of keys) expect(k).toEqual(keyArnOf(key));
  const statements = cloudWatchLogsStatements(template, key);
  expect(statements).toHaveLength(1);
  expect(statements[0]).toMatchObject({
    Effect: 'Allow',
    Principal: { Service: { 'Fn::Join': ['', ['logs.', { Ref: 'AWS::Region' }, '.amazonaws.com']] } },
    Action: ['kms:Encrypt*', 'kms:Decrypt*', 'kms:ReEncrypt*', 'kms:GenerateDataKey*', 'kms:Describe*'],
    Resource: '*',
    Condition: {
      ArnLike: {
        'kms:EncryptionContext:aws:logs:arn': {
          'Fn::Join': ['', ['arn:', { Ref: 'AWS::Partition' }, ':logs:', { Ref: 'AWS::Region' }, ':', { Ref: 'AWS::AccountId' }, ':log-group:*']],
        },
      },
    },
  });
}

/**
 * The tests of a construct's `logEncryptionKey` (the `count` log groups it creates, `logGroups`):
 * `build(withKey)` builds it in a new stack with `logKeyProps(withKey)`.
 */
export function testLogEncryptionKey(logGroups: string, count: number, build: (withKey: boolean) => { stack: Stack; construct: IConstruct }): void {
  test(`encrypts ${logGroups}; CloudWatch Logs may use the key`, () => {
    const { stack, construct } = build(true);
    expectLogGroupsEncrypted(Template.fromStack(stack), construct, stack.node.findChild('LogsKey') as kms.Key, count);
  });

  test('without it, no log group has a key', () => {
    const { stack, construct } = build(false);
    expect(Object.values(logGroupKeys(Template.fromStack(stack), construct))).toEqual(new Array(count).fill(undefined));
  });
}
