// The cron's archive step: one finished campaign's next chunks, then the ledger's next sealed
// segments. Bounded per run so one invocation stays far under D1's 1,000 queries (about four per
// chunk or segment) and Workers' CPU limit; what is left waits for the next run. No route starts
// it: nobody outside can make the edge do this work.
import { archiveCampaign, finishedCampaign } from './campaigns.ts';
import { sealLedger } from './ledger-seal.ts';

/** 8 × 500 experiments, and 8 × 1,000 ledger entries, a run. */
export const CHUNKS_PER_RUN = 8;
export const LEDGER_SEGMENTS_PER_RUN = 8;

export async function archiveCold(db: D1Database, bucket: R2Bucket, now: number): Promise<void> {
  const campaign = await finishedCampaign(db, now);
  if (campaign) await archiveCampaign(db, bucket, campaign, now, CHUNKS_PER_RUN);
  await sealLedger(db, bucket, now, LEDGER_SEGMENTS_PER_RUN);
}
