/**
 * Deterministic anomaly detection over the processed NDJSON of one run, streamed twice with flat
 * memory: pass 1 computes per-field statistics (Welford mean/variance, min/max, quartiles from
 * the values — exact up to RESERVOIR_SIZE values per field, else from a seeded uniform sample);
 * pass 2 flags values outside the configured thresholds, z-score outliers and IQR outliers, counts
 * them and keeps the worst few per field.
 */
import { createHash } from 'crypto';
import type { ThresholdConfig } from './config';
import type { AnomalyExample, AnomalyKind, FieldAnomalies, FieldStatistics } from '../shared/analysis-contract';
import type { ProcessedRecord } from '../shared/ingestion-contract';

/** Values kept per field for the quartiles; beyond, a uniform sample of this size. */
export const RESERVOIR_SIZE = 50_000;
/** Numeric attributes analyzed at most (the first seen). */
export const MAX_FIELDS = 64;
/** Other numeric attributes shown with an example. */
const MAX_CONTEXT_FIELDS = 12;

export interface DetectionOptions {
  /** Thresholds that apply to this source. */
  readonly thresholds: readonly ThresholdConfig[];
  /** Attributes to analyze; empty: every numeric attribute. Threshold fields are always analyzed. */
  readonly fields: readonly string[];
  readonly zScoreThreshold: number;
  readonly iqrMultiplier: number;
  readonly minSampleSize: number;
  readonly statisticalOutliers: boolean;
  readonly maxExamplesPerField: number;
  /** Attributes that hold personal data: never analyzed, never in context; shown through `subjectOf`. */
  readonly personalDataFields: readonly string[];
  /** The record's personal-data fields as they may be shown (pseudonymized unless turned off). */
  readonly subjectOf: (attributes: Record<string, unknown>) => Record<string, string>;
  /** Seeds the sampling (the analysis id), so a re-run gives the same result. */
  readonly seed: string;
}

export interface DetectionResult {
  readonly recordsAnalyzed: number;
  readonly unreadableLines: number;
  readonly recordsWithAnomalies: number;
  readonly anomalyCount: number;
  readonly statistics: FieldStatistics[];
  readonly anomalies: FieldAnomalies[];
}

/** Opens the processed records afresh (each pass streams the object again). */
export type LineSource = () => AsyncIterable<string>;

