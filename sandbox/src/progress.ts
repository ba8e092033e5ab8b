/** Start-up progress: one line per step, with its time; a spinner while it runs on a terminal. */
export type Printer = (line: string) => void;

const FRAMES = ['⠋', '⠙', '⠹', '⠸', '⠼', '⠴', '⠦', '⠧', '⠇', '⠏'];

export class Progress {
  constructor(private readonly print: Printer, private readonly tty: boolean) {}

  async step<T>(label: string, run: () => Promise<T>, detail?: (result: T) => string): Promise<T> {
    const started = Date.now();
    let frame = 0;
    const timer = this.tty
      ? setInterval(() => process.stdout.write(`\r${FRAMES[frame++ % FRAMES.length]} ${label}…`), 80)
      : undefined;
    try {
      const result = await run();
      if (timer) {
        clearInterval(timer);
        process.stdout.write('\r\x1b[2K');
      }
      const extra = detail ? detail(result) : '';
      this.print(`✔ ${label}${extra ? `: ${extra}` : ''} (${seconds(Date.now() - started)})`);
      return result;
    } catch (error) {
      if (timer) {
        clearInterval(timer);
        process.stdout.write('\r\x1b[2K');
      }
      this.print(`✘ ${label} (${seconds(Date.now() - started)})`);
      throw error;
    }
  }

  info(line: string): void {
    this.print(line);
  }
}

export function seconds(ms: number): string {
  return ms < 1000 ? `${ms} ms` : `${(ms / 1000).toFixed(1)} s`;
}
