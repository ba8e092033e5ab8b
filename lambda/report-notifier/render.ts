/**
 * The report as plain text and as HTML for e-mail clients: tables, inline styles, no scripts, no
 * external resources, no CSS classes. Every data value goes through the `html` template tag,
 * which escapes it; only fragments built by the tag itself are inserted as they are.
 */
import type { ProcessingStats } from './data';
import { AiStatus, AnomalyExample, AnomalyKind, RiskLevel, writtenByLocalStandIn } from '../shared/analysis-contract';

export interface ReportField {
  readonly field: string;
  readonly label: string | null;
  readonly threshold: { readonly min: number | null; readonly max: number | null } | null;
  readonly counts: Partial<Record<AnomalyKind, number>> & { readonly flagged: number };
  readonly worstExamples: readonly AnomalyExample[];
}

export interface ReportAnalysis {
  readonly analysisId: string;
  readonly sourceName: string;
  readonly entityType: string | null;
  readonly analyzedAt: string;
  readonly riskLevel: RiskLevel;
  readonly riskLevelSource: 'model' | 'rules';
  readonly aiStatus: AiStatus;
  readonly aiError: string | null;
  readonly recordsAnalyzed: number;
  readonly recordsWithAnomalies: number;
  readonly anomalyCount: number;
  readonly fields: readonly ReportField[];
  readonly executiveSummary: string | null;
  readonly insights: readonly string[];
  readonly recommendations: readonly string[];
  readonly modelId: string;
  readonly inputTokens: number;
  readonly outputTokens: number;
  readonly estimatedCostUsd: number;
  readonly analysisKey: string;
}

export interface ReportModel {
  readonly kind: 'analysis' | 'digest';
  readonly title: string;
  /** Digest window; null for the report of one analysis. */
  readonly period: { readonly from: string; readonly to: string } | null;
  readonly generatedAt: string;
  readonly processing: ProcessingStats | null;
  readonly analyses: readonly ReportAnalysis[];
}

export interface RenderedReport {
  readonly subject: string;
  readonly text: string;
  readonly html: string;
}

// ----- escaping -----

/** HTML produced by the `html` tag: inserted into other fragments without escaping. */
export class SafeHtml {
  constructor(readonly value: string) {}
  toString(): string {
    return this.value;
  }
}

/** Control characters except tab and newline (they have no business in a report). */
// eslint-disable-next-line no-control-regex
const CONTROL = /[\u0000-\u0008\u000b\u000c\u000e-\u001f\u007f]/g;

