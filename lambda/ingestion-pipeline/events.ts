/** Publishes the versioned ingestion events to the pipeline's EventBridge bus. */
import { EventBridgeClient, PutEventsCommand } from '@aws-sdk/client-eventbridge';
import {
  INGESTION_EVENT_SOURCE, INGESTION_FAILED, INGESTION_SUCCEEDED, IngestionFailedDetail, IngestionSucceededDetail,
} from '../shared/ingestion-contract';

const client = new EventBridgeClient({});

async function put(detailType: string, detail: unknown, resource: string): Promise<void> {
  const result = await client.send(new PutEventsCommand({
    Entries: [{
      EventBusName: process.env.EVENT_BUS_NAME ?? 'default',
      Source: INGESTION_EVENT_SOURCE,
      DetailType: detailType,
      Detail: JSON.stringify(detail),
      Resources: [resource],
    }],
  }));
  if ((result.FailedEntryCount ?? 0) > 0) {
    const entry = result.Entries?.find((e) => e.ErrorCode);
    throw new Error(`EventBridge refused the ${detailType} event: ${entry?.ErrorCode} ${entry?.ErrorMessage}`);
  }
}

function objectArn(bucket: string, key: string): string {
  return `arn:aws:s3:::${bucket}/${key}`;
}

export function publishSucceeded(detail: IngestionSucceededDetail): Promise<void> {
  return put(INGESTION_SUCCEEDED, detail, objectArn(detail.bucket, detail.objectKey));
}

export function publishFailed(detail: IngestionFailedDetail): Promise<void> {
  return put(INGESTION_FAILED, detail, objectArn(detail.bucket, detail.objectKey));
}
