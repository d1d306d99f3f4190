// The volunteer's contribution loop, as reactive state for the page: register, resume or lease an
// experiment, train it in the worker (heartbeats extend the lease), sign the result, put it in the
// outbox, deliver it, lease again. Components read this class; only it sees the Worker.
import * as Comlink from 'comlink';
import { signCanonical } from '../../../shared/crypto.ts';
import {
  resultFor,
  type HeartbeatResponse,
  type Lease,
  type LeaseResponse,
  type ResultResponse,
} from '../../../shared/protocol.ts';
import { spotCheckFor } from '../../../shared/volunteer-client.ts';
import type {
  BackendInfo,
  BackendPreference,
  Progress,
  TrainerWorkerApi,
} from '../worker/types.ts';
import { EdgeError, postSigned } from './api.ts';
import { openStore, resumableRun, type StoredIdentity } from './db.ts';
import { loadOrCreateIdentity, register } from './identity.ts';
import { enqueue, flushOutbox, flushReveals, pendingCount } from './outbox.ts';
import { Pacing } from './pacing.svelte.ts';

export type Phase =
  | 'idle'
  | 'starting'
  | 'downloading'
  | 'training'
  | 'submitting'
  | 'waiting'
  | 'offline'
  | 'stopping'
  | 'error';

export interface Submitted {
  experimentId: string;
  valBpb: number;
  status: ResultResponse['experimentStatus'] | 'queued';
}

const HEARTBEAT_MS = 30_000;

