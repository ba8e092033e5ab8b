/**
 * Failure routing: `Ingestion Failed` (the last attempt) and `Analysis Failed` go to the
 * operations topic as a readable message, and optionally by e-mail to the report recipients.
 */
import { PublishCommand, SNSClient } from '@aws-sdk/client-sns';
import type { NotifierConfig } from './config';
import { html, headerSafe, RenderedReport } from './render';
import { sendReport } from './ses';
import type { AnalysisFailedDetail } from '../shared/analysis-contract';
import type { IngestionFailedDetail } from '../shared/ingestion-contract';

const sns = new SNSClient({});

export interface FailureNotice {
  readonly subject: string;
  readonly lines: Array<[string, string]>;
}

function v(value: unknown): string {
  if (value === null || value === undefined || value === '') return '–';
  return typeof value === 'string' ? value : JSON.stringify(value);
}

export function ingestionFailureNotice(d: IngestionFailedDetail): FailureNotice {
  return {
    subject: `Ingestion failed: ${d.sourceName ?? 'unknown source'} ${d.objectKey}`,
    lines: [
      ['What', 'A file could not be ingested (last attempt): its records are not in the store or processed/ output.'],
      ['Source', v(d.sourceName)],
      ['Object', `s3://${d.bucket}/${d.objectKey}${d.objectVersionId ? ` (version ${d.objectVersionId})` : ''}`],
      ['Error', `${d.error.code}: ${d.error.message}${d.error.line ? ` (near line ${d.error.line})` : ''}`],
      ['Run', v(d.runId)],
      ['Manifest', v(d.manifestKey)],
      ['Counts', v(d.counts)],
    ],
  };
}

export function analysisFailureNotice(d: AnalysisFailedDetail): FailureNotice {
  return {
    subject: `Analysis failed: ${d.sourceName ?? 'unknown source'} ${d.analysisId ?? ''}`,
    lines: [
      ['What', 'An analysis could not be completed; no report was sent for it.'],
      ['Source', v(d.sourceName)],
      ['Trigger', d.trigger],
      ['Error', `${d.error.code}: ${d.error.message}`],
      ['Analysis', v(d.analysisId)],
      ['Run', v(d.runId)],
      ['Processed data', d.dataBucket && d.processedKey ? `s3://${d.dataBucket}/${d.processedKey}` : '–'],
      ['Manifest', v(d.manifestKey)],
    ],
  };
}

/** SNS subjects: ASCII, no line breaks, under 100 characters. */
export function snsSubject(subject: string): string {
  // eslint-disable-next-line no-control-regex
  return headerSafe(subject).replace(/[^\x20-\x7e]/g, '?').slice(0, 99);
}

export function noticeText(notice: FailureNotice): string {
  const width = Math.max(...notice.lines.map(([k]) => k.length));
  return `${headerSafe(notice.subject, 500)}\n\n${notice.lines.map(([k, value]) => `${k.padEnd(width)}  ${value}`).join('\n')}\n`;
}

export function noticeEmail(notice: FailureNotice, prefix: string): RenderedReport {
  const body = html`<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><title>${notice.subject}</title></head>
<body style="margin:0;padding:16px;font-family:Arial,Helvetica,sans-serif;">
<h1 style="font-size:18px;color:#b71c1c;margin:0 0 12px 0;">${notice.subject}</h1>
<table role="presentation" cellpadding="0" cellspacing="0" border="0" style="border-collapse:collapse;">
${notice.lines.map(([k, value]) => html`<tr><td style="font-size:13px;color:#555555;padding:4px 12px 4px 0;vertical-align:top;font-weight:bold;">${k}</td><td style="font-size:13px;color:#222222;padding:4px 0;">${value}</td></tr>`)}
</table></body></html>
`;
  return { subject: `${prefix}: ${notice.subject}`, text: noticeText(notice), html: body.value };
}

/** Publishes to the operations topic and, when configured, e-mails the recipients. */
export async function routeFailure(config: NotifierConfig, notice: FailureNotice): Promise<{ published: boolean; emailed: boolean }> {
  let published = false;
  if (config.opsTopicArn) {
    await sns.send(new PublishCommand({ TopicArn: config.opsTopicArn, Subject: snsSubject(`${config.subjectPrefix}: ${notice.subject}`), Message: noticeText(notice) }));
    published = true;
  }
  let emailed = false;
  if (config.emailFailures) {
    await sendReport(config, noticeEmail(notice, config.subjectPrefix), 'failure');
    emailed = true;
  }
  return { published, emailed };
}
