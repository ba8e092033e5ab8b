/**
 * A construct's `permissionsBoundary`: on every role in the construct, and on the roles of the
 * stack-wide functions aws-cdk-lib creates for it outside its scope (bucket notifications,
 * auto-deleting bucket objects, log retention, AwsCustomResource), which are singletons of the stack.
 */
import { Stack } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import { IConstruct } from 'constructs';

/** Construct ids (prefixes) of aws-cdk-lib's stack-wide singletons that have a role. */
const GENERATED_SINGLETONS = [
  'BucketNotificationsHandler',
  'Custom::S3AutoDeleteObjectsCustomResourceProvider',
  'LogRetention',
  'AWS679f53fac002430cb0da5b7982bd2287',
];

/**
 * Applies `boundary` to `construct` and to the stack's generated singletons that exist when it is
 * called: call it at the end of the constructor. A singleton serves every construct of the stack,
 * so it gets the boundary of the last construct that applies one.
 */
export function applyPermissionsBoundary(construct: IConstruct, boundary: iam.IManagedPolicy | undefined): void {
  if (!boundary) return;
  iam.PermissionsBoundary.of(construct).apply(boundary);
  for (const child of Stack.of(construct).node.children) {
    if (GENERATED_SINGLETONS.some((id) => child.node.id.startsWith(id))) iam.PermissionsBoundary.of(child).apply(boundary);
  }
}
