// Runs the trust-primitive cases in Node (the same file runs in workerd from edge/test/).
import { describe, it } from 'vitest';
import { trustCases } from './cases/trust.ts';

describe('trust primitives in Node', () => {
  it.each(trustCases)('%s', async (_name, run) => run());
});
