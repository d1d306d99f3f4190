// Softmax cross-entropy per row as fused WGSL kernels for TensorFlow.js's WebGPU backend, with its
// gradient: loss_i = logsumexp(x_i) − x_i[target_i] in one dispatch, dx = dy·(softmax(x) − onehot) in
// one more (the row's max and sum recomputed; a thread per row for character vocabularies), where the model's stock ops (logSoftmax, one-hot, mul,
// sum, neg) take about a dozen kernels each way. Other backends run the stock ops (docs/gpu.md).
import * as tf from '@tensorflow/tfjs';
import { workgroupProgram, workgroupReduce, type WebGPUBackendLike } from './program.ts';

const WG = 64;
const MAX_WORKGROUPS = 65535; // in one dispatch dimension (WebGPU's default limit)
// Up to this vocabulary a thread per row, no barrier: a workgroup per row with its reductions was
// 2× slower than the stock ops at 768×65 on lavapipe (measured: docs/gpu.md); past it, a workgroup.
const THREAD_PER_ROW_MAX_V = 1024;

/**
 * `let row`, `let base`, `let mx`, `let logSum` (the row's max and log Σ exp(x − max)), then `body`:
 * a thread per row (`one`, the row's thread) or a workgroup per row, through two workgroup reductions.
 */
function program(
  key: string,
  names: string[],
  shape: number[],
  rows: number,
  V: number,
  body: (from: string, step: string) => string,
) {
  const small = V <= THREAD_PER_ROW_MAX_V;
  const [from, step] = small ? ['0', '1'] : ['tid', String(WG)];
  const reduce = (name: string, v: string, op: 'sum' | 'max') =>
    small ? `let ${name} = ${v};` : workgroupReduce(name, v, op, WG);
  return workgroupProgram(
    key,
    names,
    shape,
    small ? Math.ceil(rows / WG) : rows,
    WG,
    `    let V = uniforms.xShape[1];
    let row = min(${small ? 'index' : `index / ${WG}`}, uniforms.xShape[0] - 1);
    let one = ${small ? 'index < uniforms.xShape[0]' : 'tid == 0'};
    let base = row * V;
    var m = -3.0e38;
    for (var c = ${from}; c < V; c += ${step}) { m = max(m, X[base + c]); }
    ${reduce('mx', 'm', 'max')}
    var e = 0.0;
    for (var c = ${from}; c < V; c += ${step}) { e += exp(X[base + c] - mx); }
    ${reduce('sumE', 'e', 'sum')}
    let logSum = log(sumE);
${body(from, step)}`,
  );
}

/** (N): log Σ exp of each row minus its target's logit (in tf.logSoftmax's order of operations). */
const forward = (rows: number, V: number) =>
  program(
    'xent_fwd',
    ['X', 'Target'],
    [rows],
    rows,
    V,
    () => `    if (one) { result[row] = -((X[base + Target[row]] - mx) - logSum); }`,
  );

/** (N, V): dy_i·(softmax(x_i) − onehot(target_i)). */
const backward = (rows: number, V: number) =>
  program(
    'xent_bwd',
    ['X', 'Target', 'Dy'],
    [rows, V],
    rows,
    V,
    (from, step) =>
      `    let t = Target[row];
    let live = ${from === '0' ? 'one' : 'true'};
    for (var c = ${from}; c < V && live; c += ${step}) {
      result[base + c] = Dy[row] * (exp(X[base + c] - mx - logSum) - select(0.0, 1.0, c == t));
    }`,
  );

const KERNELS = { forward: 'TabgridCrossEntropy', backward: 'TabgridCrossEntropyGrad' } as const;

/** Registers the two kernels with tfjs's webgpu backend (once; harmless where it is absent). */
export function registerCrossEntropyKernels(): void {
  const kernels = [
    [KERNELS.forward, forward],
    [KERNELS.backward, backward],
  ] as const;
  for (const [kernelName, make] of kernels) {
    if (tf.getKernel(kernelName, 'webgpu')) continue;
    const kernelFunc = (args: { inputs: tf.NamedTensorInfoMap; backend: unknown }) => {
      const inputs = Object.values(args.inputs) as tf.TensorInfo[];
      const [rows, V] = inputs[0]!.shape as [number, number];
      return (args.backend as WebGPUBackendLike).runWebGPUProgram(make(rows, V), inputs, 'float32');
    };
    tf.registerKernel({
      kernelName,
      backendName: 'webgpu',
      kernelFunc: kernelFunc as unknown as tf.KernelFunc,
    });
  }
}

/** Whether the fused loss runs for logits of `shape` (N, V): WebGPU, the kernels registered, N within one dispatch. */
export function fusedCrossEntropyAvailable([rows, V]: number[]): boolean {
  const workgroups = V! <= THREAD_PER_ROW_MAX_V ? Math.ceil(rows! / WG) : rows!;
  return (
    tf.getBackend() === 'webgpu' &&
    workgroups <= MAX_WORKGROUPS &&
    Boolean(tf.getKernel(KERNELS.forward, 'webgpu'))
  );
}

const run = (name: string, inputs: Record<string, tf.Tensor>) =>
  tf.engine().runKernel(name, inputs) as tf.Tensor;

/** −log softmax(logits)[target] per row: logits (N, V), targets (N) int32 → (N); differentiable in logits. */
export function fusedCrossEntropy(logits: tf.Tensor, targets: tf.Tensor): tf.Tensor1D {
  // targets are saved, not an input: they have no gradient (tf.variableGrads disposes closure reads).
  const op = tf.customGrad(((x: tf.Tensor2D, save: tf.GradSaveFunc) => {
    save([x, targets]);
    return {
      value: run(KERNELS.forward, { x, targets }),
      gradFunc: (dy: tf.Tensor1D, [sx, st]: tf.Tensor[]) => [
        run(KERNELS.backward, { x: sx!, targets: st!, dy }),
      ],
    };
  }) as unknown as Parameters<typeof tf.customGrad>[0]) as (x: tf.Tensor) => tf.Tensor1D;
  return op(logits);
}