export function escapeHtml(value: string): string {
  return value.replace(CONTROL, '')
    .replace(/&/g, '&amp;')
    .replace(/</g, '&lt;')
    .replace(/>/g, '&gt;')
    .replace(/"/g, '&quot;')
    .replace(/'/g, '&#39;');
}

function fragment(value: unknown): string {
  if (value instanceof SafeHtml) return value.value;
  if (Array.isArray(value)) return value.map(fragment).join('');
  if (value === null || value === undefined || value === false) return '';
  return escapeHtml(String(value));
}

/** Template tag: every interpolated value is escaped unless it is SafeHtml (or an array of them). */
export function html(strings: TemplateStringsArray, ...values: unknown[]): SafeHtml {
  let out = strings[0];
  values.forEach((value, i) => {
    out += fragment(value) + strings[i + 1];
  });
  return new SafeHtml(out);
}

/** A one-line header value: no line breaks (no header injection), no control characters, bounded. */
export function headerSafe(value: string, max = 200): string {
  return value.replace(/[\r\n]+/g, ' ').replace(CONTROL, '').trim().slice(0, max);
}

function plain(value: unknown): string {
  return String(value ?? '').replace(CONTROL, '');
}

// ----- formatting -----

const RISK_COLORS: Record<RiskLevel, { fg: string; bg: string }> = {
  low: { fg: '#1b5e20', bg: '#e8f5e9' },
  medium: { fg: '#7a5b00', bg: '#fff8e1' },
  high: { fg: '#a63c00', bg: '#fff3e0' },
  critical: { fg: '#ffffff', bg: '#b71c1c' },
};
const RISK_ORDER: RiskLevel[] = ['low', 'medium', 'high', 'critical'];

const AI_STATUS_TEXT: Record<AiStatus, string> = {
  ok: 'AI insights available',
  invalid_output: 'The model did not return usable output (invalid twice); findings below are deterministic only',
  refused: 'The model declined to answer (twice); findings below are deterministic only',
  error: 'The model could not be called; findings below are deterministic only',
  skipped: 'No records to analyze; the model was not called',
};

const KIND_TEXT: Record<AnomalyKind, string> = {
  below_min: 'below minimum',
  above_max: 'above maximum',
  z_score: 'z-score outlier',
  iqr: 'IQR outlier',
};

export function formatNumber(n: number | null | undefined, digits = 2): string {
  if (n === null || n === undefined || !Number.isFinite(n)) return '–';
  return Number.isInteger(n) ? n.toLocaleString('en-US') : n.toLocaleString('en-US', { maximumFractionDigits: digits });
}

const STAND_IN_NOTE = 'AI texts written by the local Bedrock stand-in (sandbox), not by a model: no model ran, no tokens, no cost.';

function standIn(a: ReportAnalysis): boolean {
  return writtenByLocalStandIn([a.executiveSummary, ...a.insights, ...a.recommendations]);
}

/** "and N more reasons (M records)" when the list shows only the top ones; empty otherwise. */
function moreReasonsText(p: ProcessingStats): string {
  const m = p.moreRejectionReasons;
  if (!m || m.reasons === 0) return '';
  return `… and ${formatNumber(m.reasons)} more reason${m.reasons === 1 ? '' : 's'} (${formatNumber(m.count)} record${m.count === 1 ? '' : 's'}; see the manifests)`;
}

function formatCost(usd: number): string {
  return `$${usd.toFixed(usd < 0.01 ? 6 : 4)}`;
}

function thresholdText(t: ReportField['threshold']): string {
  if (!t) return '–';
  if (t.min !== null && t.max !== null) return `${formatNumber(t.min)} – ${formatNumber(t.max)}`;
  if (t.min !== null) return `≥ ${formatNumber(t.min)}`;
  if (t.max !== null) return `≤ ${formatNumber(t.max)}`;
  return '–';
}

function subjectText(e: AnomalyExample): string {
  return Object.entries(e.subject).map(([field, value]) => `${field}=${value}`).join(', ');
}

export function highestRisk(analyses: readonly ReportAnalysis[]): RiskLevel | null {
  let best = -1;
  for (const a of analyses) best = Math.max(best, RISK_ORDER.indexOf(a.riskLevel));
  return best < 0 ? null : RISK_ORDER[best];
}

export function reportSubject(model: ReportModel, prefix: string): string {
  if (model.kind === 'analysis' && model.analyses.length === 1) {
    const a = model.analyses[0];
    return headerSafe(`[${a.riskLevel.toUpperCase()}] ${prefix}: ${a.sourceName} – ${formatNumber(a.anomalyCount)} flagged values in ${formatNumber(a.recordsAnalyzed)} records`);
  }
  const risk = highestRisk(model.analyses);
  const files = model.processing?.files ?? 0;
  return headerSafe(`${prefix} digest: ${model.analyses.length} analyses, ${files} files${risk ? `, highest risk ${risk.toUpperCase()}` : ''}`);
}

// ----- text -----

function textTable(headers: string[], rows: string[][]): string {
  const widths = headers.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)));
  const line = (cells: string[]) => cells.map((c, i) => (i === 0 ? c.padEnd(widths[i]) : c.padStart(widths[i]))).join('  ').trimEnd();
  return [line(headers), widths.map((w) => '-'.repeat(w)).join('  '), ...rows.map(line)].join('\n');
}

