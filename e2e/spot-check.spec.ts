// A spot check from a committed checkpoint, in real Chromium: a trusted volunteer (WASM) trains an
// experiment that stands alone; the edge draws a spot check from one of its committed checkpoints;
// the volunteer's page reveals that checkpoint; a second browser (software WebGPU) downloads it,
// trains the next 50 steps and matches the result's curve there to TAU_SPOT.
import { expect, test } from '@playwright/test';
import { TAU_SPOT } from '../shared/commit.ts';
import { sha256 } from '../shared/crypto.ts';
import { findDrawKey } from '../shared/draw.ts';
import { d1 } from './d1.ts';
import { secondChromium, startVolunteer } from './volunteer.ts';

const CAMPAIGN = 'e2e-spot';
const EXPERIMENT = `${CAMPAIGN}-0`;

test('a second browser spot-checks a result from the checkpoint its volunteer revealed', async ({
  page,
  baseURL,
}) => {
  const errors: string[] = [];
  page.on('pageerror', (e) => errors.push(e.message));
  // The volunteer starts, leases the experiment and is stopped between two steps (its checkpoint kept).
  await startVolunteer(page, 'wasm', CAMPAIGN);
  await expect(page.getByTestId('step')).toHaveText(/^\d+ \/ 300$/, { timeout: 60_000 });
  await page.getByRole('button', { name: 'Stop' }).click();
  await expect(page.getByRole('button', { name: /Start/ })).toBeVisible();
  const [lease] = d1<{ id: string; volunteerId: string }>(
    `SELECT id, volunteer_id AS volunteerId FROM leases WHERE experiment_id = '${EXPERIMENT}'`,
  );
  expect(lease).toBeDefined();
  // Arranged as if it had earned trust: ten verified results in its class, and this lease drawn to
  // stand alone; the validator's draws (kept secret from volunteers) then ask for a spot check
  // from a committed checkpoint of the six (50, 100, … 300): k ≥ 0 is one of the first five.
  const resultId = 'r_' + (await sha256(lease!.id)).slice(0, 24);
  const key = await findDrawKey([
    [`spot:${resultId}`, (u) => u < 0.25],
    [`spot-from:${resultId}`, (u) => Math.floor(u * 6) - 1 >= 0],
  ]);
  d1(`INSERT INTO volunteer_classes (volunteer_id, backend_class, consecutive_valid, valid, invalid, updated_at)
      VALUES ('${lease!.volunteerId}', 'wasm', 10, 10, 0, 0);
      UPDATE volunteers SET reputation = 40 WHERE id = '${lease!.volunteerId}';
      UPDATE leases SET single = 1 WHERE id = '${lease!.id}';
      UPDATE trust_secrets SET value = '${key}' WHERE name = 'draw_key';`);
  // Resumed, finished, accepted alone — and the page reveals the checkpoint the answer asks for.
  await page.getByRole('button', { name: /Start/ }).click();
  await expect(page.getByTestId('submitted')).not.toHaveText('0', { timeout: 3 * 60_000 });
  const spot = () =>
    d1<{
      status: string;
      fromStep: number;
      toStep: number;
      expected: string;
      observed: string | null;
    }>(
      `SELECT status, from_step AS fromStep, to_step AS toStep, expected_json AS expected, observed_json AS observed FROM spot_checks WHERE result_id = '${resultId}'`,
    )[0];
  await expect.poll(() => spot()?.status, { timeout: 60_000 }).toBe('open');
  await page.getByRole('button', { name: 'Stop' }).click();

  // Another browser, another profile: it takes the spot check before any other work.
  const other = await secondChromium(baseURL);
  const checker = other.page;
  checker.on('pageerror', (e) => errors.push(e.message));
  await startVolunteer(checker, 'webgpu', CAMPAIGN);
  await expect(checker.getByTestId('spot-check')).toHaveText(/steps \d+–\d+/, {
    timeout: 2 * 60_000,
  });
  await expect(checker.getByTestId('step')).toHaveText(/^\d+ \/ \d+$/, { timeout: 2 * 60_000 });
  await checker.screenshot({ path: 'test-results/volunteer-spot-check.png', fullPage: true });
  await expect
    .poll(() => spot()?.status, { timeout: 4 * 60_000, intervals: [5_000] })
    .toBe('passed');
  const s = spot()!;
  expect(s.fromStep).toBeGreaterThan(0);
  expect(s.toStep).toBe(s.fromStep + 50);
  const [expected, observed] = [
    JSON.parse(s.expected) as number[],
    JSON.parse(s.observed!) as number[],
  ];
  const gap = Math.max(...expected.map((x, i) => Math.abs(x - observed[i]!)));
  expect(gap).toBeLessThanOrEqual(TAU_SPOT);
  expect(errors).toEqual([]);
  console.log(
    `e2e spot check: steps ${s.fromStep}–${s.toStep} from a revealed checkpoint, wasm → webgpu, |Δ segment mean| = ${gap.toExponential(2)}`,
  );
  await other.close();
});