/* eslint-disable no-bitwise */
/** mulberry32: a small seeded PRNG (sampling must be reproducible, not secure). */
function prng(seed: string): () => number {
  let a = createHash('sha256').update(seed).digest().readUInt32LE(0);
  return () => {
    a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
/* eslint-enable no-bitwise */

class FieldAccumulator {
  count = 0;
  mean = 0;
  private m2 = 0;
  min = Infinity;
  max = -Infinity;
  private sample = new Float64Array(1024);
  private kept = 0;

  constructor(readonly field: string, private readonly random: () => number) {}

  add(value: number): void {
    this.count++;
    const delta = value - this.mean;
    this.mean += delta / this.count;
    this.m2 += delta * (value - this.mean);
    if (value < this.min) this.min = value;
    if (value > this.max) this.max = value;
    if (this.kept < RESERVOIR_SIZE) {
      if (this.kept === this.sample.length) {
        const grown = new Float64Array(Math.min(RESERVOIR_SIZE, this.sample.length * 2));
        grown.set(this.sample);
        this.sample = grown;
      }
      this.sample[this.kept++] = value;
    } else {
      // Algorithm R: each value seen so far stays in the sample with equal probability.
      const slot = Math.floor(this.random() * this.count);
      if (slot < RESERVOIR_SIZE) this.sample[slot] = value;
    }
  }

  get stdDev(): number {
    return this.count > 0 ? Math.sqrt(this.m2 / this.count) : 0;
  }

  quartiles(): { q1: number; median: number; q3: number } | null {
    if (this.kept === 0) return null;
    const sorted = this.sample.slice(0, this.kept).sort();
    const at = (p: number) => {
      const pos = (sorted.length - 1) * p;
      const lower = Math.floor(pos);
      const upper = Math.ceil(pos);
      return sorted[lower] + (sorted[upper] - sorted[lower]) * (pos - lower);
    };
    return { q1: at(0.25), median: at(0.5), q3: at(0.75) };
  }

  get exact(): boolean {
    return this.count <= RESERVOIR_SIZE;
  }
}

function round(value: number, digits = 4): number {
  const f = 10 ** digits;
  return Math.round(value * f) / f;
}

function finite(value: unknown): value is number {
  return typeof value === 'number' && Number.isFinite(value);
}

/** Parses one processed line; null for anything that is not a record with attributes. */
export function parseLine(line: string): ProcessedRecord | null {
  if (line.trim() === '') return null;
  try {
    const parsed = JSON.parse(line);
    if (!parsed || typeof parsed !== 'object' || !parsed.attributes || typeof parsed.attributes !== 'object') return null;
    return parsed as ProcessedRecord;
  } catch {
    return null;
  }
}

interface Flag {
  readonly example: AnomalyExample;
  /** Relative distance beyond the threshold; 0 when no threshold was crossed. */
  readonly thresholdExcess: number;
  /** Largest statistical score: |z|, or the distance beyond an IQR fence in IQRs. */
  readonly statScore: number;
}

/** Worse first: a threshold crossing before a statistical outlier, then by distance. */
function worse(a: Flag, b: Flag): number {
  const ta = a.thresholdExcess > 0 ? 1 : 0;
  const tb = b.thresholdExcess > 0 ? 1 : 0;
  if (ta !== tb) return tb - ta;
  if (a.thresholdExcess !== b.thresholdExcess) return b.thresholdExcess - a.thresholdExcess;
  if (a.statScore !== b.statScore) return b.statScore - a.statScore;
  return a.example.recordNumber - b.example.recordNumber;
}

interface FieldPlan {
  readonly field: string;
  readonly threshold: ThresholdConfig | null;
  readonly stats: FieldAccumulator;
  readonly zBounds: { lower: number; upper: number } | null;
  readonly fences: { lower: number; upper: number; iqr: number } | null;
  readonly counts: Record<AnomalyKind, number> & { flagged: number };
  readonly worst: Flag[];
}

export async function detectAnomalies(lines: LineSource, options: DetectionOptions): Promise<DetectionResult> {
  const personal = new Set(options.personalDataFields);
  const thresholds = new Map<string, ThresholdConfig>();
  for (const t of options.thresholds) if (!thresholds.has(t.field) && !personal.has(t.field)) thresholds.set(t.field, t);
  const wanted = options.fields.length > 0 ? new Set([...options.fields, ...thresholds.keys()]) : null;
  const random = prng(options.seed);

  // ----- pass 1: statistics -----
  const accumulators = new Map<string, FieldAccumulator>();
  for (const field of thresholds.keys()) accumulators.set(field, new FieldAccumulator(field, random));
  for (const field of wanted ?? []) {
    if (!personal.has(field) && !accumulators.has(field)) accumulators.set(field, new FieldAccumulator(field, random));
  }
  let recordsAnalyzed = 0;
  let unreadableLines = 0;
  for await (const line of lines()) {
    if (line.trim() === '') continue;
    const record = parseLine(line);
    if (!record) {
      unreadableLines++;
      continue;
    }
    recordsAnalyzed++;
    for (const [field, value] of Object.entries(record.attributes)) {
      if (!finite(value) || personal.has(field)) continue;
      let acc = accumulators.get(field);
      if (!acc) {
        if (wanted || accumulators.size >= MAX_FIELDS) continue;
        acc = new FieldAccumulator(field, random);
        accumulators.set(field, acc);
      }
      acc.add(value);
    }
  }

  const plans: FieldPlan[] = [...accumulators.values()].map((stats) => {
    const enough = options.statisticalOutliers && stats.count >= options.minSampleSize;
    const sd = stats.stdDev;
    const q = stats.quartiles();
    const iqr = q ? q.q3 - q.q1 : 0;
    return {
      field: stats.field,
      threshold: thresholds.get(stats.field) ?? null,
      stats,
      zBounds: enough && sd > 0
        ? { lower: stats.mean - options.zScoreThreshold * sd, upper: stats.mean + options.zScoreThreshold * sd }
        : null,
      fences: enough && q && iqr > 0
        ? { lower: q.q1 - options.iqrMultiplier * iqr, upper: q.q3 + options.iqrMultiplier * iqr, iqr }
        : null,
      counts: { below_min: 0, above_max: 0, z_score: 0, iqr: 0, flagged: 0 },
      worst: [],
    };
  });

  // ----- pass 2: flags -----
  let recordsWithAnomalies = 0;
  let anomalyCount = 0;
  const needsPass2 = plans.some((p) => p.threshold || p.zBounds || p.fences);
  if (needsPass2) {
    for await (const line of lines()) {
      const record = parseLine(line);
      if (!record) continue;
      let flaggedInRecord = 0;
      for (const plan of plans) {
        const value = record.attributes[plan.field];
        if (!finite(value)) continue;
        const kinds: AnomalyKind[] = [];
        let limit: number | null = null;
        let thresholdExcess = 0;
        const t = plan.threshold;
        if (t?.min !== undefined && t.min !== null && value < t.min) {
          kinds.push('below_min');
          limit = t.min;
          thresholdExcess = (t.min - value) / Math.max(Math.abs(t.min), 1);
        }
        if (t?.max !== undefined && t.max !== null && value > t.max) {
          kinds.push('above_max');
          limit = t.max;
          thresholdExcess = (value - t.max) / Math.max(Math.abs(t.max), 1);
        }
        const sd = plan.stats.stdDev;
        const z = plan.zBounds ? (value - plan.stats.mean) / sd : null;
        let statScore = 0;
        if (z !== null && Math.abs(z) > options.zScoreThreshold) {
          kinds.push('z_score');
          statScore = Math.abs(z);
        }
        if (plan.fences && (value < plan.fences.lower || value > plan.fences.upper)) {
          kinds.push('iqr');
          const beyond = value < plan.fences.lower ? plan.fences.lower - value : value - plan.fences.upper;
          statScore = Math.max(statScore, beyond / plan.fences.iqr);
        }
        if (kinds.length === 0) continue;
        for (const kind of kinds) plan.counts[kind]++;
        plan.counts.flagged++;
        flaggedInRecord++;
        const flag: Flag = {
          thresholdExcess,
          statScore,
          example: {
            recordNumber: record.recordNumber,
            sourceId: String(record.sourceId),
            field: plan.field,
            value,
            kinds,
            limit,
            zScore: z === null ? null : round(z, 2),
            subject: {},
            context: {},
          },
        };
        keepWorst(plan.worst, flag, options.maxExamplesPerField, () => ({
          ...flag,
          example: { ...flag.example, subject: options.subjectOf(record.attributes), context: contextOf(record.attributes, plan.field, personal) },
        }));
      }
      if (flaggedInRecord > 0) {
        recordsWithAnomalies++;
        anomalyCount += flaggedInRecord;
      }
    }
  }

  const statistics: FieldStatistics[] = plans.map(({ stats }) => {
    const q = stats.quartiles();
    const has = stats.count > 0;
    return {
      field: stats.field,
      count: stats.count,
      missing: recordsAnalyzed - stats.count,
      min: has ? stats.min : null,
      max: has ? stats.max : null,
      mean: has ? round(stats.mean) : null,
      stdDev: has ? round(stats.stdDev) : null,
      q1: q ? round(q.q1) : null,
      median: q ? round(q.median) : null,
      q3: q ? round(q.q3) : null,
      quantilesExact: stats.exact,
    };
  });
  const anomalies: FieldAnomalies[] = plans
    .filter((p) => p.threshold || p.counts.flagged > 0)
    .map((p) => ({
      field: p.field,
      label: p.threshold?.label ?? null,
      threshold: p.threshold ? { min: p.threshold.min ?? null, max: p.threshold.max ?? null } : null,
      counts: p.counts,
      zScoreBounds: p.zBounds ? { lower: round(p.zBounds.lower), upper: round(p.zBounds.upper) } : null,
      iqrFences: p.fences ? { lower: round(p.fences.lower), upper: round(p.fences.upper) } : null,
      worstExamples: p.worst.map((f) => f.example),
    }));
  return { recordsAnalyzed, unreadableLines, recordsWithAnomalies, anomalyCount, statistics, anomalies };
}

/** Inserts in order when the flag is among the `max` worst; `complete` adds the costly parts only then. */
function keepWorst(list: Flag[], flag: Flag, max: number, complete: () => Flag): void {
  if (list.length >= max && worse(flag, list[list.length - 1]) >= 0) return;
  const full = complete();
  let i = list.length;
  while (i > 0 && worse(full, list[i - 1]) < 0) i--;
  list.splice(i, 0, full);
  if (list.length > max) list.pop();
}

function contextOf(attributes: Record<string, unknown>, field: string, personal: ReadonlySet<string>): Record<string, number> {
  const context: Record<string, number> = {};
  let n = 0;
  for (const [key, value] of Object.entries(attributes)) {
    if (key === field || personal.has(key) || !finite(value)) continue;
    context[key] = value;
    if (++n >= MAX_CONTEXT_FIELDS) break;
  }
  return context;
}