function processingRows(p: ProcessingStats): string[][] {
  return [
    ['Files processed', formatNumber(p.files)],
    ['Files set aside (unreadable)', formatNumber(p.failedFiles)],
    ['Files skipped (same content)', formatNumber(p.skippedFiles)],
    ['Records received', formatNumber(p.received)],
    ['Records loaded into the store', formatNumber(p.loaded)],
    ['  of which new or changed', formatNumber(p.changed)],
    ['Records validated (not loaded)', formatNumber(p.validatedOnly)],
    ['Records rejected', formatNumber(p.rejected)],
    ['Duplicates within a file', formatNumber(p.duplicates)],
    ['Older than stored (not applied)', formatNumber(p.stale)],
  ];
}

function fieldRows(a: ReportAnalysis): string[][] {
  return a.fields.map((f) => [
    f.label ? `${f.label} [${f.field}]` : f.field,
    thresholdText(f.threshold),
    formatNumber(f.counts.below_min),
    formatNumber(f.counts.above_max),
    formatNumber(f.counts.z_score),
    formatNumber(f.counts.iqr),
    formatNumber(f.counts.flagged),
  ]);
}

const FIELD_HEADERS = ['Field', 'Range', 'Below', 'Above', 'Z-score', 'IQR', 'Flagged'];

export function renderText(model: ReportModel): string {
  const out: string[] = [];
  out.push(plain(model.title), '='.repeat(Math.min(plain(model.title).length, 78)));
  if (model.period) out.push(`Period: ${model.period.from} to ${model.period.to}`);
  out.push(`Generated: ${model.generatedAt}`, '');
  if (model.processing) {
    out.push('PROCESSING', textTable(['Metric', 'Value'], processingRows(model.processing)), '');
    if (model.processing.topRejectionReasons.length > 0) {
      out.push('Top rejection reasons:');
      for (const r of model.processing.topRejectionReasons) out.push(`  ${formatNumber(r.count).padStart(6)}  ${plain(r.reason)}`);
      const more = moreReasonsText(model.processing);
      if (more) out.push(`          ${more}`);
      out.push('');
    }
  }
  if (model.analyses.length === 0) out.push('No analyses in this period.', '');
  for (const a of model.analyses) {
    out.push(`ANALYSIS: ${plain(a.sourceName)}${a.entityType ? ` (${plain(a.entityType)})` : ''}`);
    out.push(`Risk level: ${a.riskLevel.toUpperCase()} (${a.riskLevelSource === 'model' ? 'from the model' : 'from the rules'})`);
    out.push(`Analyzed: ${a.analyzedAt} | records ${formatNumber(a.recordsAnalyzed)} | with anomalies ${formatNumber(a.recordsWithAnomalies)} | flagged values ${formatNumber(a.anomalyCount)}`);
    out.push(`AI: ${AI_STATUS_TEXT[a.aiStatus]}${a.aiStatus !== 'ok' && a.aiError ? ` (${plain(a.aiError).slice(0, 300)})` : ''}`, '');
    if (a.executiveSummary) out.push('Executive summary:', `  ${plain(a.executiveSummary)}`, '');
    if (a.fields.length > 0) out.push('Anomalies by field:', textTable(FIELD_HEADERS, fieldRows(a)), '');
    const examples = a.fields.flatMap((f) => f.worstExamples.map((e) => ({ f, e })));
    if (examples.length > 0) {
      out.push('Worst values:');
      for (const { f, e } of examples) {
        const who = subjectText(e);
        out.push(`  #${e.recordNumber} ${plain(f.field)} = ${formatNumber(e.value)} (${e.kinds.map((k) => KIND_TEXT[k]).join(', ')}${e.limit !== null ? `; limit ${formatNumber(e.limit)}` : ''}`
          + `${e.zScore !== null ? `; z ${formatNumber(e.zScore)}` : ''})${who ? ` – ${plain(who)}` : ''}`);
      }
      out.push('');
    }
    if (a.insights.length > 0) out.push('Insights:', ...a.insights.map((i) => `  - ${plain(i)}`), '');
    if (a.recommendations.length > 0) out.push('Recommendations:', ...a.recommendations.map((r) => `  - ${plain(r)}`), '');
    out.push(standIn(a) ? STAND_IN_NOTE : `Model ${plain(a.modelId)}: ${formatNumber(a.inputTokens)} input + ${formatNumber(a.outputTokens)} output tokens, estimated ${formatCost(a.estimatedCostUsd)}`);
    out.push(`Analysis ${plain(a.analysisId)}: ${plain(a.analysisKey)}`, '');
  }
  out.push('Identifiers of people are pseudonymized (anon_…) unless pseudonymization was turned off.');
  return out.join('\n') + '\n';
}

