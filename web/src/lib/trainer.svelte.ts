// The volunteer's contribution loop, as reactive state for the page: register, lease, train in the
// worker, sign and submit, lease again. Components read this class; only it sees the Worker.
import * as Comlink from 'comlink';
import { signCanonical } from '../../../shared/crypto.ts';
import type { Lease, LeaseResponse, ResultPayload, ResultResponse } from '../../../shared/protocol.ts';
import type { BackendInfo, BackendPreference, Progress, TrainerWorkerApi } from '../worker/types.ts';
import { postSigned } from './api.ts';
import type { StoredIdentity } from './db.ts';
import { loadOrCreateIdentity, register } from './identity.ts';

export type Phase = 'idle' | 'starting' | 'downloading' | 'training' | 'submitting' | 'waiting' | 'stopping' | 'error';

export interface Submitted {
  experimentId: string;
  valBpb: number;
  status: ResultResponse['experimentStatus'];
}

export class Trainer {
  phase = $state<Phase>('idle');
  backend = $state.raw<BackendInfo | null>(null);
  volunteerId = $state<string | null>(null);
  lease = $state.raw<Lease | null>(null);
  progress = $state.raw<Extract<Progress, { type: 'step' }> | null>(null);
  submitted = $state.raw<Submitted[]>([]);
  error = $state<string | null>(null);

  #worker: Worker | undefined;
  #api: Comlink.Remote<TrainerWorkerApi> | undefined;
  #running = false;
  #wake: (() => void) | undefined;
  readonly #preference: BackendPreference;
  readonly #campaignId: string | undefined;

  constructor(preference: BackendPreference = 'auto', campaignId?: string) {
    this.#preference = preference;
    this.#campaignId = campaignId;
  }

  get running(): boolean {
    return this.phase !== 'idle' && this.phase !== 'error';
  }

  async start(): Promise<void> {
    if (this.#running) return;
    this.#running = true;
    this.error = null;
    this.phase = 'starting';
    try {
      const identity = await loadOrCreateIdentity();
      await register(identity);
      this.volunteerId = identity.volunteerId;
      this.#worker ??= new Worker(new URL('../worker/trainer.worker.ts', import.meta.url), { type: 'module', name: 'tabgrid-trainer' });
      this.#api ??= Comlink.wrap<TrainerWorkerApi>(this.#worker);
      this.backend = await this.#api.init(this.#preference);
      while (this.#running) await this.#contributeOnce(identity, this.#api, this.backend);
      this.phase = 'idle';
    } catch (err) {
      this.#running = false;
      this.error = (err as Error).message;
      this.phase = 'error';
    }
  }

  /** Stops between two steps; the leased experiment is abandoned and its lease expires. */
  stop(): void {
    if (!this.#running) return;
    this.#running = false;
    this.phase = 'stopping';
    void this.#api?.stop();
    this.#wake?.();
  }

  async #contributeOnce(identity: StoredIdentity, api: Comlink.Remote<TrainerWorkerApi>, info: BackendInfo): Promise<void> {
    const res = await postSigned<LeaseResponse>(identity, '/api/leases', {
      campaignId: this.#campaignId,
      capabilities: { backend: info.backend, adapter: info.adapter },
    });
    if (!res.lease) {
      this.phase = 'waiting';
      await new Promise<void>((resolve) => {
        this.#wake = resolve;
        setTimeout(resolve, res.retryAfterSec * 1000);
      });
      return;
    }
    const lease = res.lease;
    this.lease = lease;
    this.progress = null;
    this.phase = 'downloading';
    const outcome = await api.train(
      lease.spec,
      Comlink.proxy((p: Progress) => {
        if (p.type === 'step') {
          this.phase = 'training';
          this.progress = p;
        }
      }),
    );
    if (outcome.stopped) return;
    this.phase = 'submitting';
    const result: ResultPayload = {
      type: 'result',
      leaseId: lease.leaseId,
      leaseToken: lease.leaseToken,
      experimentId: lease.experimentId,
      specHash: lease.specHash,
      datasetSha256: lease.spec.dataset.sha256,
      metrics: outcome.metrics,
    };
    const signature = await signCanonical(identity.keys.privateKey, result);
    const answer = await postSigned<ResultResponse>(identity, '/api/results', { result, signature });
    this.submitted = [
      { experimentId: lease.experimentId, valBpb: outcome.metrics.valBpb, status: answer.experimentStatus },
      ...this.submitted,
    ];
    this.lease = null;
  }
}
