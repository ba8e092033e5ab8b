/**
 * The bad-input corpus (test/fixtures/ingest/bad, plus the huge cases generated here): for each
 * file the handler neither crashes nor loops, the counts add up, valid records are loaded, and
 * invalid ones are in rejected/ with a reason a person understands.
 */
import { createHash } from 'crypto';
import * as fs from 'fs';
import * as path from 'path';
import { gunzipSync, gzipSync } from 'zlib';
import { PutObjectCommand } from '@aws-sdk/client-s3';
import { BUCKET, IngestHarness, startIngestHarness, useCommonJsStreamJson } from './support/ingest-harness';
import { countsImbalance, IngestionManifest } from '../lambda/shared/ingestion-contract';
import { BuiltInSources } from '../src/ingestion-pipeline/built-in-sources';
import { InputFormat } from '../src/ingestion-pipeline/source-definition';

const corpus = (name: string) => fs.readFileSync(path.join(__dirname, 'fixtures', 'ingest', 'bad', name));

interface Outcome {
  readonly type: 'Ingestion Succeeded' | 'Ingestion Failed';
  readonly detail: any;
  readonly manifest: IngestionManifest;
  readonly processed: any[];
  readonly rejected: any[];
  /** `line or record number → reason codes` of the rejected output. */
  readonly reasons: string[];
}

