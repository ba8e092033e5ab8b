/** S3 event notifications as delivered through SQS. */
import type { S3EventRecord, SQSRecord } from 'aws-lambda';
import type { ObjectEvent } from './run';

/** Keys in S3 events are URL-encoded with `+` for spaces. */
export function decodeKey(key: string): string {
  return decodeURIComponent(key.replace(/\+/g, ' '));
}

/** The objects a queue message announces; empty for S3's test event and for non-create events. */
export function objectsIn(record: SQSRecord): ObjectEvent[] {
  let body: { Records?: S3EventRecord[]; Event?: string };
  try {
    body = JSON.parse(record.body);
  } catch {
    throw new Error(`Queue message ${record.messageId} is not an S3 event notification (not JSON)`);
  }
  if (body.Event === 's3:TestEvent') return [];
  if (!Array.isArray(body.Records)) throw new Error(`Queue message ${record.messageId} is not an S3 event notification`);
  return body.Records
    .filter((r) => r.eventSource === 'aws:s3' && r.eventName?.startsWith('ObjectCreated'))
    .map((r) => ({
      bucket: r.s3.bucket.name,
      key: decodeKey(r.s3.object.key),
      versionId: r.s3.object.versionId || undefined,
      eventTime: r.eventTime,
    }));
}
