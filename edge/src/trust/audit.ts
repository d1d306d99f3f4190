// Audits: results that stood alone (trusted-single) are reopened for replication when their
// volunteer is caught with an invalid result, or when a spot check of one fails. A reopened
// experiment is open again with audit = 1 (only a quorum verifies it now) and its replica goes to
// reliable volunteers first; the original result keeps its credit until a quorum overturns it.

/** What both reopenings run, up to the condition that picks the experiments (`?1`: the time). */
const REOPEN = `UPDATE experiments SET status = 'open', audit = 1, verification = NULL, replicas_needed = MAX(quorum, 2),
       reissued_at = ?1, trust_version = trust_version + 1
     WHERE status = 'verified' AND verification = 'trusted-single' AND`;

/** Reopens every trusted-single experiment of this volunteer, but `except` (being judged now). */
export function reopenForAudit(
  db: D1Database,
  volunteerId: string,
  now: number,
  except: string,
): D1PreparedStatement {
  return db
    .prepare(
      `${REOPEN} id != ?3
       AND id IN (SELECT experiment_id FROM results WHERE volunteer_id = ?2 AND verdict = 'valid' AND basis = 'trusted-single')`,
    )
    .bind(now, volunteerId, except);
}

/** Reopens one trusted-single experiment (a failed spot check). */
export function reopenExperiment(
  db: D1Database,
  experimentId: string,
  now: number,
): D1PreparedStatement {
  return db.prepare(`${REOPEN} id = ?2`).bind(now, experimentId);
}
