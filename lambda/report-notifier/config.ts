/** The notifier's configuration, from the environment the construct sets (read on each call). */

export interface NotifierConfig {
  readonly analysisTable: string;
  readonly analysisBucket: string;
  readonly analysisPrefix: string;
  readonly dataBucket: string;
  readonly manifestPrefix: string;
  /** The sender as SES gets it: the address, with the display name when one is set. */
  readonly fromAddress: string;
  readonly toAddresses: string[];
  readonly configurationSetName: string | null;
  readonly opsTopicArn: string | null;
  readonly emailFailures: boolean;
  readonly subjectPrefix: string;
  readonly digestLookbackHours: number;
  /** Manifests read for a digest at most (the newest days first). */
  readonly maxManifests: number;
  /** Analyses listed in a digest at most. */
  readonly maxAnalyses: number;
}

function env(name: string, fallback?: string): string {
  const value = process.env[name];
  if (value !== undefined && value !== '') return value;
  if (fallback !== undefined) return fallback;
  throw new Error(`Environment variable ${name} is not set`);
}

function positive(name: string, fallback: number): number {
  const raw = process.env[name];
  if (!raw) return fallback;
  const value = Number(raw);
  if (!Number.isFinite(value) || value <= 0) throw new Error(`Environment variable ${name} must be a positive number, got "${raw}"`);
  return value;
}

/** `Name <address>`, the name quoted, and MIME-encoded (RFC 2047) when it is not plain ASCII. */
export function senderAddress(address: string, name?: string): string {
  const display = name?.replace(/[\r\n]+/g, ' ').trim();
  if (!display) return address;
  // eslint-disable-next-line no-control-regex
  const encoded = /^[\x20-\x7e]*$/.test(display)
    ? `"${display.replace(/["\\]/g, (c) => `\\${c}`)}"`
    : `=?UTF-8?B?${Buffer.from(display, 'utf8').toString('base64')}?=`;
  return `${encoded} <${address}>`;
}

export function loadConfig(): NotifierConfig {
  const dataBucket = env('DATA_BUCKET');
  const toAddresses = JSON.parse(env('TO_ADDRESSES')) as unknown;
  if (!Array.isArray(toAddresses) || toAddresses.length === 0 || toAddresses.some((a) => typeof a !== 'string')) {
    throw new Error('TO_ADDRESSES must be a JSON array of e-mail addresses');
  }
  return {
    analysisTable: env('ANALYSIS_TABLE_NAME'),
    analysisBucket: env('ANALYSIS_BUCKET', dataBucket),
    analysisPrefix: env('ANALYSIS_PREFIX', 'analyses/'),
    dataBucket,
    manifestPrefix: env('MANIFEST_PREFIX', 'manifests/'),
    fromAddress: senderAddress(env('FROM_ADDRESS'), process.env.FROM_NAME),
    toAddresses: toAddresses as string[],
    configurationSetName: process.env.CONFIGURATION_SET_NAME || null,
    opsTopicArn: process.env.OPS_TOPIC_ARN || null,
    emailFailures: process.env.EMAIL_FAILURES === 'true',
    subjectPrefix: env('SUBJECT_PREFIX', 'Data pipeline'),
    digestLookbackHours: positive('DIGEST_LOOKBACK_HOURS', 24),
    maxManifests: positive('MAX_MANIFESTS', 500),
    maxAnalyses: positive('MAX_ANALYSES', 100),
  };
}
