/**
 * What an AI analyzer offers to other constructs (monitoring, grants, the report notifier),
 * whether created here (`AiAnalyzer`) or imported (`AiAnalyzer.fromAiAnalyzerAttributes`): the
 * metrics are defined once, from the function's service name, and the grants from its storage.
 */
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import * as dynamodb from 'aws-cdk-lib/aws-dynamodb';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import * as s3 from 'aws-cdk-lib/aws-s3';
import * as sqs from 'aws-cdk-lib/aws-sqs';
import { Construct } from 'constructs';
import { IAiAnalyzer } from './ai-analyzer-props';
import { ANALYZER_METRICS as M } from '../common/contracts';
import { handlerMetric } from '../common/lambda-tuning';

/** Name of the analysis table's index by day (partition `day`, sort `sk`). */
export const ANALYSIS_DAY_INDEX = 'byDay';

/** The metrics and grants of an AI analyzer, created or imported. */
export abstract class AiAnalyzerBase extends Construct implements IAiAnalyzer {
  /** The analyzer function. */
  public abstract readonly analyzerFunction: lambda.IFunction;
  /** The queue of `Ingestion Succeeded` events. */
  public abstract readonly queue: sqs.IQueue;
  /** Events that could not be analyzed after the retries. */
  public abstract readonly deadLetterQueue: sqs.IQueue;
  /** `POWERTOOLS_SERVICE_NAME` of the function: the `service` dimension of its metrics. */
  public abstract readonly serviceName: string;
  /** The analyzer's own alarms (none for an imported analyzer); a new array on each read. */
  public abstract readonly alarms: cloudwatch.IAlarm[];
  /** The table of analysis summaries (partition `sourceName`, sort `sk`, index `byDay`). */
  public abstract readonly analysisTable: dynamodb.ITable;
  /** The bucket of the analysis documents. */
  public abstract readonly analysisBucket: s3.IBucket;
  /** Key prefix of the analysis documents. */
  public abstract readonly analysisPrefix: string;
  /** The pipeline's data bucket. */
  public abstract readonly dataBucket: s3.IBucket;
  /** Key prefix of the ingestion manifests. */
  public abstract readonly manifestPrefix: string;

  /**
   * Allows `grantee` to run an on-demand analysis (invoke the function with
   * `{ "manifestKey": "manifests/..." }`; see docs/ai-and-reports.md). For an imported analyzer,
   * only the grantee's identity policy is changed (a grantee in the analyzer's account).
   */
  public grantInvoke(grantee: iam.IGrantable): iam.Grant {
    return this.analyzerFunction.grantInvoke(grantee);
  }

  /**
   * Allows `grantee` to read the analyses: the analysis table (items and the day index) and the
   * analysis documents under `analysisPrefix` (with decryption by their keys), as
   * `Table.grantReadData` and `Bucket.grantRead` give them.
   */
  public grantReadAnalyses(grantee: iam.IGrantable): iam.Grant {
    const grant = this.analysisTable.grantReadData(grantee);
    this.analysisBucket.grantRead(grantee, `${this.analysisPrefix}*`);
    return grant;
  }

  /** Input tokens sent to the model (sum; EMF from the function, dimension `service`). */
  public metricInputTokens(props?: cloudwatch.MetricOptions): cloudwatch.Metric {
    return this.metric(M.INPUT_TOKENS, { statistic: 'Sum', ...props });
  }

  /** Output tokens the model answered with (sum). */
  public metricOutputTokens(props?: cloudwatch.MetricOptions): cloudwatch.Metric {
    return this.metric(M.OUTPUT_TOKENS, { statistic: 'Sum', ...props });
  }

  /** Estimated model cost in USD (sum), from the token counts and the configured prices. */
  public metricEstimatedCost(props?: cloudwatch.MetricOptions): cloudwatch.Metric {
    return this.metric(M.ESTIMATED_COST_USD, { statistic: 'Sum', ...props });
  }

  /** Values flagged as anomalies (sum). */
  public metricAnomaliesFound(props?: cloudwatch.MetricOptions): cloudwatch.Metric {
    return this.metric(M.ANOMALIES_FOUND, { statistic: 'Sum', ...props });
  }

  /** Analyses completed (sum). */
  public metricAnalysesCompleted(props?: cloudwatch.MetricOptions): cloudwatch.Metric {
    return this.metric(M.ANALYSES_COMPLETED, { statistic: 'Sum', ...props });
  }

  /** Analyses that failed: an `Analysis Failed` event was sent (sum). */
  public metricAnalysesFailed(props?: cloudwatch.MetricOptions): cloudwatch.Metric {
    return this.metric(M.ANALYSES_FAILED, { statistic: 'Sum', ...props });
  }

  /**
   * A metric the function emits: AnalysesCompleted, AnalysesFailed, RecordsAnalyzed,
   * AnomaliesFound, ModelCalls, InputTokens, OutputTokens, EstimatedCostUsd, AiInvalidOutput,
   * AiRefused, AiErrors, AnalysisDuration.
   */
  public metric(metricName: string, props?: cloudwatch.MetricOptions): cloudwatch.Metric {
    return handlerMetric(this.serviceName, metricName, props);
  }
}
