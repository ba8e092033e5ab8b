/**
 * The example system: for now the canonical store; the ingestion pipeline, analytics API,
 * async jobs, AI analyzer and report notifier join it as they are built.
 */
import { RemovalPolicy, Stack, StackProps } from 'aws-cdk-lib';
import { Construct } from 'constructs';
import { CanonicalStore } from '../src';

/** Settings of the example stack. */
export interface DataPipelineStackProps extends StackProps {
  /**
   * Delete the database with the stack (a sandbox). Keep false for real data.
   *
   * @default false
   */
  readonly destroyData?: boolean;
}

/** One stack with the whole example system. */
export class DataPipelineStack extends Stack {
  public readonly store: CanonicalStore;

  constructor(scope: Construct, id: string, props: DataPipelineStackProps = {}) {
    super(scope, id, props);
    this.store = new CanonicalStore(this, 'Store', {
      removalPolicy: props.destroyData ? RemovalPolicy.DESTROY : RemovalPolicy.SNAPSHOT,
    });
  }
}
