/**
 * The JSON log lines a handler writes while `fn` runs, parsed (Powertools loggers write INFO to
 * stdout and WARN/ERROR to stderr); the output still reaches the streams.
 */
export async function captureLogLines<T>(fn: () => Promise<T>): Promise<{ result?: T; error?: unknown; lines: Array<Record<string, any>> }> {
  const lines: Array<Record<string, any>> = [];
  const restore = [process.stdout, process.stderr].map((stream) => {
    const write = stream.write.bind(stream); // before the spy (or the test's own spy, which this one chains to)
    const spy = jest.spyOn(stream, 'write');
    const original = spy.getMockImplementation();
    spy.mockImplementation(((chunk: any, ...rest: any[]) => {
      for (const line of String(chunk).split('\n')) {
        if (!line.startsWith('{') || !line.includes('"level"')) continue;
        try {
          lines.push(JSON.parse(line));
        } catch {
          // not a log line
        }
      }
      return original ? original(chunk, ...rest) : write(chunk, ...rest);
    }) as any);
    return () => (original ? spy.mockImplementation(original) : spy.mockRestore());
  });
  try {
    return { result: await fn(), lines };
  } catch (error) {
    return { error, lines };
  } finally {
    for (const r of restore) r();
  }
}

/** What every handler's log line must carry: the invocation's request id and the cold-start flag. */
export function expectLambdaContext(line: Record<string, any> | undefined, requestId: string): void {
  expect(line).toBeDefined();
  expect(line).toMatchObject({ function_request_id: requestId, function_name: expect.any(String) });
  expect(typeof line!.cold_start).toBe('boolean');
}

/**
 * Captures the embedded-metrics (EMF) documents written to stdout from now on, parsed, and lets
 * every other line through; `restore()` puts stdout back.
 */
export function captureEmf(): { documents: Array<Record<string, any>>; restore: () => void } {
  const documents: Array<Record<string, any>> = [];
  const write = process.stdout.write.bind(process.stdout);
  process.stdout.write = ((chunk: any, ...rest: any[]) => {
    if (String(chunk).includes('"_aws"')) {
      documents.push(JSON.parse(String(chunk)));
      return true;
    }
    return write(chunk, ...rest);
  }) as typeof process.stdout.write;
  return { documents, restore: () => { process.stdout.write = write; } };
}
