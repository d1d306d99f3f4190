// Runs the cross-runtime cases in Node (the same file runs in workerd from edge/test/).
import { describe, it } from 'vitest';
import { crossRuntimeCases } from './cases/cross-runtime.ts';

describe('shared primitives in Node', () => {
  it.each(crossRuntimeCases)('%s', async (_name, run) => run());
});
