/** The analysis table: one item per analysis (the summary), keyed by source and time. */
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DynamoDBDocumentClient, GetCommand, PutCommand } from '@aws-sdk/lib-dynamodb';
import type { AnalysisDocument, AnalysisItem, AnalysisTableKey } from '../shared/analysis-contract';
import { ANALYSIS_SCHEMA_VERSION } from '../shared/analysis-contract';

const documents = DynamoDBDocumentClient.from(new DynamoDBClient({}), { marshallOptions: { removeUndefinedValues: true } });

export function itemFor(doc: AnalysisDocument, ttlDays: number | null): AnalysisItem {
  const anomaliesByField: Record<string, number> = {};
  for (const a of doc.anomalies) anomaliesByField[a.field] = a.counts.flagged;
  return {
    ...doc.output.tableKey,
    schemaVersion: ANALYSIS_SCHEMA_VERSION,
    day: doc.requestedAt.slice(0, 10),
    analysisId: doc.analysisId,
    runId: doc.runId,
    trigger: doc.trigger,
    sourceSystem: doc.source.sourceSystem,
    entityType: doc.source.entityType,
    requestedAt: doc.requestedAt,
    analyzedAt: doc.analyzedAt,
    recordsAnalyzed: doc.recordsAnalyzed,
    recordsWithAnomalies: doc.recordsWithAnomalies,
    anomalyCount: doc.anomalyCount,
    anomaliesByField,
    riskLevel: doc.riskLevel,
    riskLevelSource: doc.riskLevelSource,
    aiStatus: doc.ai.status,
    modelId: doc.ai.modelId,
    executiveSummary: doc.ai.output?.executiveSummary ?? null,
    insights: doc.ai.output?.insights ?? [],
    recommendations: doc.ai.output?.recommendations ?? [],
    inputTokens: doc.ai.usage.inputTokens,
    outputTokens: doc.ai.usage.outputTokens,
    estimatedCostUsd: doc.ai.estimatedCostUsd,
    analysisBucket: doc.output.bucket,
    analysisKey: doc.output.key,
    dataBucket: doc.input.bucket,
    processedKey: doc.input.processedKey,
    manifestKey: doc.input.manifestKey,
    ...(ttlDays ? { expiresAt: Math.floor(Date.parse(doc.analyzedAt) / 1000) + ttlDays * 86_400 } : {}),
  };
}

export async function putItem(table: string, item: AnalysisItem): Promise<void> {
  await documents.send(new PutCommand({ TableName: table, Item: item }));
}

export async function getItem(table: string, key: AnalysisTableKey): Promise<AnalysisItem | null> {
  const result = await documents.send(new GetCommand({ TableName: table, Key: { sourceName: key.sourceName, sk: key.sk }, ConsistentRead: true }));
  return (result.Item as AnalysisItem | undefined) ?? null;
}
