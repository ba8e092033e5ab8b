import type { AnalysisErrorCode } from '../shared/analysis-contract';

/** A failure no retry can fix: reported at once with `Analysis Failed`. */
export class PermanentAnalysisError extends Error {
  constructor(readonly code: AnalysisErrorCode, message: string) {
    super(message);
    this.name = 'PermanentAnalysisError';
  }
}

/** Maps an S3 error on `key` to a permanent failure, or returns null (transient: let it retry). */
export function permanentS3Error(error: unknown, bucket: string, key: string): PermanentAnalysisError | null {
  const name = (error as { name?: string })?.name ?? '';
  if (name === 'NoSuchKey' || name === 'NotFound' || name === 'NoSuchBucket') {
    return new PermanentAnalysisError('object_not_found', `s3://${bucket}/${key} does not exist`);
  }
  if (name === 'AccessDenied' || name === 'Forbidden') {
    return new PermanentAnalysisError('access_denied', `the analyzer may not read s3://${bucket}/${key}`);
  }
  return null;
}
