// The scheduler: which experiment a volunteer trains next. A claim naming a campaign is one RPC into
// that campaign's CampaignQueue; a claim without one asks every campaign with open work how its best
// candidate ranks and claims in the best (ties to the first campaign by id). Spot checks stay in D1
// (their table is D1's, trust/spot-checks.ts): a client that declares them gets one first.
import { randomToken, sha256 } from '../../../shared/crypto.ts';
import type { Lease } from '../../../shared/protocol.ts';
import { claimSpotCheck } from '../trust/spot-checks.ts';
import { REPLAYED } from '../replay-guard.ts';
import { allShards } from '../shards.ts';
import { claimTerms, profileStatement, type ClaimRequest, type Profile } from './claim-terms.ts';
import { compareKeys, type QueueClaim, type SortKey } from './campaign-queue.ts';

/** Rounds of (rank every queue, claim in the best) before a claim without a campaign gives up. */
const MAX_ROUNDS = 3;

export function campaignQueue(env: Env, campaignId: string) {
  return env.CAMPAIGN_QUEUE.get(env.CAMPAIGN_QUEUE.idFromName(campaignId));
}

export class QueueScheduler {
  #env: Env;
  #minSeconds: number;

  constructor(env: Env, minLeaseSeconds: number) {
    this.#env = env;
    this.#minSeconds = minLeaseSeconds;
  }

  /**
   * `guard`: the lease request's replay guard, recorded by the campaign's queue in its claim batch
   * (REPLAYED when it was recorded before). Only a claim that names its campaign and no spot checks
   * takes one; for the others the caller records it first (auth.ts guardedBatch).
   */
  claim(req: ClaimRequest): Promise<Lease | null>;
  claim(req: ClaimRequest, guard: string | undefined): Promise<Lease | typeof REPLAYED | null>;
  async claim(req: ClaimRequest, guard?: string): Promise<Lease | typeof REPLAYED | null> {
    if (guard && (!req.campaignId || req.capabilities.spotChecks))
      throw new Error('only a claim in one named campaign records its replay guard in the queue');
    if (req.capabilities.spotChecks) {
      const spot = await this.#spotCheck(req);
      if (spot) return spot;
    }
    const claim = (campaignId: string): QueueClaim => ({
      campaignId,
      req,
      minLeaseMs: this.#minSeconds * 1000,
    });
    if (req.campaignId)
      return campaignQueue(this.#env, req.campaignId).claim({ ...claim(req.campaignId), guard });

    // Every shard's campaigns with open work (shards.ts): each queue then ranks its best candidate.
    const results = (
      await Promise.all(
        allShards(this.#env).map(
          async (db) =>
            (
              await db
                .prepare(
                  `SELECT c.id FROM campaigns c WHERE EXISTS (SELECT 1 FROM experiments e WHERE e.status = 'open' AND e.campaign_id = c.id) ORDER BY c.id`,
                )
                .all<{ id: string }>()
            ).results,
        ),
      )
    )
      .flat()
      .sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
    for (let round = 0; round < MAX_ROUNDS; round++) {
      const keys = await Promise.all(
        results.map((c) => campaignQueue(this.#env, c.id).best(claim(c.id))),
      );
      let best: { campaignId: string; key: SortKey } | null = null;
      for (const [i, key] of keys.entries()) {
        if (key && (!best || compareKeys(key, best.key) < 0))
          best = { campaignId: results[i]!.id, key };
      }
      if (!best) return null;
      // Another claim may take that candidate meanwhile: then this round found nothing as good.
      const lease = await campaignQueue(this.#env, best.campaignId).claim({
        ...claim(best.campaignId),
        bound: best.key,
      });
      if (lease === REPLAYED) throw new Error('an unguarded claim was answered as a replay');
      if (lease) return lease;
    }
    return null;
  }

  /** A spot check in the named campaign's shard, or in the first shard that has one for this volunteer. */
  async #spotCheck(req: ClaimRequest): Promise<Lease | null> {
    for (const db of req.campaignId ? [this.#env.DB] : allShards(this.#env)) {
      const terms = await claimTerms(req, await profileStatement(db, req).first<Profile>());
      if (!terms) continue;
      const leaseToken = randomToken(32);
      const spot = await claimSpotCheck(
        db,
        req,
        terms,
        await sha256(leaseToken),
        this.#minSeconds * 1000,
      );
      if (spot) return { ...spot, leaseToken };
    }
    return null;
  }
}
