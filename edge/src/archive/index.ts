// The cron's archive step: one finished campaign's next chunks, then the ledger's next sealed
// segments. Bounded per run so one invocation stays far under D1's 1,000 queries (about four per
// chunk or segment: ~100 a run) and a cron's 30 s of CPU (bench:archive, under load 4-5 on 2
// cores: up to 0.64 ms per experiment and 0.14 ms per ledger entry, so ~6 s a run); what is left
// waits for the next run, every 15 minutes (wrangler.toml): 480,000 experiments and 1.9 M entries
// a day per database. No route starts it: nobody outside can make the edge do this work.
import { archiveCampaign, finishedCampaign } from './campaigns.ts';
import { sealLedger } from './ledger-seal.ts';

/** 10 × 500 experiments and 20 × 1,000 ledger entries a run. */
export const CHUNKS_PER_RUN = 10;
export const LEDGER_SEGMENTS_PER_RUN = 20;

export async function archiveCold(db: D1Database, bucket: R2Bucket, now: number): Promise<void> {
  try {
    const campaign = await finishedCampaign(db, now);
    if (campaign) await archiveCampaign(db, bucket, campaign, now, CHUNKS_PER_RUN);
  } finally {
    // A campaign that fails to archive (and is retried next run) does not hold the ledger back.
    await sealLedger(db, bucket, now, LEDGER_SEGMENTS_PER_RUN);
  }
}
