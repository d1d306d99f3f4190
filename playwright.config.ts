// Browser tests: real Debian Chromium (never a downloaded browser) against the real local edge,
// started fresh with the tiny e2e campaign on its own port and state directory.
import { randomBytes } from 'node:crypto';
import { defineConfig } from '@playwright/test';

// The local front's secret (scripts/lib/local-edge.ts), the same for the test servers (which inherit the
// environment) and the specs that simulate volunteers' addresses with it.
process.env.TABGRID_FRONT_SECRET ??= randomBytes(24).toString('base64url');

export const E2E_PORT = 8790;
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
  outputDir: 'test-results',
  use: {
    baseURL: `http://localhost:${E2E_PORT}`,
    launchOptions: {
      executablePath: process.env.CHROMIUM_PATH ?? '/usr/bin/chromium',
      args: CHROMIUM_ARGS,
    },
    screenshot: 'only-on-failure',
  },
  webServer: {
    command: `rm -rf .wrangler/e2e && node scripts/start.ts --port ${E2E_PORT} --persist .wrangler/e2e --campaign tiny`,
    url: `http://localhost:${E2E_PORT}/api/health`,
    timeout: 180_000,
    reuseExistingServer: false,
    stdout: 'pipe',
  },
});
