/**
 * The tests' DynamoDB: the sandbox's own (sandbox/src/dynamodb.ts: dynalite, in memory, the real
 * DynamoDB JSON protocol), with a client and a shortcut for tables keyed by strings. Point
 * handlers at it with AWS_ENDPOINT_URL_DYNAMODB. No TTL, transactions or PartiQL (dynalite has none).
 */
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { startLocalDynamoDb as startSandboxDynamoDb } from '../../sandbox/src/dynamodb';

export interface LocalDynamoDb {
  readonly endpoint: string;
  /** A client of this endpoint (fake credentials). */
  readonly client: DynamoDBClient;
  /** Creates a table with a string partition key (and optional string sort key), on demand. */
  createTable(name: string, partitionKey: string, sortKey?: string): Promise<void>;
  close(): Promise<void>;
}

export async function startLocalDynamoDb(): Promise<LocalDynamoDb> {
  const server = await startSandboxDynamoDb();
  const client = new DynamoDBClient({ endpoint: server.endpoint, region: 'us-east-1', credentials: { accessKeyId: 'test', secretAccessKey: 'test' } });
  return {
    endpoint: server.endpoint,
    client,
    createTable: (name, partitionKey, sortKey) => {
      const keys = sortKey ? [[partitionKey, 'HASH'], [sortKey, 'RANGE']] : [[partitionKey, 'HASH']];
      return server.createTable(name, {
        KeySchema: keys.map(([AttributeName, KeyType]) => ({ AttributeName, KeyType })),
        AttributeDefinitions: keys.map(([AttributeName]) => ({ AttributeName, AttributeType: 'S' })),
      });
    },
    async close() {
      client.destroy();
      await server.stop();
    },
  };
}
