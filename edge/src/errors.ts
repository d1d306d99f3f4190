// Refusals: every 4xx carries a stable code and a sentence, and is thrown before anything changes.
import { HTTPException } from 'hono/http-exception';
import type { ContentfulStatusCode } from 'hono/utils/http-status';

export type ErrorCode =
  | 'invalid_json'
  | 'invalid_request'
  | 'unsupported_media_type'
  | 'payload_too_large'
  | 'missing_signature'
  | 'stale_timestamp'
  | 'bad_signature'
  | 'replayed_request'
  | 'unknown_volunteer'
  | 'foreign_volunteer'
  | 'key_unavailable'
  | 'unknown_campaign'
  | 'unknown_shard'
  | 'unknown_experiment'
  | 'upgrade_required'
  | 'unknown_partner'
  | 'unknown_lease'
  | 'foreign_lease'
  | 'lease_expired'
  | 'experiment_settled'
  | 'body_mismatch'
  | 'foreign_spot_check'
  | 'spec_mismatch'
  | 'dataset_mismatch'
  | 'budget_mismatch'
  | 'commitment_mismatch'
  | 'unknown_spot_check'
  | 'reveal_expired'
  | 'unknown_checkpoint'
  | 'checkpoint_dropped'
  | 'foreign_result'
  | 'parent_mismatch'
  | 'missing_parent'
  | 'unknown_parent'
  | 'parent_other_campaign'
  | 'not_campaign_owner'
  | 'parent_unverified'
  | 'parent_unrevealed'
  | 'parent_dropped'
  | 'parent_checkpoint_mismatch'
  | 'architecture_change'
  | 'parent_dataset'
  | 'continuation_change'
  | 'missing_token'
  | 'bad_token'
  | 'unknown_dataset'
  | 'invalid_manifest'
  | 'hash_mismatch'
  | 'missing_file'
  | 'size_mismatch'
  | 'dataset_taken'
  | 'dataset_limit'
  | 'dataset_too_large'
  | 'unknown_file'
  | 'unknown_upload'
  | 'incomplete_upload'
  | 'upload_limit'
  | 'part_hash_mismatch'
  | 'not_admitted'
  | 'campaign_exists'
  | 'rate_limited'
  | 'busy'
  | 'archive_corrupt'
  | 'uncalibrated_precision'
  | 'not_found'
  | 'internal';

export class ApiFailure extends HTTPException {
  readonly code: ErrorCode;
  readonly issues: { path: string; message: string }[] | undefined;
  constructor(
    status: ContentfulStatusCode,
    code: ErrorCode,
    message: string,
    issues?: { path: string; message: string }[],
  ) {
    super(status, { message });
    this.code = code;
    this.issues = issues;
  }
}

/** Throws a refusal; `issues` ties problems to request fields (shown next to form fields). */
export function fail(
  status: ContentfulStatusCode,
  code: ErrorCode,
  message: string,
  issues?: { path: string; message: string }[],
): never {
  throw new ApiFailure(status, code, message, issues);
}
