/**
 * The metrics of a canonical store, created (`CanonicalStore`) or imported
 * (`CanonicalStore.fromCanonicalStoreAttributes`), defined once from the engine and the database's
 * CloudWatch dimensions.
 */
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import { Construct } from 'constructs';
import { StoreEngine } from './canonical-store-props';

/** The AWS/RDS metrics of a canonical store. */
export abstract class CanonicalStoreBase extends Construct {
  /** The PostgreSQL service in use. */
  public abstract readonly engine: StoreEngine;

  /**
   * A metric of the database in the AWS/RDS namespace (per instance with RDS, per cluster with Aurora).
   *
   * @param metricName e.g. `CPUUtilization`
   * @param props options of the metric
   */
  public metric(metricName: string, props?: cloudwatch.MetricOptions): cloudwatch.Metric {
    return new cloudwatch.Metric({
      namespace: 'AWS/RDS',
      metricName,
      dimensionsMap: this.metricDimensions(),
      statistic: 'Average',
      ...props,
    });
  }

  /** CPU utilization, in percent (average over 5 minutes by default). */
  public metricCPUUtilization(props?: cloudwatch.MetricOptions): cloudwatch.Metric {
    return this.metric('CPUUtilization', { unit: cloudwatch.Unit.PERCENT, ...props });
  }

  /** Open database connections (average over 5 minutes by default). */
  public metricDatabaseConnections(props?: cloudwatch.MetricOptions): cloudwatch.Metric {
    return this.metric('DatabaseConnections', { unit: cloudwatch.Unit.COUNT, ...props });
  }

  /** Free memory, in bytes (average over 5 minutes by default). */
  public metricFreeableMemory(props?: cloudwatch.MetricOptions): cloudwatch.Metric {
    return this.metric('FreeableMemory', { unit: cloudwatch.Unit.BYTES, ...props });
  }

  /**
   * Free storage space, in bytes, with `StoreEngine.RDS_POSTGRES` (Aurora storage grows by itself).
   */
  public metricFreeStorageSpace(props?: cloudwatch.MetricOptions): cloudwatch.Metric {
    if (this.engine !== StoreEngine.RDS_POSTGRES) {
      throw new Error('metricFreeStorageSpace applies to StoreEngine.RDS_POSTGRES only: Aurora storage grows automatically');
    }
    return this.metric('FreeStorageSpace', { unit: cloudwatch.Unit.BYTES, ...props });
  }

  /**
   * Capacity in ACUs with `StoreEngine.AURORA_POSTGRES_SERVERLESS_V2`.
   */
  public metricServerlessDatabaseCapacity(props?: cloudwatch.MetricOptions): cloudwatch.Metric {
    if (this.engine !== StoreEngine.AURORA_POSTGRES_SERVERLESS_V2) {
      throw new Error('metricServerlessDatabaseCapacity applies to StoreEngine.AURORA_POSTGRES_SERVERLESS_V2 only');
    }
    return this.metric('ServerlessDatabaseCapacity', { unit: cloudwatch.Unit.COUNT, ...props });
  }

  /** The CloudWatch dimensions of the database: `DBInstanceIdentifier` (RDS) or `DBClusterIdentifier` (Aurora). */
  protected abstract metricDimensions(): { [name: string]: string };
}
