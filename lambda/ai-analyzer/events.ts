/** Publishes the versioned analyzer events to the pipeline's EventBridge bus. */
import { EventBridgeClient, PutEventsCommand } from '@aws-sdk/client-eventbridge';
import {
  ANALYSIS_COMPLETE, ANALYSIS_EVENT_SOURCE, ANALYSIS_FAILED, AnalysisCompleteDetail, AnalysisFailedDetail,
} from '../shared/analysis-contract';

const client = new EventBridgeClient({});

async function put(busName: string, detailType: string, detail: unknown, resources: string[]): Promise<void> {
  const result = await client.send(new PutEventsCommand({
    Entries: [{ EventBusName: busName, Source: ANALYSIS_EVENT_SOURCE, DetailType: detailType, Detail: JSON.stringify(detail), Resources: resources }],
  }));
  if ((result.FailedEntryCount ?? 0) > 0) {
    const entry = result.Entries?.find((e) => e.ErrorCode);
    throw new Error(`EventBridge refused the ${detailType} event: ${entry?.ErrorCode} ${entry?.ErrorMessage}`);
  }
}

export function publishComplete(busName: string, detail: AnalysisCompleteDetail): Promise<void> {
  return put(busName, ANALYSIS_COMPLETE, detail, [`arn:aws:s3:::${detail.analysisBucket}/${detail.analysisKey}`]);
}

export function publishFailed(busName: string, detail: AnalysisFailedDetail): Promise<void> {
  const resources = detail.dataBucket && detail.processedKey ? [`arn:aws:s3:::${detail.dataBucket}/${detail.processedKey}`] : [];
  return put(busName, ANALYSIS_FAILED, detail, resources);
}
