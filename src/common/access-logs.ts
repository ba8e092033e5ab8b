import * as cxapi from 'aws-cdk-lib/cx-api';
import { Construct } from 'constructs';

/**
 * S3 server access logs from the buckets created under `scope` are delivered by a bucket-policy
 * statement for `logging.s3.amazonaws.com` (AWS's recommendation, and what aws-cdk-lib does with its
 * feature flag set), not by the legacy `LogDeliveryWrite` ACL that CloudFormation's linter flags
 * (W3045) and that needs ACLs enabled on the log bucket. Call it first in the constructor: context
 * can only be set before the construct has children.
 */
export function deliverAccessLogsThroughBucketPolicy(scope: Construct): void {
  scope.node.setContext(cxapi.S3_SERVER_ACCESS_LOGS_USE_BUCKET_POLICY, true);
}
