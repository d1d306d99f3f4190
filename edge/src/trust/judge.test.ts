// judge() alone: identities, copies, quorum, trusted-single and dispute, without D1.
import { describe, expect, it } from 'vitest';
import type { Metrics } from '../../../shared/protocol.ts';
import { TAU_SPOT } from '../../../shared/commit.ts';
import { TAU_BPB, TAU_CURVE } from '../../../shared/verify.ts';
import { copies, identities, judge, type JudgedExperiment, type JudgedResult } from './judge.ts';

const OPEN: JudgedExperiment = {
  status: 'open',
  quorum: 2,
  replicasNeeded: 2,
  audit: false,
  verification: null,
  valBpb: null,
  earlySegments: 2,
  publishedAt: null,
};

function r(volunteerId: string, valBpb: number, over: Partial<JudgedResult> = {}): JudgedResult {
  const metrics: Metrics = {
    valBpb,
    valLoss: valBpb * Math.LN2,
    curve: [3.5, 3.2, 3.0],
    steps: 30,
    tokens: 3840,
    backend: 'wasm',
    wallMs: 1,
    msPerStep: 1,
  };
  return {
    id: `r_${volunteerId}`,
    volunteerId,
    verdict: 'pending',
    basis: null,
    metrics,
    backendClass: 'wasm',
    leaseIp: null,
    registrationIp: null,
    single: false,
    leasedAt: 0,
    consecutiveValid: 0,
    reputation: 0,
    ...over,
  };
}

