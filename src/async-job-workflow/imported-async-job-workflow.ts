/** An async job workflow defined elsewhere, imported by its attributes (monitoring, grants). */
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import * as sfn from 'aws-cdk-lib/aws-stepfunctions';
import { Construct } from 'constructs';
import { AsyncJobWorkflowBase } from './async-job-workflow-base';
import { AsyncJobWorkflowAttributes } from './async-job-workflow-props';

export class ImportedAsyncJobWorkflow extends AsyncJobWorkflowBase {
  public readonly jobStateMachine: sfn.IStateMachine;
  public readonly jobRunnerFunction: lambda.IFunction;
  public readonly jobsApiFunction: lambda.IFunction;
  public readonly restApiId: string;
  public readonly stageName: string;

  constructor(scope: Construct, id: string, attrs: AsyncJobWorkflowAttributes) {
    super(scope, id);
    this.jobStateMachine = sfn.StateMachine.fromStateMachineArn(this, 'StateMachine', attrs.stateMachineArn);
    this.jobRunnerFunction = lambda.Function.fromFunctionArn(this, 'JobRunner', attrs.jobRunnerFunctionArn);
    this.jobsApiFunction = lambda.Function.fromFunctionArn(this, 'JobsApiFunction', attrs.jobsApiFunctionArn);
    this.restApiId = attrs.restApiId;
    this.stageName = attrs.stageName ?? 'prod';
  }

  /** None: an imported construct's alarms are not known here (a new array on each read). */
  public get alarms(): cloudwatch.IAlarm[] {
    return [];
  }
}
