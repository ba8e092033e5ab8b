/**
 * A local DynamoDB (dynalite, in memory) that the real AWS SDK talks to over HTTP.
 * Point clients at it with AWS_ENDPOINT_URL_DYNAMODB. No TTL, transactions or PartiQL (dynalite has none).
 */
import type { AddressInfo } from 'net';
import { CreateTableCommand, DynamoDBClient, KeySchemaElement, AttributeDefinition } from '@aws-sdk/client-dynamodb';

export interface LocalDynamoDb {
  readonly endpoint: string;
  /** A client of this endpoint (fake credentials). */
  readonly client: DynamoDBClient;
  /** Creates a table with a string partition key (and optional string sort key), on demand. */
  createTable(name: string, partitionKey: string, sortKey?: string): Promise<void>;
  close(): Promise<void>;
}

export async function startLocalDynamoDb(): Promise<LocalDynamoDb> {
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const dynalite = require('dynalite') as (options: Record<string, unknown>) => import('http').Server;
  const server = dynalite({ createTableMs: 0, deleteTableMs: 0, updateTableMs: 0 });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
  const endpoint = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const client = new DynamoDBClient({ endpoint, region: 'us-east-1', credentials: { accessKeyId: 'test', secretAccessKey: 'test' } });
  return {
    endpoint,
    client,
    async createTable(name, partitionKey, sortKey) {
      const keys: KeySchemaElement[] = [{ AttributeName: partitionKey, KeyType: 'HASH' }];
      const attributes: AttributeDefinition[] = [{ AttributeName: partitionKey, AttributeType: 'S' }];
      if (sortKey) {
        keys.push({ AttributeName: sortKey, KeyType: 'RANGE' });
        attributes.push({ AttributeName: sortKey, AttributeType: 'S' });
      }
      await client.send(new CreateTableCommand({ TableName: name, KeySchema: keys, AttributeDefinitions: attributes, BillingMode: 'PAY_PER_REQUEST' }));
    },
    async close() {
      client.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