describe('judge', () => {
  it('joins results sharing a volunteer or an address, transitively', () => {
    const ids = identities([
      { volunteerId: 'a', leaseIp: 'ip1', registrationIp: 'ip9' },
      { volunteerId: 'b', leaseIp: 'ip2', registrationIp: 'ip1' },
      { volunteerId: 'c', leaseIp: 'ip3', registrationIp: 'ip2' },
      { volunteerId: 'd', leaseIp: null, registrationIp: null },
    ]);
    expect(ids[0]).toBe(ids[1]);
    expect(ids[1]).toBe(ids[2]);
    expect(ids[3]).not.toBe(ids[0]);
  });

  it('takes bit-identical metrics for a copy only across backend classes', () => {
    expect(copies([r('a', 3), r('b', 3)])).toEqual(new Set());
    expect(copies([r('a', 3, { backendClass: 'webgpu' }), r('b', 3)])).toEqual(new Set([1]));
    expect(copies([r('a', 3, { backendClass: 'webgpu' }), r('b', 3 + 1e-9)])).toEqual(new Set());
  });

  it('needs two identities within tolerance; the median is canonical and the rest invalid', () => {
    const j = judge(OPEN, [r('a', 3.0), r('b', 3.0 + 3 * TAU_BPB), r('c', 3.0 + TAU_BPB / 2)]);
    expect(j.experiment).toMatchObject({
      status: 'verified',
      verification: 'quorum',
      valBpb: 3.0 + TAU_BPB / 4,
    });
    expect(j.transitions).toEqual([
      { index: 0, to: 'valid', basis: 'quorum' },
      { index: 1, to: 'invalid', basis: 'outvoted' },
      { index: 2, to: 'valid', basis: 'quorum' },
    ]);
    const sameAddress = judge(OPEN, [r('a', 3.0, { leaseIp: 'x' }), r('b', 3.0, { leaseIp: 'x' })]);
    expect(sameAddress.experiment).toMatchObject({ status: 'open', replicasNeeded: 3 });
    expect(sameAddress.reissue).toBe(true);
  });

  // Only meaningful while shared/verify.ts's TAU_CURVE is looser than TAU_SPOT.
  it.skipIf(TAU_CURVE <= TAU_SPOT)(
    'holds replicas to TAU_SPOT on the early segments, where backends match to ~1e-6',
    () => {
      const shifted = (v: string, d: number) => {
        const x = r(v, 3.0 + TAU_BPB / 2);
        x.metrics = { ...x.metrics, curve: x.metrics.curve.map((c, i) => (i === 1 ? c + d : c)) };
        return x;
      };
      const between = (TAU_SPOT + TAU_CURVE) / 2; // within TAU_CURVE, beyond TAU_SPOT
      expect(judge(OPEN, [r('a', 3.0), shifted('b', TAU_SPOT / 2)]).experiment.status).toBe(
        'verified',
      );
      expect(judge(OPEN, [r('a', 3.0), shifted('b', between)]).experiment.status).toBe('open');
      expect(
        judge({ ...OPEN, earlySegments: 1 }, [r('a', 3.0), shifted('b', between)]).experiment
          .status,
      ).toBe('verified');
    },
  );

  it('lets a single result stand alone only from a volunteer still trusted, outside an audit', () => {
    const e = { ...OPEN, replicasNeeded: 1 };
    const trusted = { single: true, consecutiveValid: 10, reputation: 20 };
    expect(judge(e, [r('a', 3, trusted)]).experiment).toMatchObject({
      status: 'verified',
      verification: 'trusted-single',
    });
    expect(judge(e, [r('a', 3, { ...trusted, consecutiveValid: 9 })])).toMatchObject({
      experiment: { status: 'open', replicasNeeded: 2 },
      release: [0],
    });
    expect(judge({ ...e, audit: true }, [r('a', 3, trusted)]).experiment.status).toBe('open');
    expect(judge(e, [r('a', 3, { ...trusted, single: false })]).experiment.status).toBe('open');
  });

  it('asks a third witness when every member of a quorum is a newcomer with an address (the cold start)', () => {
    const at = (ip: string, reputation = 0) => ({ leaseIp: ip, registrationIp: ip, reputation });
    const pair = judge(OPEN, [r('a', 3.0, at('ip1')), r('b', 3.0, at('ip2'))]);
    expect(pair).toMatchObject({
      experiment: { status: 'open', replicasNeeded: 3 },
      reissue: true,
      transitions: [],
    });
    const three = judge({ ...OPEN, replicasNeeded: 3 }, [
      r('a', 3.0, at('ip1')),
      r('b', 3.0, at('ip2')),
      r('c', 3.0, at('ip3')),
    ]);
    expect(three.experiment).toMatchObject({ status: 'verified', verification: 'quorum' });
    // A reliable member is witness enough, and so is a pair of local browsers (no address).
    expect(
      judge(OPEN, [r('a', 3.0, at('ip1', 20)), r('b', 3.0, at('ip2'))]).experiment.status,
    ).toBe('verified');
    expect(judge(OPEN, [r('a', 3.0), r('b', 3.0)]).experiment.status).toBe('verified');
  });

  it('in an audit, counts as witnesses only results leased after the metrics were published', () => {
    // The trusted-single result (published at t=100) and one replica leased later agree: the replica
    // could have copied the published value, so it takes a second replica leased after publication.
    const audit = { ...OPEN, audit: true, publishedAt: 100 };
    const published = r('a', 3.0, { verdict: 'valid', basis: 'trusted-single', leasedAt: 50 });
    const one = judge(audit, [published, r('b', 3.0, { leasedAt: 150 })]);
    expect(one.experiment).toMatchObject({ status: 'open', replicasNeeded: 3 });
    const two = judge({ ...audit, replicasNeeded: 3 }, [
      published,
      r('b', 3.0, { leasedAt: 150 }),
      r('c', 3.0, { leasedAt: 160 }),
    ]);
    expect(two.experiment).toMatchObject({ status: 'verified', verification: 'quorum' });
    // Never published: the same pair is a quorum.
    expect(
      judge(OPEN, [r('a', 3.0, { leasedAt: 50 }), r('b', 3.0, { leasedAt: 150 })]).experiment
        .status,
    ).toBe('verified');
  });

  it('disputes after five results without a quorum', () => {
    const five = [0, 1, 2, 3, 4].map((i) => r(`v${i}`, 3 + i * 3 * TAU_BPB));
    expect(judge({ ...OPEN, replicasNeeded: 5 }, five)).toMatchObject({
      disputed: true,
      experiment: { status: 'disputed' },
    });
  });
});
