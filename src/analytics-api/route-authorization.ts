/**
 * The authorization of an analytics API's methods, in one place for the API's own routes and the
 * routes an async job workflow adds (in the API's stack or in another one).
 */
import * as apigw from 'aws-cdk-lib/aws-apigateway';
import { AnalyticsApiAuthorization } from './analytics-api-props';
import { acknowledgeNagFinding } from '../common/nag';

/** Method options for `authorization` (`authorizer`: the Cognito user pool authorizer, with COGNITO). */
export function methodAuthorization(authorization: AnalyticsApiAuthorization, authorizer?: apigw.IAuthorizer): apigw.MethodOptions {
  return {
    authorizationType: {
      [AnalyticsApiAuthorization.IAM]: apigw.AuthorizationType.IAM,
      [AnalyticsApiAuthorization.COGNITO]: apigw.AuthorizationType.COGNITO,
      [AnalyticsApiAuthorization.API_KEY]: apigw.AuthorizationType.NONE,
      [AnalyticsApiAuthorization.NONE]: apigw.AuthorizationType.NONE,
    }[authorization],
    authorizer: authorization === AnalyticsApiAuthorization.COGNITO ? authorizer : undefined,
    apiKeyRequired: authorization === AnalyticsApiAuthorization.API_KEY,
  };
}

/** The cdk-nag findings a method has by the API's chosen authorization, acknowledged with the reason. */
export function acknowledgeMethodAuthorization(method: apigw.Method, authorization: AnalyticsApiAuthorization): void {
  if (authorization !== AnalyticsApiAuthorization.COGNITO) {
    acknowledgeNagFinding(method, 'AwsSolutions-COG4', {
      [AnalyticsApiAuthorization.IAM]: 'Callers authenticate with IAM (SigV4); a Cognito user pool is one option (authorization: COGNITO)',
      [AnalyticsApiAuthorization.API_KEY]: 'Callers authenticate with an API key (the authorization chosen in the props)',
      [AnalyticsApiAuthorization.NONE]: 'The API was deliberately made open (authorization: NONE)',
    }[authorization] ?? 'Authorization chosen in the props');
  }
  if (authorization === AnalyticsApiAuthorization.API_KEY || authorization === AnalyticsApiAuthorization.NONE) {
    acknowledgeNagFinding(method, 'AwsSolutions-APIG4', authorization === AnalyticsApiAuthorization.API_KEY
      ? 'The method requires an API key (authorization: API_KEY, with a usage plan)'
      : 'The API was deliberately made open (authorization: NONE)');
  }
}
