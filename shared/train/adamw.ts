// AdamW (Loshchilov & Hutter 2019) as PyTorch implements it — decoupled weight decay, explicit
// epsilon, bias correction — plus global-norm gradient clipping. tfjs has neither AdamW nor a
// clip that is safe on WebGPU (addN over ≥ 8 inputs returns a stale buffer there: docs/backends.md).
import * as tf from '@tensorflow/tfjs';
import type { Param } from '../model/gpt.ts';
import type { TrainConfig } from '../spec.ts';

export interface AdamWState {
  t: number; // updates applied so far
  m: Float32Array[]; // first moments, in parameter order
  v: Float32Array[]; // second moments
}

export class AdamW {
  // Protected, not #private: shared/kernels/adamw.ts's FusedAdamW replaces apply() on the same state.
  protected readonly params: Param[];
  protected readonly m: tf.Variable[];
  protected readonly v: tf.Variable[];
  protected readonly cfg: TrainConfig;
  t = 0;

  constructor(params: Param[], cfg: TrainConfig) {
    this.params = params;
    this.cfg = cfg;
    const zeros = (p: Param) => tf.tidy(() => tf.variable(tf.zerosLike(p.variable), false));
    this.m = params.map(zeros);
    this.v = params.map(zeros);
  }

  /** Global L2 norm of the gradients, as a scalar tensor (stack + sum, never addN). */
  static globalNorm(grads: tf.Tensor[]): tf.Scalar {
    return tf.sqrt(tf.sum(tf.stack(grads.map((g) => tf.sum(tf.square(g)))))) as tf.Scalar;
  }

  /**
   * One update with learning rate `lr`. Call inside tf.tidy. `grads` are in parameter order.
   * PyTorch's order: clip, then p ← p·(1 − lr·wd) for decayed params, then the Adam step.
   */
  apply(grads: tf.Tensor[], lr: number): void {
    const { beta1, beta2, eps, weightDecay, gradClip } = this.cfg;
    this.t += 1;
    let gs = grads;
    if (gradClip > 0) {
      // torch.nn.utils.clip_grad_norm_: scale by clip / (norm + 1e-6) when the norm exceeds clip.
      const norm = AdamW.globalNorm(grads);
      const scale = tf.minimum(1, tf.div(gradClip, tf.add(norm, 1e-6)));
      gs = grads.map((g) => tf.mul(g, scale));
    }
    const bc1 = 1 - beta1 ** this.t;
    const bc2 = 1 - beta2 ** this.t;
    this.params.forEach((p, i) => {
      const g = gs[i]!;
      const m = tf.add(tf.mul(beta1, this.m[i]!), tf.mul(1 - beta1, g));
      const v = tf.add(tf.mul(beta2, this.v[i]!), tf.mul(1 - beta2, tf.square(g)));
      this.m[i]!.assign(m);
      this.v[i]!.assign(v);
      const decayed =
        p.decay && weightDecay > 0 ? tf.mul(p.variable, 1 - lr * weightDecay) : p.variable;
      const denom = tf.add(tf.sqrt(tf.div(v, bc2)), eps);
      p.variable.assign(tf.sub(decayed, tf.mul(lr / bc1, tf.div(m, denom))));
    });
  }

  async state(): Promise<AdamWState> {
    const read = (vs: tf.Variable[]) =>
      Promise.all(vs.map(async (x) => (await x.data()) as Float32Array));
    return { t: this.t, m: await read(this.m), v: await read(this.v) };
  }

  load(s: AdamWState): void {
    this.t = s.t;
    tf.tidy(() => {
      s.m.forEach((x, i) => this.m[i]!.assign(tf.tensor(x, this.m[i]!.shape)));
      s.v.forEach((x, i) => this.v[i]!.assign(tf.tensor(x, this.v[i]!.shape)));
    });
  }

  dispose(): void {
    tf.dispose([...this.m, ...this.v]);
  }
}

/**
 * nanoGPT's schedule: linear warmup, then cosine decay from lr to minLr over the run — `horizon`
 * steps, counted from the lineage's start (shared/spec.ts scheduleHorizon; a root run's own length).
 */
export function learningRate(step: number, cfg: TrainConfig, horizon = cfg.steps): number {
  if (step < cfg.warmupSteps) return (cfg.lr * (step + 1)) / (cfg.warmupSteps + 1);
  if (step >= horizon) return cfg.minLr;
  const ratio = (step - cfg.warmupSteps) / Math.max(1, horizon - cfg.warmupSteps);
  return cfg.minLr + 0.5 * (1 + Math.cos(Math.PI * ratio)) * (cfg.lr - cfg.minLr);
}
