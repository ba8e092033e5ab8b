/** Bedrock Runtime: the deterministic stand-in (or, with --real-bedrock, a forwarder to real Bedrock). */
import { LocalBedrock, startLocalBedrock } from '../bedrock';
import { SandboxService, ServiceContext } from './service';

export class BedrockService implements SandboxService {
  readonly name = 'bedrock';
  readonly resourceTypes = [];
  private server: LocalBedrock | undefined;

  constructor(private readonly ctx: ServiceContext, private readonly real: boolean) {}

  get endpoint(): string {
    if (!this.server) throw new Error('Bedrock is not running');
    return this.server.endpoint;
  }

  async provision(): Promise<void> {
    this.server = await startLocalBedrock({ real: this.real, region: this.ctx.region });
  }

  describe(): unknown {
    return { endpoint: this.endpoint, mode: this.real ? 'real' : 'stand-in' };
  }

  async stop(): Promise<void> {
    await this.server?.stop();
  }
}
