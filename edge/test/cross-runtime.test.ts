// Runs the cross-runtime cases in workerd (the same file runs in Node from shared/).
import { describe, it } from 'vitest';
import { crossRuntimeCases } from '../../shared/cases/cross-runtime.ts';

describe('shared primitives in workerd', () => {
  it.each(crossRuntimeCases)('%s', async (_name, run) => run());
});
