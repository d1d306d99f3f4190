// How `npm run reproduce` judges a local run: the same rule as the edge (shared/verify.ts `agree`)
// against the verified value — the median val_bpb and the mean curve of the agreeing replicas —
// and against each replica on its own, for the record.
import type { ExperimentDetail, Metrics } from '../../shared/protocol.ts';
import { agree, TAU_BPB, TAU_CURVE } from '../../shared/verify.ts';

export interface Reproduction {
  experimentId: string;
  specHash: string;
  status: ExperimentDetail['status'];
  backend: Metrics['backend'];
  reproduced: Pick<Metrics, 'valBpb' | 'valLoss' | 'curve' | 'wallMs' | 'msPerStep'>;
  verified: { valBpb: number; replicas: number; curve: number[] } | null;
  deltaBpb: number | null; // reproduced − verified
  maxCurveDelta: number | null;
  tolerance: { bpb: number; curve: number };
  agrees: boolean | null; // null: nothing verified to compare with
  replicas: {
    resultId: string;
    backend: Metrics['backend'];
    verdict: string;
    valBpb: number;
    agrees: boolean;
  }[];
}

function meanCurve(curves: number[][]): number[] {
  const n = Math.min(...curves.map((c) => c.length));
  return Array.from({ length: n }, (_, i) => curves.reduce((a, c) => a + c[i]!, 0) / curves.length);
}

export function compareWithVerified(e: ExperimentDetail, mine: Metrics): Reproduction {
  // An open experiment's metrics are sealed (null): there is nothing to compare with yet.
  const published = e.replicas.flatMap((r) => (r.metrics ? [{ ...r, metrics: r.metrics }] : []));
  const valid = published.filter((r) => r.verdict === 'valid');
  const verified =
    e.status === 'verified' && e.valBpb != null && valid.length
      ? {
          valBpb: e.valBpb,
          replicas: valid.length,
          curve: meanCurve(valid.map((r) => r.metrics.curve)),
        }
      : null;
  const maxCurveDelta =
    verified && verified.curve.length === mine.curve.length
      ? Math.max(...mine.curve.map((x, i) => Math.abs(x - verified.curve[i]!)))
      : null;
  return {
    experimentId: e.id,
    specHash: e.specHash,
    status: e.status,
    backend: mine.backend,
    reproduced: {
      valBpb: mine.valBpb,
      valLoss: mine.valLoss,
      curve: mine.curve,
      wallMs: mine.wallMs,
      msPerStep: mine.msPerStep,
    },
    verified,
    deltaBpb: verified ? mine.valBpb - verified.valBpb : null,
    maxCurveDelta,
    tolerance: { bpb: TAU_BPB, curve: TAU_CURVE },
    agrees: verified ? agree(mine, verified) : null,
    replicas: published.map((r) => ({
      resultId: r.resultId,
      backend: r.metrics.backend,
      verdict: r.verdict,
      valBpb: r.metrics.valBpb,
      agrees: agree(mine, r.metrics),
    })),
  };
}
