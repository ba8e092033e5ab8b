/**
 * What an async job workflow offers to other constructs (monitoring, grants), whether created here
 * (`AsyncJobWorkflow`) or imported (`AsyncJobWorkflow.fromAsyncJobWorkflowAttributes`): the
 * metrics come from the job state machine, the grants from the REST API's id and stage.
 */
import { Duration, Stack } from 'aws-cdk-lib';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import * as sfn from 'aws-cdk-lib/aws-stepfunctions';
import { Construct } from 'constructs';
import { IAsyncJobWorkflow } from './async-job-workflow-props';

/** The metrics and grants of an async job workflow, created or imported. */
export abstract class AsyncJobWorkflowBase extends Construct implements IAsyncJobWorkflow {
  /** The job state machine. */
  public abstract readonly jobStateMachine: sfn.IStateMachine;
  /** The function that runs a job's query. */
  public abstract readonly jobRunnerFunction: lambda.IFunction;
  /** The function behind the job routes. */
  public abstract readonly jobsApiFunction: lambda.IFunction;
  /** The workflow's alarms (none for an imported workflow). */
  public abstract readonly alarms: cloudwatch.IAlarm[];
  /** Id of the REST API that serves the job routes. */
  public abstract readonly restApiId: string;
  /** Name of its stage. */
  public abstract readonly stageName: string;

  /**
   * Lets `grantee` submit jobs through the API (`execute-api:Invoke` on `POST /analytics/jobs`),
   * for an API with IAM authorization.
   */
  public grantSubmitJobs(grantee: iam.IGrantable): iam.Grant {
    return this.grantApiRoutes(grantee, [['POST', '/analytics/jobs']]);
  }

  /**
   * Lets `grantee` read jobs through the API: their status and inline results
   * (`GET /analytics/jobs/{jobId}`) and large results (`GET /download/{key}`), for an API with IAM
   * authorization.
   */
  public grantReadJobs(grantee: iam.IGrantable): iam.Grant {
    return this.grantApiRoutes(grantee, [['GET', '/analytics/jobs/*'], ['GET', '/download/*']]);
  }

  /** Jobs that succeeded (executions of the job state machine). */
  public metricJobsSucceeded(props?: cloudwatch.MetricOptions): cloudwatch.Metric {
    return this.jobStateMachine.metricSucceeded({ period: Duration.minutes(5), statistic: 'Sum', ...props });
  }

  /** Jobs whose execution failed (the query failed after its retries, or a notification could not be sent). */
  public metricJobsFailed(props?: cloudwatch.MetricOptions): cloudwatch.Metric {
    return this.jobStateMachine.metricFailed({ period: Duration.minutes(5), statistic: 'Sum', ...props });
  }

  /** Job executions that ran past the execution timeout. */
  public metricJobsTimedOut(props?: cloudwatch.MetricOptions): cloudwatch.Metric {
    return this.jobStateMachine.metricTimedOut({ period: Duration.minutes(5), statistic: 'Sum', ...props });
  }

  /** Jobs started. */
  public metricJobsStarted(props?: cloudwatch.MetricOptions): cloudwatch.Metric {
    return this.jobStateMachine.metricStarted({ period: Duration.minutes(5), statistic: 'Sum', ...props });
  }

  /** Time from a job's start to its end (ms, default statistic p90). */
  public metricJobDuration(props?: cloudwatch.MetricOptions): cloudwatch.Metric {
    return this.jobStateMachine.metricTime({ period: Duration.minutes(5), statistic: 'p90', ...props });
  }

  /** `arn:…:execute-api:REGION:ACCOUNT:API/STAGE/METHOD/PATH` of the API's stage. */
  protected executeApiArn(method: string, path: string): string {
    return Stack.of(this).formatArn({ service: 'execute-api', resource: this.restApiId, resourceName: `${this.stageName}/${method}${path}` });
  }

  private grantApiRoutes(grantee: iam.IGrantable, routes: Array<[string, string]>): iam.Grant {
    return iam.Grant.addToPrincipal({
      grantee,
      actions: ['execute-api:Invoke'],
      resourceArns: routes.map(([method, path]) => this.executeApiArn(method, path)),
    });
  }
}
