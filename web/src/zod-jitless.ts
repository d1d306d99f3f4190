// zod 4 probes once per page whether it may compile its parsers (`new Function("")`): the page's
// CSP has no 'unsafe-eval', so the probe is blocked — a CSP violation that Firefox logs as an
// error — and zod falls back to its interpreter anyway. Telling it so before any schema is built
// skips the probe: same results, no violation. Imported first by web/src/main.ts.
import { config } from 'zod';

config({ jitless: true });
