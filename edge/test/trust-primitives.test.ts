// Runs the trust-primitive cases in workerd (the same file runs in Node from shared/).
import { describe, it } from 'vitest';
import { trustCases } from '../../shared/cases/trust.ts';

describe('trust primitives in workerd', () => {
  it.each(trustCases)('%s', async (_name, run) => run());
});
