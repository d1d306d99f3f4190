// A volunteer moves its identity to another browser: export from one profile to an encrypted file,
// import it in another with the passphrase, and the second browser contributes as the same
// volunteer (signing with a linked key; the first key never leaves the first browser).
import { expect, test } from '@playwright/test';

test('export an identity, import it elsewhere, contribute as the same volunteer', async ({
  browser,
}) => {
  const a = await (await browser.newContext()).newPage();
  await a.goto('/?backend=wasm&campaign=e2e-identity');
  await a.getByRole('button', { name: /Start/ }).click();
  await expect(a.getByTestId('volunteer-id')).toHaveText(/^v_[0-9a-f]{32}$/, { timeout: 60_000 });
  const id = (await a.getByTestId('volunteer-id').textContent())!;
  await a.getByRole('button', { name: 'Stop' }).click();
  await expect(a.getByRole('button', { name: /Start/ })).toBeVisible({ timeout: 30_000 });

  await a.getByText('Move your identity to another browser').click();
  await a.getByLabel(/Passphrase/).fill('correct horse battery');
  const [download] = await Promise.all([
    a.waitForEvent('download'),
    a.getByRole('button', { name: 'Export identity' }).click(),
  ]);
  const file = await download.path();
  const text = await (await import('node:fs/promises')).readFile(file, 'utf8');
  expect(text).not.toContain('PRIVATE'); // encrypted, not a PEM
  expect(JSON.parse(text).volunteerId).toBe(id);

  const b = await (await browser.newContext()).newPage();
  await b.goto('/?backend=wasm&campaign=e2e-identity');
  await b.getByText('Move your identity to another browser').click();
  await b.getByLabel(/Identity file/).setInputFiles(file);
  await b.getByLabel(/Passphrase/).fill('wrong passphrase!');
  await b.getByRole('button', { name: 'Import identity' }).click();
  await expect(b.getByTestId('transfer-message')).toHaveText(/does not open/);
  await b.getByLabel(/Passphrase/).fill('correct horse battery');
  await b.getByRole('button', { name: 'Import identity' }).click();
  await expect(b.getByTestId('transfer-message')).toContainText(id);

  await b.getByRole('button', { name: /Start/ }).click();
  await expect(b.getByTestId('volunteer-id')).toHaveText(id, { timeout: 60_000 });
  await expect(b.getByTestId('step')).toHaveText(/^\d+ \/ \d+$/, { timeout: 60_000 }); // leased and training, signed by the linked key
  await expect(b.getByRole('alert')).toHaveCount(0);
  await b.getByRole('button', { name: 'Stop' }).click();
  await a.context().close();
  await b.context().close();
});
