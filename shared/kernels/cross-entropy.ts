// Softmax cross-entropy per row as fused WGSL kernels for TensorFlow.js's WebGPU backend, with its
// gradient: loss_i = logsumexp(x_i) − x_i[target_i] in one dispatch, dx = dy·(softmax(x) − onehot) in
// one more (the row's max and sum recomputed), where the model's stock ops (logSoftmax, one-hot, mul,
// sum, neg) take about a dozen kernels each way. Other backends run the stock ops (docs/gpu.md).
import * as tf from '@tensorflow/tfjs';
import { workgroupReduce, type Program, type WebGPUBackendLike } from './program.ts';

const WG = 64; // threads per workgroup, one workgroup per row (V: 65 for TinyShakespeare, up to thousands)
const MAX_ROWS = 65535; // one workgroup per row, in one dispatch dimension (WebGPU's default limit)

/** `let mx`, `let lse`: the row's max and logsumexp, through two workgroup reductions. */
const rowLogSumExp = `
    var m = -3.0e38;
    for (var c = tid; c < V; c += ${WG}) { m = max(m, X[base + c]); }
    ${workgroupReduce('mx', 'm', 'max', WG)}
    var e = 0.0;
    for (var c = tid; c < V; c += ${WG}) { e += exp(X[base + c] - mx); }
    ${workgroupReduce('sumE', 'e', 'sum', WG)}
    let lse = mx + log(sumE);
    let logSum = log(sumE);`;

function program(
  key: string,
  variableNames: string[],
  outputShape: number[],
  rows: number,
  body: string,
): Program {
  return {
    variableNames,
    outputShape,
    shaderKey: `tabgrid_${key}`,
    dispatchLayout: { x: outputShape.map((_, i) => i) },
    dispatch: [rows, 1, 1],
    workgroupSize: [WG, 1, 1],
    getUserCode: () => `
  var<workgroup> red : array<f32, ${WG}>;
  fn main(index : i32) {
    let tid = i32(localId.x);
    let V = uniforms.xShape[1];
    let row = index / ${WG};
    let base = row * V;
    ${rowLogSumExp}
${body}
  }`,
  };
}

/** (N): logsumexp of each row minus its target's logit. */
const forward = (rows: number, _V: number) =>
  program(
    'xent_fwd',
    ['X', 'Target'],
    [rows],
    rows,
    `    if (tid == 0) { result[row] = -((X[base + Target[row]] - mx) - logSum); } // tf.logSoftmax's order`,
  );

/** (N, V): dy_i·(softmax(x_i) − onehot(target_i)). */
const backward = (rows: number, V: number) =>
  program(
    'xent_bwd',
    ['X', 'Target', 'Dy'],
    [rows, V],
    rows,
    `    let t = Target[row];
    for (var c = tid; c < V; c += ${WG}) {
      result[base + c] = Dy[row] * (exp(X[base + c] - lse) - select(0.0, 1.0, c == t));
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

/** Whether the fused loss runs for `rows` rows: WebGPU with the kernels registered. */
export function fusedCrossEntropyAvailable(rows: number): boolean {
  return (
    tf.getBackend() === 'webgpu' &&
    rows <= MAX_ROWS &&
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