// ----- HTML -----

const FONT = 'font-family:Arial,Helvetica,sans-serif;';
const CELL = `${FONT}font-size:13px;color:#222222;padding:6px 8px;border-bottom:1px solid #e0e0e0;`;
const HEAD = `${FONT}font-size:12px;color:#555555;padding:6px 8px;border-bottom:2px solid #c0c0c0;text-align:left;font-weight:bold;`;
const NUM = 'text-align:right;white-space:nowrap;';
const H2 = `${FONT}font-size:17px;color:#1a237e;margin:24px 0 8px 0;`;
const H3 = `${FONT}font-size:14px;color:#333333;margin:16px 0 6px 0;`;
const P = `${FONT}font-size:14px;color:#222222;line-height:1.5;margin:0 0 8px 0;`;

function table(headers: string[], rows: SafeHtml[], numericFrom = 1): SafeHtml {
  return html`<table role="presentation" width="100%" cellpadding="0" cellspacing="0" border="0" style="border-collapse:collapse;margin:0 0 12px 0;">
<tr>${headers.map((h, i) => html`<th style="${HEAD}${i >= numericFrom ? NUM : ''}">${h}</th>`)}</tr>
${rows}
</table>`;
}

function row(cells: unknown[], numericFrom = 1): SafeHtml {
  return html`<tr>${cells.map((c, i) => html`<td style="${CELL}${i >= numericFrom ? NUM : ''}">${c}</td>`)}</tr>\n`;
}

function badge(risk: RiskLevel): SafeHtml {
  const c = RISK_COLORS[risk];
  return html`<span style="${FONT}display:inline-block;padding:3px 10px;border-radius:10px;font-size:12px;font-weight:bold;color:${c.fg};background-color:${c.bg};">${risk.toUpperCase()}</span>`;
}

function list(items: readonly string[]): SafeHtml {
  return html`<ul style="margin:0 0 8px 20px;padding:0;">${items.map((i) => html`<li style="${P}margin:0 0 4px 0;">${i}</li>`)}</ul>`;
}