function browserEngine(): 'chromium' | 'firefox' | 'safari' | 'other' {
  const ua = navigator.userAgent;
  if (/Firefox\//.test(ua)) return 'firefox';
  if (/Chrom(e|ium)\//.test(ua)) return 'chromium';
  if (/Safari\//.test(ua)) return 'safari';
  return 'other';
}
const MAX_CURVE_POINTS = 400;

export class Trainer {
  phase = $state<Phase>('idle');
  backend = $state.raw<BackendInfo | null>(null);
  volunteerId = $state<string | null>(null);
  lease = $state.raw<Lease | null>(null);
  progress = $state.raw<Extract<Progress, { type: 'step' }> | null>(null);
  curve = $state.raw<number[]>([]); // the current experiment's step losses, thinned
  resumedAt = $state<number | null>(null);
  submitted = $state.raw<Submitted[]>([]);
  pending = $state(0); // results in the outbox, not yet acknowledged
  error = $state<string | null>(null);
  readonly pacing: Pacing;

  #worker: Worker | undefined;
  #api: Comlink.Remote<TrainerWorkerApi> | undefined;
  #identity: StoredIdentity | undefined;
  #running = false;
  #wake: (() => void) | undefined;
  readonly #preference: BackendPreference;
  readonly #campaignId: string | undefined;
  readonly #partnerId: string | undefined;

  readonly #checkpointEveryMs: number | undefined;

  constructor(
    preference: BackendPreference = 'auto',
    campaignId?: string,
    partnerId?: string,
    checkpointEveryMs?: number,
  ) {
    this.#preference = preference;
    this.#checkpointEveryMs = checkpointEveryMs;
    this.#campaignId = campaignId;
    this.#partnerId = partnerId;
    this.pacing = new Pacing((limits) => void this.#api?.setLimits(limits));
    window.addEventListener('online', () => void this.flush());
    void pendingCount().then((n) => (this.pending = n));
  }

  get running(): boolean {
    return this.phase !== 'idle' && this.phase !== 'error';
  }

  /** Expected time left on the current experiment at the current pace, in seconds. */
  get secondsLeft(): number | null {
    const p = this.progress;
    if (!p) return null;
    return ((p.steps - p.step) * p.msPerStep) / 1000 / Math.max(0.1, this.pacing.limits.duty);
  }

  async start(displayName?: string): Promise<void> {
    if (this.#running) return;
    this.#running = true;
    this.error = null;
    this.phase = 'starting';
    try {
      const identity = await loadOrCreateIdentity();
      this.#identity = identity;
      await register(identity, displayName);
      this.volunteerId = identity.volunteerId;
      void this.flush();
      // Vite's worker import pattern: a one-off URL, not reactive state.
      // eslint-disable-next-line svelte/prefer-svelte-reactivity
      this.#worker ??= new Worker(new URL('../worker/trainer.worker.ts', import.meta.url), {
        type: 'module',
        name: 'tabgrid-trainer',
      });
      this.#api ??= Comlink.wrap<TrainerWorkerApi>(this.#worker);
      this.backend = await this.#api.init(this.#preference, {
        checkpointEveryMs: this.#checkpointEveryMs,
      });
      const { duty, paused } = this.pacing.limits;
      await this.#api.setLimits({ duty, paused });
      while (this.#running) await this.#contributeOnce(identity, this.#api, this.backend);
      this.phase = 'idle';
    } catch (err) {
      this.#running = false;
      this.error = (err as Error).message;
      this.phase = 'error';
    }
  }

  /** Stops between two steps; the experiment's checkpoint stays, and the next Start resumes it. */
  stop(): void {
    if (!this.#running) return;
    this.#running = false;
    this.phase = 'stopping';
    void this.#api?.stop();
    this.#wake?.();
  }

  /** Delivers the outbox (on start, after each result, when the browser comes back online). */
  async flush(): Promise<void> {
    if (!this.#identity) return;
    const deliveries = await flushOutbox(this.#identity);
    for (const d of deliveries) {
      if (d.delivered && !('experimentStatus' in d.response)) continue; // a spot check's answer
      const status =
        d.delivered && 'experimentStatus' in d.response ? d.response.experimentStatus : 'open';
      this.submitted = this.submitted.map((s) =>
        s.experimentId === d.entry.experimentId ? { ...s, status } : s,
      );
      if (!d.delivered) this.error = `A result was refused: ${d.refused}`;
    }
    this.pending = await pendingCount();
    await flushReveals(this.#identity);
  }

  async #pause(seconds: number): Promise<void> {
    await new Promise<void>((resolve) => {
      this.#wake = resolve;
      setTimeout(resolve, seconds * 1000);
    });
  }

  async #nextLease(identity: StoredIdentity, info: BackendInfo): Promise<Lease | null> {
    const saved = await resumableRun(Date.now());
    if (saved) return saved.lease;
    const res = await postSigned<LeaseResponse>(identity, '/api/leases', {
      campaignId: this.#campaignId,
      partnerId: this.#partnerId,
      // The precision (WebGL without float32 render targets trains in float16, which the edge
      // refuses until calibrated); the engine lets the scheduler send replicas to another browser.
      // spotChecks: this client retrains the segments spot-check leases ask for.
      capabilities: {
        backend: info.backend,
        adapter: info.adapter,
        tokensPerSec: this.progress?.tokensPerSec,
        precision: info.precision ?? 'float32',
        browser: browserEngine(),
        spotChecks: true,
      },
    });
    if (!res.lease) {
      this.phase = 'waiting';
      await this.#pause(res.retryAfterSec);
      return null;
    }
    await (
      await openStore()
    ).put(
      'runs',
      { lease: res.lease, backend: info.backend, checkpoint: null, savedAt: Date.now() },
      res.lease.leaseId,
    );
    return res.lease;
  }

  async #contributeOnce(
    identity: StoredIdentity,
    api: Comlink.Remote<TrainerWorkerApi>,
    info: BackendInfo,
  ): Promise<void> {
    let lease: Lease | null;
    try {
      lease = await this.#nextLease(identity, info);
    } catch (err) {
      if (err instanceof EdgeError && err.status < 500 && err.status !== 429) throw err;
      this.phase = 'offline'; // network down or edge restarting: try again shortly
      await this.#pause(5);
      return;
    }
    if (!lease) return;
    if (this.pending) void this.flush(); // the edge answers again: deliver what waited
    this.lease = lease;
    this.progress = null;
    this.curve = [];
    this.resumedAt = null;
    this.phase = 'downloading';
    if (lease.kind === 'spot-check') return this.#spotCheck(identity, api, lease);
    const beat = setInterval(() => void this.#heartbeat(identity, lease), HEARTBEAT_MS);
    let outcome;
    try {
      outcome = await api.train(
        lease,
        Comlink.proxy((p: Progress) => this.#onProgress(p)),
      );
    } finally {
      clearInterval(beat);
    }
    if (outcome.stopped) return;
    this.phase = 'submitting';
    const result = resultFor(lease, outcome.metrics);
    const signature = await signCanonical(identity.keys.privateKey, result);
    // Outbox first, then drop the checkpoint: at every instant the work exists in IndexedDB.
    await enqueue({
      leaseId: lease.leaseId,
      experimentId: lease.experimentId,
      request: { result, signature, spec: lease.spec }, // the spec: checked and stored in one D1 batch
    });
    await this.#finish(lease, {
      experimentId: lease.experimentId,
      valBpb: outcome.metrics.valBpb,
      status: 'queued',
    });
  }

  /**
   * A spot check: retrain the leased segment of someone else's result and send its segment means.
   * It is short (the first commit step), so it is neither checkpointed nor heartbeated; a stopped one
   * is left to expire and be leased again.
   */
  async #spotCheck(
    identity: StoredIdentity,
    api: Comlink.Remote<TrainerWorkerApi>,
    lease: Lease,
  ): Promise<void> {
    const curve = await api.spotCheck(
      lease,
      Comlink.proxy((p: Progress) => this.#onProgress(p)),
    );
    if (!curve) return;
    this.phase = 'submitting';
    const result = spotCheckFor(lease, curve);
    const signature = await signCanonical(identity.keys.privateKey, result);
    await enqueue({
      leaseId: lease.leaseId,
      experimentId: lease.experimentId,
      path: lease.spotCheck!.submitPath,
      request: { result, signature },
    });
    await this.#finish(lease, null);
  }

  async #finish(lease: Lease, submitted: Submitted | null): Promise<void> {
    await (await openStore()).delete('runs', lease.leaseId);
    if (submitted) this.submitted = [submitted, ...this.submitted];
    this.lease = null;
    await this.flush();
  }

  #onProgress(p: Progress): void {
    if (p.type === 'resumed') this.resumedAt = p.step;
    if (p.type !== 'step') return;
    this.phase = 'training';
    this.progress = p;
    const every = Math.max(1, Math.ceil(p.steps / MAX_CURVE_POINTS));
    if (p.step % every === 0 || p.step === p.steps) this.curve = [...this.curve, p.loss];
  }

  /** Extends the lease and reports progress; a lease the edge closed is abandoned. */
  async #heartbeat(identity: StoredIdentity, lease: Lease): Promise<void> {
    const p = this.progress;
    try {
      const res = await postSigned<HeartbeatResponse>(
        identity,
        `/api/leases/${lease.leaseId}/heartbeat`,
        {
          leaseToken: lease.leaseToken,
          step: p?.step ?? 0,
          loss: p?.loss ?? 0,
        },
      );
      const store = await openStore();
      const run = await store.get('runs', lease.leaseId);
      if (run)
        await store.put(
          'runs',
          { ...run, lease: { ...run.lease, deadline: res.deadline } },
          lease.leaseId,
        );
    } catch (err) {
      if (err instanceof EdgeError && err.code === 'lease_expired') {
        await (await openStore()).delete('runs', lease.leaseId);
        void this.#api?.stop(); // the edge gave this experiment to someone else
      }
    }
  }
}
