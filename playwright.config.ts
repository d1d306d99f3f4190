// Browser tests: real Debian browsers (never a downloaded one) against the real local edge, started
// fresh with the tiny e2e campaign on its own port and state directory. Playwright drives Chromium;
// the specs drive Firefox ESR through e2e/firefox.ts (puppeteer-core, WebDriver BiDi) and WebKitGTK
// through e2e/webkit.ts (WebKitWebDriver on Xvfb), against this same webServer.
import { randomBytes } from 'node:crypto';
import { defineConfig } from '@playwright/test';

// The local front's secret (scripts/lib/local-edge.ts), the same for the test servers (which inherit the
// environment) and the specs that simulate volunteers' addresses with it.
process.env.TABGRID_FRONT_SECRET ??= randomBytes(24).toString('base64url');

// TABGRID_E2E_PORT runs a second suite beside the first (its own port and state directory).
export const E2E_PORT = Number(process.env.TABGRID_E2E_PORT ?? 8790);
export const E2E_PERSIST = E2E_PORT === 8790 ? '.wrangler/e2e' : `.wrangler/e2e-${E2E_PORT}`;
process.env.E2E_PERSIST ??= E2E_PERSIST; // for the specs that read it from the environment
export const CHROMIUM_ARGS = [
  '--no-sandbox',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--no-first-run',
  '--enable-unsafe-webgpu', // SwiftShader's software WebGPU adapter (docs/backends.md)
];

export default defineConfig({
  testDir: 'e2e',
  timeout: 6 * 60_000,
  workers: 1,
  reporter: [['list']],
  outputDir: E2E_PORT === 8790 ? 'test-results' : `test-results-${E2E_PORT}`,
  use: {
    baseURL: `http://localhost:${E2E_PORT}`,
    launchOptions: {
      executablePath: process.env.CHROMIUM_PATH ?? '/usr/bin/chromium',
      args: CHROMIUM_ARGS,
    },
    screenshot: 'only-on-failure',
  },
  webServer: {
    command: `rm -rf ${E2E_PERSIST} && node scripts/start.ts --port ${E2E_PORT} --persist ${E2E_PERSIST} --campaign tiny`,
    url: `http://localhost:${E2E_PORT}/api/health`,
    timeout: 180_000,
    reuseExistingServer: false,
    stdout: 'pipe',
  },
});