function analysisHtml(a: ReportAnalysis): SafeHtml {
  const examples = a.fields.flatMap((f) => f.worstExamples.map((e) => ({ f, e })));
  return html`<h2 style="${H2}">${a.sourceName}${a.entityType ? html` <span style="font-size:13px;color:#666666;">(${a.entityType})</span>` : ''} ${badge(a.riskLevel)}</h2>
<p style="${P}">Analyzed ${a.analyzedAt}: <b>${formatNumber(a.recordsAnalyzed)}</b> records, <b>${formatNumber(a.recordsWithAnomalies)}</b> with anomalies, <b>${formatNumber(a.anomalyCount)}</b> flagged values. Risk level ${a.riskLevelSource === 'model' ? 'from the model' : 'from the rules (no model output)'}.</p>
${a.aiStatus !== 'ok' ? html`<p style="${P}padding:8px;background-color:#fff8e1;border-left:4px solid #f9a825;">${AI_STATUS_TEXT[a.aiStatus]}${a.aiError ? html`<br><span style="font-size:12px;color:#666666;">${a.aiError.slice(0, 300)}</span>` : ''}</p>` : ''}
${a.executiveSummary ? html`<h3 style="${H3}">Executive summary</h3><p style="${P}">${a.executiveSummary}</p>` : ''}
${a.fields.length > 0 ? html`<h3 style="${H3}">Anomalies by field</h3>${table(FIELD_HEADERS, fieldRows(a).map((r) => row(r, 2)), 2)}` : ''}
${examples.length > 0 ? html`<h3 style="${H3}">Worst values</h3>${table(['Record', 'Field', 'Value', 'Checks', 'Limit', 'Z', 'Subject'], examples.map(({ f, e }) => row([
  `#${e.recordNumber}`, f.field, formatNumber(e.value), e.kinds.map((k) => KIND_TEXT[k]).join(', '), formatNumber(e.limit), formatNumber(e.zScore), subjectText(e),
], 2)), 2)}` : ''}
${a.insights.length > 0 ? html`<h3 style="${H3}">Insights</h3>${list(a.insights)}` : ''}
${a.recommendations.length > 0 ? html`<h3 style="${H3}">Recommendations</h3>${list(a.recommendations)}` : ''}
<p style="${P}font-size:12px;color:#666666;">${standIn(a) ? STAND_IN_NOTE : html`Model ${a.modelId}: ${formatNumber(a.inputTokens)} input + ${formatNumber(a.outputTokens)} output tokens, estimated ${formatCost(a.estimatedCostUsd)}.`} Analysis ${a.analysisId} (${a.analysisKey}).</p>
`;
}

export function renderHtml(model: ReportModel): string {
  const p = model.processing;
  const body = html`<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${model.title}</title>
</head>
<body style="margin:0;padding:0;background-color:#f4f4f4;">
<table role="presentation" width="100%" cellpadding="0" cellspacing="0" border="0" style="background-color:#f4f4f4;">
<tr><td align="center" style="padding:16px 8px;">
<table role="presentation" width="680" cellpadding="0" cellspacing="0" border="0" style="max-width:680px;width:100%;background-color:#ffffff;border:1px solid #dddddd;">
<tr><td style="padding:20px 24px;background-color:#1a237e;">
<h1 style="${FONT}font-size:20px;color:#ffffff;margin:0;">${model.title}</h1>
<p style="${FONT}font-size:12px;color:#c5cae9;margin:6px 0 0 0;">${model.period ? `${model.period.from} – ${model.period.to} · ` : ''}generated ${model.generatedAt}</p>
</td></tr>
<tr><td style="padding:8px 24px 24px 24px;">
${p ? html`<h2 style="${H2}">Processing</h2>${table(['Metric', 'Value'], processingRows(p).map((r) => row(r)))}
${p.topRejectionReasons.length > 0 ? html`<h3 style="${H3}">Top rejection reasons</h3>${table(['Reason', 'Records'], p.topRejectionReasons.map((r) => row([r.reason, formatNumber(r.count)])))}${moreReasonsText(p) ? html`<p style="${P}">${moreReasonsText(p)}</p>` : ''}` : ''}` : ''}
${model.analyses.length === 0 ? html`<p style="${P}">No analyses in this period.</p>` : model.analyses.map(analysisHtml)}
<p style="${FONT}font-size:11px;color:#888888;margin:16px 0 0 0;">Identifiers of people are pseudonymized (anon_…) unless pseudonymization was turned off. Sent by cdk-serverless-data-pipeline.</p>
</td></tr>
</table>
</td></tr>
</table>
</body>
</html>
`;
  return body.value;
}

export function renderReport(model: ReportModel, subjectPrefix: string): RenderedReport {
  return { subject: reportSubject(model, subjectPrefix), text: renderText(model), html: renderHtml(model) };
}
