/**
 * DynamoDB, locally: dynalite (the real DynamoDB JSON protocol, in memory) with the tables the
 * template declares: keys, attribute definitions, global and local secondary indexes. dynalite
 * has no TTL (items do not expire by themselves; handlers that check expiry themselves are
 * unaffected), no transactions and no PartiQL.
 */
import * as http from 'http';
import type { AddressInfo } from 'net';
import { CreateTableCommand, CreateTableCommandInput, DynamoDBClient } from '@aws-sdk/client-dynamodb';

export interface LocalDynamoDb {
  readonly endpoint: string;
  createTable(name: string, properties: Record<string, any>): Promise<void>;
  stop(): Promise<void>;
}

export async function startLocalDynamoDb(port = 0, host = '127.0.0.1'): Promise<LocalDynamoDb> {
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const dynalite = require('dynalite') as (options: Record<string, unknown>) => http.Server;
  const server = dynalite({ createTableMs: 0, deleteTableMs: 0, updateTableMs: 0 });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => resolve());
  });
  const endpoint = `http://${host}:${(server.address() as AddressInfo).port}`;
  const client = new DynamoDBClient({ endpoint, region: 'us-east-1', credentials: { accessKeyId: 'local', secretAccessKey: 'local' } });
  return {
    endpoint,
    async createTable(name, p) {
      const projection = (x: any) => x ?? { ProjectionType: 'ALL' };
      const index = (i: any) => ({ IndexName: i.IndexName, KeySchema: i.KeySchema, Projection: projection(i.Projection) });
      const stream = p.StreamSpecification?.StreamViewType;
      const input: CreateTableCommandInput = {
        TableName: name,
        KeySchema: p.KeySchema,
        AttributeDefinitions: p.AttributeDefinitions,
        BillingMode: 'PAY_PER_REQUEST',
        ...(p.GlobalSecondaryIndexes?.length ? {
          GlobalSecondaryIndexes: p.GlobalSecondaryIndexes.map(index),
        } : {}),
        ...(p.LocalSecondaryIndexes?.length ? {
          LocalSecondaryIndexes: p.LocalSecondaryIndexes.map(index),
        } : {}),
        ...(stream ? { StreamSpecification: { StreamEnabled: true, StreamViewType: stream } } : {}),
      };
      await client.send(new CreateTableCommand(input));
    },
    async stop() {
      client.destroy();
      (server as any).closeAllConnections?.();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
