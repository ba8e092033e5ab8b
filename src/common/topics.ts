/** What SNS topics the library creates have in common. */
import * as iam from 'aws-cdk-lib/aws-iam';
import * as sns from 'aws-cdk-lib/aws-sns';

/**
 * Denies publishing to `topic` without TLS: the statement aws-cdk-lib's `enforceSSL` writes, written
 * here because the supported aws-cdk-lib versions add it only beside another statement.
 */
export function denyPublishWithoutTls(topic: sns.Topic): void {
  topic.addToResourcePolicy(new iam.PolicyStatement({
    sid: 'AllowPublishThroughSSLOnly',
    effect: iam.Effect.DENY,
    principals: [new iam.AnyPrincipal()],
    actions: ['sns:Publish'],
    resources: [topic.topicArn],
    conditions: { Bool: { 'aws:SecureTransport': 'false' } },
  }));
}
