/**
 * The tests' Systems Manager Parameter Store: the sandbox's own (sandbox/src/parameters.ts:
 * GetParameter and PutParameter behind the sandbox's local AWS endpoint, JSON 1.1 protocol), so
 * handlers read and write parameters through the real AWS SDK. Point clients at it with
 * AWS_ENDPOINT_URL_SSM.
 */
import { LocalAwsApi } from '../../sandbox/src/aws-api';
import { LocalParameters } from '../../sandbox/src/parameters';

export interface LocalSsm {
  readonly endpoint: string;
  readonly parameters: LocalParameters;
  close(): Promise<void>;
}

export async function startLocalSsm(region = 'us-east-1', account = '123456789012'): Promise<LocalSsm> {
  const parameters = new LocalParameters(region, account);
  const api = new LocalAwsApi();
  parameters.register(api);
  const endpoint = await api.listen(0);
  return { endpoint, parameters, close: () => api.close() };
}
