/**
 * The sources of every IngestionPipeline on each bucket of an app: two pipelines on one bucket
 * must not overlap (S3 refuses overlapping event notifications) nor share a source name (both
 * would write the same processed/, rejected/ and manifests/ keys).
 */
import { Stage, Token } from 'aws-cdk-lib';
import * as s3 from 'aws-cdk-lib/aws-s3';
import { IConstruct } from 'constructs';
import { SourceDefinition } from './source-definition';

interface PipelineSources {
  readonly path: string;
  readonly sources: ReadonlyArray<{ readonly name: string; readonly prefix: string }>;
}

/** Per Stage (an App is one): bucket key -> the pipelines on it. */
const claims = new WeakMap<IConstruct, Map<string, PipelineSources[]>>();

/** The same bucket: one object, or buckets imported by the same literal name. */
function bucketKey(bucket: s3.IBucket): string {
  return Token.isUnresolved(bucket.bucketName) ? `construct:${bucket.node.addr}` : `name:${bucket.bucketName}`;
}

/**
 * Records the sources of `pipeline` on `bucket`; throws, naming both pipelines, when another
 * pipeline of the app already reads an overlapping prefix or has a source of the same name there.
 */
export function claimBucketSources(pipeline: IConstruct, bucket: s3.IBucket, sources: SourceDefinition[]): void {
  const stage = Stage.of(pipeline) ?? pipeline.node.root;
  let byBucket = claims.get(stage);
  if (!byBucket) claims.set(stage, byBucket = new Map());
  const key = bucketKey(bucket);
  const others = byBucket.get(key) ?? [];
  for (const other of others) {
    for (const source of sources) {
      for (const theirs of other.sources) {
        const where = `IngestionPipeline ${pipeline.node.path} (source "${source.name}", prefix "${source.prefix}") and IngestionPipeline ${other.path} (source "${theirs.name}", prefix "${theirs.prefix}") use the same bucket`;
        if (source.name === theirs.name) {
          throw new Error(`${where} with the same source name: both would write processed/${source.name}/, rejected/${source.name}/ and manifests/${source.name}/. Rename one of the sources`);
        }
        if (source.prefix.startsWith(theirs.prefix) || theirs.prefix.startsWith(source.prefix)) {
          throw new Error(`${where} with overlapping prefixes: S3 refuses overlapping event notifications on one bucket. Give the sources disjoint prefixes, or put them in one pipeline`);
        }
      }
    }
  }
  byBucket.set(key, [...others, { path: pipeline.node.path, sources: sources.map((s) => ({ name: s.name, prefix: s.prefix })) }]);
}
