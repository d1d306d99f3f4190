// The GPT's MLP, x·W_fc (+ b) → GELU → ·W_proj, on matmul.ts's tiled kernel with GELU fused into the
// first matmul's epilogue (which also keeps the pre-activation, for the backward) and GELU's
// derivative fused into the backward's first matmul: 2 dispatches forward where the stock ops take 3,
// 4 backward where they take 5 (docs/gpu.md). WebGPU only; the model runs its stock MLP elsewhere.
import * as tf from '@tensorflow/tfjs';
import { tiledMatmul, tiledMatmulRegistered, type Epilogue } from './matmul.ts';

let enabled = false;

/** Turns the fused MLP on (after matmul.ts's kernel is registered: register.ts). */
export function enableFusedMlp(): void {
  enabled = true;
}

/** Whether gpt.ts's MLP runs fused: WebGPU, the kernel registered, the MLP turned on. */
export function fusedMlpAvailable(): boolean {
  return enabled && tiledMatmulRegistered();
}

const mm = (
  transposeA: boolean,
  transposeB: boolean,
  dims: [number, number, number],
  epilogue: Epilogue = 'none',
) => ({ transposeA, transposeB, dims, epilogue });

/** The op on 2-D x (M, C), W_fc (C, H), W_proj (H, C) (and b_fc (H) when `bias`) → (M, C). */
function mlpOp(bias: boolean) {
  return tf.customGrad(((...args: unknown[]) => {
    const save = args.pop() as tf.GradSaveFunc;
    const [x, wFc, wProj, b] = args as tf.Tensor2D[];
    const [M, C] = x!.shape;
    const H = wFc!.shape[1];
    // hu (2, M, H): GELU(u) then u = x·W_fc + b; the second matmul reads its first half as (M, H).
    const hu = tiledMatmul(x!, wFc!, mm(false, false, [M, H, C], 'gelu'), b ? { bias: b } : {});
    save([x!, wFc!, wProj!, hu]);
    return {
      value: tiledMatmul(hu, wProj!, mm(false, false, [M, C, H])),
      gradFunc: (dy: tf.Tensor2D, [sx, sFc, sProj, sHu]: tf.Tensor[]) => {
        // du = (dy·W_projᵀ) ⊙ GELU'(u) (M, H), u read from hu's second half.
        const du = tiledMatmul(dy, sProj!, mm(false, true, [M, H, C], 'geluGrad'), { u: sHu! });
        const grads = [
          tiledMatmul(du, sFc!, mm(false, true, [M, C, H])), // dx = du·W_fcᵀ (M, C)
          tiledMatmul(sx!, du, mm(true, false, [C, H, M])), // dW_fc = xᵀ·du (C, H)
          tiledMatmul(sHu!, dy, mm(true, false, [H, C, M])), // dW_proj = GELU(u)ᵀ·dy (H, C)
        ];
        return bias ? [...grads, tf.sum(du, 0)] : grads;
      },
    };
  }) as unknown as Parameters<typeof tf.customGrad>[0]) as (...xs: tf.Tensor[]) => tf.Tensor;
}

const ops = { plain: mlpOp(false), bias: mlpOp(true) };

/** x (…, C) → (…, C): GELU(x·W_fc + b_fc)·W_proj + b_proj on the fused kernels. */
export function fusedMlp(
  x: tf.Tensor,
  wFc: tf.Tensor,
  bFc: tf.Tensor | null,
  wProj: tf.Tensor,
  bProj: tf.Tensor | null,
): tf.Tensor {
  const C = x.shape[x.shape.length - 1]!;
  const x2 = tf.reshape(x, [-1, C]); // (B·T, C)
  const y = bFc ? ops.bias(x2, wFc, wProj, bFc) : ops.plain(x2, wFc, wProj);
  return tf.reshape(bProj ? tf.add(y, bProj) : y, [...x.shape.slice(0, -1), wProj.shape[1]!]);
}