describe('ingest handler: the bad-input corpus', () => {
  let h: IngestHarness;
  let n = 0;

  beforeAll(async () => {
    h = await startIngestHarness([
      BuiltInSources.crmCustomers(),
      BuiltInSources.crmCustomers({ name: 'crm-csv', prefix: 'crm-csv/' }),
      { ...BuiltInSources.crmCustomers({ name: 'crm-wrapped', prefix: 'crm-wrapped/' }), format: InputFormat.JSON_OBJECT, recordsPath: 'data.customers' },
    ]);
  });
  afterAll(async () => h.close());

  async function ingest(prefix: string, name: string, body: Buffer | string = corpus(name)): Promise<Outcome> {
    const key = `${prefix}${++n}-${name}`;
    await h.put(key, body);
    const response = await h.deliver(key);
    expect(response.batchItemFailures).toEqual([]);
    const events = h.eventBridge.events.filter((e) => e.detail.objectKey === key);
    expect(events).toHaveLength(1);
    const { detailType, detail } = events[0];
    const manifest: IngestionManifest = JSON.parse(await h.getText(detail.manifestKey));
    expect(countsImbalance(manifest.counts)).toBe(0);
    expect(manifest.counts).toEqual(detail.counts);
    const processed = manifest.outputs.processedKey ? await h.getJsonLines(manifest.outputs.processedKey) : [];
    const rejected = manifest.outputs.rejectedKey ? await h.getJsonLines(manifest.outputs.rejectedKey) : [];
    if (manifest.status === 'succeeded') {
      const c = manifest.counts;
      expect(processed).toHaveLength(c.inserted + c.updated + c.unchanged + c.stale + c.notLoaded);
      expect(rejected).toHaveLength(manifest.counts.rejected + manifest.counts.duplicates);
    }
    for (const r of rejected) for (const reason of r.reasons) expect(reason.message.length).toBeGreaterThan(10);
    return {
      type: detailType as Outcome['type'],
      detail,
      manifest,
      processed,
      rejected,
      reasons: rejected.map((r) => `${r.line ?? r.recordNumber}: ${r.reasons.map((x: any) => x.code).join(',')}`),
    };
  }

  const loadedIds = (o: Outcome) => o.processed.map((p) => p.sourceId);

  test('invalid JSON inside a JSON array: the records before it load, the rest is one rejection with its byte offset', async () => {
    const o = await ingest('crm-data/', 'invalid.json');
    expect(o.type).toBe('Ingestion Succeeded');
    expect(loadedIds(o)).toEqual(['K1']);
    expect(o.manifest.counts).toMatchObject({ received: 2, inserted: 1, rejected: 1 });
    const offset = corpus('invalid.json').indexOf('}, {') + 1;
    expect(o.rejected).toEqual([expect.objectContaining({ recordNumber: 2, byteOffset: offset, reasons: [expect.objectContaining({ code: 'invalid_json' })] })]);
    expect(o.rejected[0].reasons[0].message).toBe('the JSON document is invalid after its last complete record (Parser cannot parse input: expected an object key): '
      + `everything from byte ${offset} is set aside (1 complete record kept)`);
  });

  test('invalid NDJSON lines are rejected one by one; the others load', async () => {
    const o = await ingest('crm-data/', 'invalid-lines.ndjson');
    expect(loadedIds(o)).toEqual(['K1', 'K3', 'K4']);
    expect(o.reasons).toEqual(['2: invalid_json', '4: invalid_json']);
    expect(o.rejected[0].reasons[0].message).toMatch(/^not valid JSON \(Unexpected token/);
    expect(o.rejected[1].original).toBe('not json at all');
  });

  test('a truncated NDJSON file loses only its cut line; a CSV cut inside a quote keeps the rows before it', async () => {
    const ndjson = await ingest('crm-data/', 'truncated.ndjson');
    expect(loadedIds(ndjson)).toEqual(['K1', 'K2']);
    expect(ndjson.reasons).toEqual(['3: invalid_json']);
    const csv = await ingest('crm-csv/', 'truncated.csv');
    expect(csv.manifest).toMatchObject({ status: 'succeeded', error: null, counts: { received: 2, rejected: 1 } });
    expect(loadedIds(csv)).toEqual(['K1']);
    const offset = corpus('truncated.csv').indexOf('K2');
    expect(csv.rejected).toEqual([expect.objectContaining({ recordNumber: 2, byteOffset: offset, reasons: [expect.objectContaining({ code: 'truncated' })] })]);
    expect(csv.rejected[0].reasons[0].message).toMatch(
      new RegExp(`^A quoted CSV field is never closed .*: everything from byte ${offset}, just after the last complete record, is set aside \\(1 complete record kept\\)$`));
  });

  test('a JSON array cut after five records: exactly 5 kept, the cut record is one rejection with its byte offset', async () => {
    const body = corpus('truncated-array.json');
    const o = await ingest('crm-data/', 'truncated-array.json');
    expect(o.type).toBe('Ingestion Succeeded');
    expect(loadedIds(o)).toEqual(['T1', 'T2', 'T3', 'T4', 'T5']);
    expect(o.manifest.counts).toMatchObject({ received: 6, inserted: 5, rejected: 1 });
    const offset = body.indexOf(', {"customer_id": "T6"');
    expect(o.rejected).toEqual([{
      recordNumber: 6,
      line: null,
      byteOffset: offset,
      disposition: 'rejected',
      originalTruncated: false,
      original: body.subarray(offset + 2).toString(),
      reasons: [{ code: 'truncated', message: expect.stringMatching(new RegExp(`^the JSON document ends early \\(truncated upload\\?\\): everything from byte ${offset}, just after the last complete record, is set aside \\(5 complete records kept; `)) }],
    }]);
  });

  test('a large JSON array cut at any point keeps exactly the complete records, whatever the chunking', async () => {
    const records = Array.from({ length: 3000 }, (_, i) => JSON.stringify({ customer_id: `L${i}`, name: `Large ${i} ${'ü'.repeat(i % 5)}`, industry: 'x'.repeat(i % 300) }));
    const full = `[${records.join(',\n')}]`;
    const cutAfter = 2345; // records kept
    const offset = Buffer.byteLength(`[${records.slice(0, cutAfter).join(',\n')}`);
    const body = Buffer.from(full).subarray(0, offset + 40);
    const o = await ingest('crm-data/', 'large-cut.json', body);
    expect(o.manifest.counts).toMatchObject({ received: cutAfter + 1, inserted: cutAfter, rejected: 1 });
    expect(o.rejected[0]).toMatchObject({ recordNumber: cutAfter + 1, byteOffset: offset, reasons: [{ code: 'truncated' }] });
  });

  test('trailing garbage after a complete JSON array: every record loads, the garbage is one rejection', async () => {
    const body = corpus('trailing-garbage.json');
    const o = await ingest('crm-data/', 'trailing-garbage.json');
    expect(loadedIds(o)).toEqual(['T1', 'T2', 'T3']);
    // The offset is the end of the last complete record (the array's `]` and what follows are set aside).
    expect(o.rejected).toEqual([expect.objectContaining({ recordNumber: 4, byteOffset: body.indexOf(']'), reasons: [expect.objectContaining({ code: 'invalid_json' })] })]);
    expect(o.rejected[0].reasons[0].message).toMatch(/^the JSON document is invalid after its last complete record \(Parser cannot parse input: unexpected characters\)/);
  });

  test('UTF-16 and UTF-32 files with a byte-order mark are transcoded and loaded; the manifest says how they were read', async () => {
    const csv = await ingest('crm-csv/', 'utf16le-bom.csv');
    expect(csv.processed.map((p) => [p.sourceId, p.attributes.name])).toEqual([['U1', 'Zoë Ünicode'], ['U2', 'Ελένη']]);
    expect(csv.manifest.decoding).toEqual({ compression: 'none', textEncoding: 'utf-16le', byteOrderMark: true, decompressedBytes: null, limits: null });
    const json = await ingest('crm-data/', 'utf16be-bom.json');
    expect(json.processed.map((p) => [p.sourceId, p.attributes.name])).toEqual([['V1', 'Big-endian \u{1F600}'], ['V2', 'Zwei']]);
    expect(json.manifest.decoding).toMatchObject({ textEncoding: 'utf-16be' });
    for (const [name, ids, encoding] of [['utf32le-bom.ndjson', ['W1', 'W2'], 'utf-32le'], ['utf32be-bom.ndjson', ['X1', 'X2'], 'utf-32be']] as const) {
      const o = await ingest('crm-data/', name);
      expect(loadedIds(o)).toEqual(ids);
      expect(o.manifest.decoding).toMatchObject({ textEncoding: encoding, byteOrderMark: true });
    }
  });

  test('gzip is loaded, told by its magic bytes or by Content-Encoding; the manifest says so', async () => {
    const byMagic = await ingest('crm-data/', 'gzipped.ndjson.gz');
    expect(loadedIds(byMagic)).toEqual(['G1', 'G2']);
    expect(byMagic.manifest.decoding).toMatchObject({ compression: 'gzip', textEncoding: 'utf-8', decompressedBytes: gunzipSync(corpus('gzipped.ndjson.gz')).length, limits: { maxDecompressedBytes: 8 * 1024 ** 3, maxRatio: 200 } });
    const key = `crm-data/${++n}-content-encoding.ndjson`;
    await h.s3.send(new PutObjectCommand({ Bucket: BUCKET, Key: key, Body: gzipSync('{"customer_id": "G3", "name": "Encoded"}\n'), ContentEncoding: 'gzip' }));
    expect((await h.deliver(key)).batchItemFailures).toEqual([]);
    const event = h.eventBridge.events.find((e) => e.detail.objectKey === key)!;
    expect(event.detail.counts).toMatchObject({ received: 1, inserted: 1 });
  });

  test('a zip bomb (gzip past the ratio bound) is set aside with that reason; nothing of it loads', async () => {
    const bomb = gzipSync(Buffer.concat([Buffer.from('['), Buffer.alloc(40 * 1024 * 1024, ' '), Buffer.from('{"customer_id": "Z1", "name": "Bomb"}]')]));
    expect(bomb.length).toBeLessThan(100 * 1024);
    const o = await ingest('crm-data/', 'bomb.json.gz', bomb);
    expect(o.type).toBe('Ingestion Failed');
    expect(o.manifest).toMatchObject({ status: 'rejected', error: { code: 'decompression_limit' }, decoding: { compression: 'gzip' } });
    expect(o.manifest.error!.message).toMatch(/^The gzip object decompresses more than 200 times its compressed size .*: refused as a likely zip bomb\.$/);
    process.env.MAX_DECOMPRESSED_BYTES = '1000';
    try {
      const big = await ingest('crm-data/', 'too-big.ndjson.gz', gzipSync(`${'{"customer_id": "Z2", "name": "Big"}\n'.repeat(100)}`));
      expect(big.manifest.error).toEqual({ code: 'decompression_limit', message: 'The gzip object decompresses to more than 1000 bytes (the limit against zip bombs); split the file.' });
    } finally {
      delete process.env.MAX_DECOMPRESSED_BYTES;
    }
  });

  test('a CSV whose header does not parse with the delimiter gets one file-level reason naming the likely one', async () => {
    const o = await ingest('crm-csv/', 'semicolon.csv');
    expect(o.type).toBe('Ingestion Failed');
    expect(o.manifest.error).toEqual({
      code: 'invalid_format',
      line: 1,
      message: 'The CSV header does not parse with the delimiter "," (it is one column: "customer_id;name;email"); it looks delimited by ";": '
        + 'set the source\'s csvDelimiter to ";", or re-export with ",".',
    });
  });

  test('a number out of range (1e400) is rejected and keeps its original text in the rejected copy', async () => {
    const o = await ingest('crm-data/', 'out-of-range.json');
    expect(loadedIds(o)).toEqual(['R1']);
    expect(o.rejected).toEqual([expect.objectContaining({ recordNumber: 2, reasons: [expect.objectContaining({ code: 'non_finite_number' })] })]);
    expect(o.rejected[0].original).toBe('{"customer_id": "R2", "name": "Huge", "lifetime_value": 1e400}');
  });

  test('a CSV cut inside a quoted field after several rows keeps those rows', async () => {
    const o = await ingest('crm-csv/', 'truncated-records.csv');
    expect(loadedIds(o)).toEqual(['C1', 'C2']);
    expect(o.rejected).toEqual([expect.objectContaining({ recordNumber: 3, byteOffset: corpus('truncated-records.csv').indexOf('C3'), reasons: [expect.objectContaining({ code: 'truncated' })] })]);
  });

  test('a damaged CSV is hashed whole: a record over the limit stops the parsing, not the reading', async () => {
    // Cut off inside a quoted field that runs on for 3 MB: csv-parse fails at its 1 MB limit, mid-object.
    const head = 'customer_id,name,email\r\nK1,One,k1@example.com\r\n';
    const body = Buffer.from(`${head}K2,"${'never closed '.repeat(250_000)}\r\nK3,Three,k3@example.com\r\n`);
    const o = await ingest('crm-csv/', 'over-limit.csv', body);
    expect(loadedIds(o)).toEqual(['K1']);
    expect(o.rejected).toEqual([expect.objectContaining({ recordNumber: 2, byteOffset: head.length, reasons: [expect.objectContaining({ code: 'csv_malformed' })] })]);
    expect(o.manifest.object.sha256).toBe(createHash('sha256').update(body).digest('hex'));
  });

  test('CSV byte offsets count the byte-order mark, in every encoding (a damaged file after its BOM)', async () => {
    const text = '\ufeffcustomer_id,name,email\r\nK1,Zoë \u{1F600} Ünicode,k1@example.com\r\nK2,"Two is cut\r\n';
    const utf32be = (t: string) => Buffer.concat([...t].map((c) => {
      const b = Buffer.alloc(4);
      b.writeUInt32BE(c.codePointAt(0)!);
      return b;
    }));
    for (const [name, encode, store] of [
      ['utf8-bom-truncated.csv', (t: string) => Buffer.from(t), (b: Buffer) => b],
      ['utf16le-bom-truncated.csv', (t: string) => Buffer.from(t, 'utf16le'), (b: Buffer) => b],
      ['utf32be-bom-truncated.csv', utf32be, (b: Buffer) => b],
      ['utf8-bom-truncated.csv.gz', (t: string) => Buffer.from(t), (b: Buffer) => gzipSync(b)],
    ] as const) {
      const o = await ingest('crm-csv/', name, store(encode(text)));
      expect(loadedIds(o)).toEqual(['K1']);
      // The offset is in the (decompressed) file, in its own encoding: K2's first byte.
      const offset = encode(text.slice(0, text.indexOf('K2'))).length;
      expect(o.rejected).toEqual([expect.objectContaining({ recordNumber: 2, byteOffset: offset, reasons: [expect.objectContaining({ code: 'truncated' })] })]);
      expect(o.rejected[0].reasons[0].message).toContain(`everything from byte ${offset}, just after the last complete record`);
    }
  });

  test('a JSON object whose records key comes first or later: complete, or cut off in a record', async () => {
    const records = ['{"customer_id": "J1", "name": "One"}', '{"customer_id": "J2", "name": "Huge", "lifetime_value": 1e400}', '{"customer_id": "J3", "name": "Three"}'];
    const array = `[${records.join(', ')}]`;
    const wrappers = [
      ['{"data": {"customers": ', '}}'],
      ['{"data": {"customers": ', ', "count": 3}, "meta": {"customers": []}}'],
      ['{"data": {"count": 3, "customers": ', '}}'],
      ['{"meta": {"exported": "2024-03-01", "customers": [1]}, "data": {"customers": ', '}}'],
    ];
    for (const [i, [before, after]] of wrappers.entries()) {
      const complete = await ingest('crm-wrapped/', 'wrapped-order.json', `${before}${array}${after}`);
      expect(loadedIds(complete)).toEqual(['J1', 'J3']);
      // The splitter found the records: the rejected one keeps its text as sent.
      expect(complete.rejected).toEqual([expect.objectContaining({ recordNumber: 2, original: records[1], reasons: [expect.objectContaining({ code: 'non_finite_number' })] })]);
      // (Leading blanks keep the cut files apart: a file with the same bytes as an earlier one is a duplicate delivery.)
      const cutAt = `${' '.repeat(i)}${before}[${records[0]}, ${records[1]}`;
      const cut = await ingest('crm-wrapped/', 'wrapped-cut.json', `${cutAt}, ${records[2].slice(0, 20)}`);
      expect(cut.manifest.error).toBeNull();
      expect(loadedIds(cut)).toEqual(['J1']);
      expect(cut.reasons).toEqual(['2: non_finite_number', '3: truncated']);
      expect(cut.rejected[1]).toMatchObject({ byteOffset: Buffer.byteLength(cutAt), original: records[2].slice(0, 20) });
    }
  });

  test('a UTF-8 BOM is valid input (JSON and CSV)', async () => {
    expect(loadedIds(await ingest('crm-data/', 'bom.json'))).toEqual(['K1', 'K2']);
    const csv = await ingest('crm-csv/', 'bom.csv');
    expect(csv.processed).toEqual([expect.objectContaining({ sourceId: 'K1', attributes: expect.objectContaining({ name: 'One' }) })]);
  });

  test('Latin-1 bytes: the file is not UTF-8 and is set aside with that reason', async () => {
    const o = await ingest('crm-csv/', 'latin1.csv');
    expect(o.type).toBe('Ingestion Failed');
    expect(o.manifest.error).toMatchObject({ code: 'not_utf8' });
    expect(o.manifest.error!.message).toMatch(/not valid UTF-8.*re-export it as UTF-8/);
  });

  test('an empty file is an empty run in every format', async () => {
    for (const [prefix, name] of [['crm-data/', 'empty.json'], ['crm-csv/', 'empty.csv']]) {
      const o = await ingest(prefix, name);
      expect(o.type).toBe('Ingestion Succeeded');
      expect(o.manifest.counts.received).toBe(0);
      expect(o.manifest.outputs).toEqual({ processedKey: null, rejectedKey: null, compression: 'none' });
    }
  });

  test('CSV rows with missing or extra columns are rejected; quoted newlines and quotes are valid', async () => {
    const columns = await ingest('crm-csv/', 'columns.csv');
    expect(loadedIds(columns)).toEqual(['K1', 'K4']);
    expect(columns.rejected.map((r) => [r.line, r.reasons[0].message])).toEqual([
      [3, 'row has fewer columns than the header (4)'],
      [4, 'row has more columns than the header (4)'],
    ]);
    const quoted = await ingest('crm-csv/', 'quoted-newlines.csv');
    expect(quoted.processed.map((p) => [p.sourceId, p.attributes.name, p.attributes.industry])).toEqual([
      ['K1', 'Line one\nline two, with comma', 'he said "hi"'],
      ['K2', 'Plain', 'retail'],
    ]);
    expect(quoted.processed[1].recordNumber).toBe(2);
  });

  test('formula-injection cells are rejected; phone numbers and plain negatives are not', async () => {
    const o = await ingest('crm-csv/', 'formula.csv');
    expect(loadedIds(o)).toEqual(['K3', 'K5']);
    expect(o.rejected.map((r) => [r.line, r.reasons.map((x: any) => x.message)])).toEqual([
      [2, ['name starts like a spreadsheet formula (=, +, -, @)']],
      [3, ['name starts like a spreadsheet formula (=, +, -, @)']],
      [5, ['name starts like a spreadsheet formula (=, +, -, @)']],
    ]);
  });

  test('__proto__ keys are rejected and pollute nothing; a "constructor" key is harmless data', async () => {
    const o = await ingest('crm-data/', 'proto.ndjson');
    expect(loadedIds(o)).toEqual(['P2']);
    expect(o.rejected.map((r) => r.reasons[0].message)).toEqual(['__proto__ is not an allowed field name', 'meta.__proto__ is not an allowed field name']);
    expect(({} as any).polluted).toBeUndefined();
    expect(Object.prototype.hasOwnProperty.call(Object.prototype, 'polluted')).toBe(false);
  });

  test('NaN and Infinity: invalid JSON, a non-finite number, or out of range after CSV coercion', async () => {
    const json = await ingest('crm-data/', 'nan-infinity.ndjson');
    expect(loadedIds(json)).toEqual(['N4']);
    expect(json.reasons).toEqual(['1: invalid_json', '2: invalid_json', '3: non_finite_number']);
    const csv = await ingest('crm-csv/', 'nan-infinity.csv');
    expect(loadedIds(csv)).toEqual(['N4']);
    expect(csv.rejected.map((r) => r.reasons[0].message)).toEqual([
      // "Infinity" coerces to a number that is not finite (ajv strict: strictNumbers), caught after coercion.
      'lifetime_value must be of type number,null', 'lifetime_value is not a finite number',
      // "-Infinity" is text starting with "-" that is not a number: what a spreadsheet would evaluate.
      'lifetime_value starts like a spreadsheet formula (=, +, -, @)',
    ]);
    expect(csv.processed[0].attributes.lifetime_value).toBe(1000);
  });

  test('integers beyond 2^53 are rejected rather than silently rounded', async () => {
    const o = await ingest('crm-data/', 'big-numbers.ndjson');
    expect(loadedIds(o)).toEqual(['9007199254740991']);
    expect(o.rejected.map((r) => r.reasons[0])).toEqual([
      { code: 'unsafe_integer', field: 'customer_id', message: 'customer_id is an integer beyond 2^53 that cannot be kept exactly; send it as a string' },
      { code: 'unsafe_integer', field: 'lifetime_value', message: 'lifetime_value is an integer beyond 2^53 that cannot be kept exactly; send it as a string' },
    ]);
  });

  test('dates in wrong formats or impossible dates are rejected; a leap day is fine', async () => {
    const o = await ingest('crm-data/', 'dates.ndjson');
    expect(loadedIds(o)).toEqual(['K5']);
    expect(o.rejected.map((r) => r.reasons.map((x: any) => x.message).join('; '))).toEqual([
      'signup_date must be a valid date', 'signup_date must be a valid date', 'signup_date must be a valid date', 'updated_at must be a valid date-time',
    ]);
    expect(o.processed[0].attributes.signup_date).toBe('2024-02-29');
  });

  test('duplicate ids within a file: the first occurrence is kept, later ones are counted and set aside', async () => {
    const o = await ingest('crm-data/', 'duplicates.ndjson');
    expect(o.manifest.counts).toMatchObject({ received: 5, duplicates: 2, rejected: 0 });
    expect(o.processed.map((p) => [p.sourceId, p.attributes.name])).toEqual([['K1', 'Customer 1'], ['K2', 'Customer 2'], ['K3', 'Customer 3']]);
    expect(o.rejected.map((r) => [r.line, r.disposition, r.reasons[0].code])).toEqual([[3, 'duplicate', 'duplicate_in_file'], [5, 'duplicate', 'duplicate_in_file']]);
  });

  test('text PostgreSQL would refuse (NUL, lone surrogates) and non-objects are rejected alone; the batch loads', async () => {
    const o = await ingest('crm-data/', 'unstorable.ndjson');
    expect(loadedIds(o)).toEqual(['U3']);
    expect(o.reasons).toEqual(['1: not_storable', '2: not_storable', '4: not_an_object', '5: not_an_object']);
    const { rows } = await h.db.pool.query("SELECT attributes->>'name' AS name FROM canonical.entities WHERE source_id = 'U3'");
    expect(rows[0].name).toBe('fine \u{1F600} emoji');
  });

  test('CRLF line ends and blank lines in NDJSON', async () => {
    const o = await ingest('crm-data/', 'crlf.ndjson');
    expect(loadedIds(o)).toEqual(['K1', 'K2']);
    expect(o.manifest.counts.received).toBe(2);
  });

  test('a JSON object with the records under a path; the path missing or a non-array document stops the file', async () => {
    expect(loadedIds(await ingest('crm-wrapped/', 'wrapped.json'))).toEqual(['K1', 'K2']);
    const missing = await ingest('crm-wrapped/', 'wrapped-missing.json');
    expect(missing.manifest.error).toEqual({ code: 'invalid_format', message: 'The JSON document has no array of records at "data.customers".' });
    const notArray = await ingest('crm-data/', 'not-an-array.json');
    expect(notArray.manifest.error).toMatchObject({ code: 'invalid_format', message: expect.stringMatching(/not an array of records/) });
  });

  test('an extension the source cannot read is set aside', async () => {
    const o = await ingest('crm-data/', 'unknown.txt');
    expect(o.manifest.error).toMatchObject({ code: 'invalid_format', message: expect.stringMatching(/Cannot tell the format/) });
  });

  test('a single 50 MB line is rejected without being held, the lines around it load', async () => {
    const big = `{"customer_id": "HUGE", "name": "${'x'.repeat(50 * 1024 * 1024)}"}`;
    const body = Buffer.from(`{"customer_id": "A", "name": "Before"}\n${big}\n{"customer_id": "B", "name": "After"}\n`);
    const o = await ingest('crm-data/', 'fifty-mb-line.ndjson', body);
    expect(loadedIds(o)).toEqual(['A', 'B']);
    expect(o.rejected).toHaveLength(1);
    expect(o.rejected[0]).toMatchObject({ line: 2, originalTruncated: false, reasons: [{ code: 'line_too_long', message: 'line is longer than the limit of 1048576 characters' }] });
    expect(o.rejected[0].original.length).toBe(64 * 1024);
  });

  test('deeply nested JSON is rejected per record, in NDJSON and inside a JSON array', async () => {
    const deep = (d: number) => `{"customer_id": "DEEP", "name": "n", "x": ${'['.repeat(d)}${']'.repeat(d)}}`;
    const ndjson = await ingest('crm-data/', 'deep.ndjson', `${deep(100_000)}\n{"customer_id": "SHALLOW", "name": "ok", "x": ${'['.repeat(10)}${']'.repeat(10)}}\n`);
    expect(loadedIds(ndjson)).toEqual(['SHALLOW']);
    expect(ndjson.rejected[0].reasons).toEqual([{ code: 'too_deep', message: 'record is nested deeper than 32 levels' }]);
    const array = await ingest('crm-data/', 'deep.json', `[{"customer_id": "OK", "name": "fine"}, ${deep(5_000)}]`);
    expect(loadedIds(array)).toEqual(['OK']);
    expect(array.reasons).toEqual(['2: too_deep']);
  });
});

describe('readers: the hash is of the whole object, whatever the reader does after damage', () => {
  useCommonJsStreamJson();

  /** The bytes in chunks of `size` (the last one shorter). */
  async function* chunked(bytes: Buffer, size: number): AsyncGenerator<Uint8Array> {
    for (let at = 0; at < bytes.length; at += size) yield bytes.subarray(at, at + size);
  }

  const csvRows = Array.from({ length: 50 }, (_, i) => `${i},row ${i}\n`).join('');
  const jsonRecords = Array.from({ length: 50 }, (_, i) => `{"id": ${i}, "name": "row ${i} \u00fc"}`);
  const cases: Array<[string, Record<string, unknown>, Buffer]> = [
    ['CSV, a record over the limit mid-file', { format: 'csv' }, Buffer.from(`a,b\n1,2\n"${'x'.repeat(300)}",3\n${csvRows}`)],
    ['CSV with a BOM, a quote never closed mid-file', { format: 'csv' }, Buffer.from(`\ufeffa,b\n1,2\n3,"${'never closed, '.repeat(30)}\n${csvRows}`)],
    ['gzipped CSV, a record over the limit mid-file', { format: 'csv' }, gzipSync(`a,b\n1,2\n"${'x'.repeat(300)}",3\n${csvRows}`)],
    ['UTF-16 CSV, a record over the limit mid-file', { format: 'csv' }, Buffer.from(`\ufeffa,b\n1,\u{1F600} ü\n"${'x'.repeat(300)}",3\n${csvRows}`, 'utf16le')],
    ['NDJSON, bad and cut-off lines', { format: 'ndjson' }, Buffer.from(`${jsonRecords.slice(0, 20).join('\n')}\nnot json\n${'y'.repeat(300)}\n${jsonRecords.slice(20).join('\n')}\n{"id": 99, "na`)],
    ['JSON array, invalid mid-file', { format: 'json_array' }, Buffer.from(`[${jsonRecords.slice(0, 10).join(', ')}, {"id": tru}, ${jsonRecords.slice(10).join(', ')}]`)],
    ['JSON array, cut off', { format: 'json_array' }, Buffer.from(`[${jsonRecords.join(', ')}`.slice(0, -10))],
    ['JSON object, records key first, cut off', { format: 'json_object', recordsPath: 'records' }, Buffer.from(`{"records": [${jsonRecords.join(', ')}`.slice(0, -10))],
  ];

  test.each(cases)('%s', async (_label, options, bytes) => {
    /* eslint-disable-next-line @typescript-eslint/no-require-imports */
    const { decodeText, readRecords } = require('../lambda/ingestion-pipeline/readers') as typeof import('../lambda/ingestion-pipeline/readers');
    const whole = createHash('sha256').update(bytes).digest('hex');
    const seen: string[] = [];
    for (const size of [1, 2, 7, 64, 1000, bytes.length]) {
      const hash = createHash('sha256');
      const progress = { bytes: 0, ended: false };
      const records: unknown[] = [];
      // As run.ts reads: every record, then the digest.
      for await (const r of readRecords(decodeText(chunked(bytes, size), hash, progress), { maxRecordLength: 100, progress, ...options } as any)) {
        records.push({ n: r.recordNumber, value: r.value, reasons: r.reasons?.map((x) => x.code), byteOffset: r.byteOffset });
      }
      expect({ size, bytes: progress.bytes, sha256: hash.digest('hex') }).toEqual({ size, bytes: bytes.length, sha256: whole });
      expect(records.some((r: any) => r.reasons)).toBe(true);
      seen.push(JSON.stringify(records));
    }
    // What is read does not depend on the chunking either.
    expect(new Set(seen).size).toBe(1);
  });
});
