// WebKit in the browser tests: Debian's WebKitGTK MiniBrowser driven by its WebDriver
// (webkit2gtk-driver's WebKitWebDriver, W3C WebDriver classic over HTTP) on a virtual display
// (e2e/xvfb.ts). A small client: new session, navigate, run a script, find and click, screenshot.
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { dirname } from 'node:path';
import { startXvfb, type Xvfb } from './xvfb.ts';

export const WEBKIT_DRIVER = process.env.WEBKIT_DRIVER ?? '/usr/bin/WebKitWebDriver';
export const MINIBROWSER =
  process.env.WEBKIT_MINIBROWSER ?? '/usr/lib/x86_64-linux-gnu/webkit2gtk-4.1/MiniBrowser';

/** Whether this machine has WebKitGTK's driver, its MiniBrowser and Xvfb. */
export const webkitAvailable = () =>
  [WEBKIT_DRIVER, MINIBROWSER, '/usr/bin/Xvfb'].every((p) => existsSync(p));

const ELEMENT = 'element-6066-11e4-a52e-4f735466cecf';

const freePort = () =>
  new Promise<number>((resolve, reject) => {
    const s = createServer();
    s.on('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address() as { port: number };
      s.close(() => resolve(port));
    });
  });

export interface WebKitSession {
  version: string;
  /** What the browser wrote: the page's console messages and WebKit's warnings. */
  output: string[];
  goto(url: string): Promise<void>;
  /** Runs `body` (a function body; `arguments` are `args`) in the page and returns its value. */
  execute<T>(body: string, ...args: unknown[]): Promise<T>;
  /** As execute, with a promise: `body` must return one. */
  executeAsync<T>(body: string, ...args: unknown[]): Promise<T>;
  /** Clicks the first element matching the CSS selector for which `filter` (a body) is true. */
  click(selector: string, textPattern?: RegExp): Promise<void>;
  screenshot(path: string): Promise<void>;
  close(): Promise<void>;
}

/** Starts Xvfb, WebKitWebDriver and a MiniBrowser session. */
export async function launchWebKit(): Promise<WebKitSession> {
  const xvfb: Xvfb = await startXvfb();
  const port = await freePort();
  const driver: ChildProcess = spawn(WEBKIT_DRIVER, [`--port=${port}`], {
    // A language: without one WebKitGTK's navigator.language is "C", which Intl refuses
    // ("RangeError: invalid language tag: C"), and the app's first Intl.NumberFormat throws.
    env: { ...process.env, DISPLAY: xvfb.display, LANG: 'en_US.UTF-8', LANGUAGE: 'en_US' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  // The page's console (--enable-write-console-messages-to-stdout) and the browser's own warnings.
  const output: string[] = [];
  for (const stream of [driver.stdout!, driver.stderr!])
    stream.on('data', (d: Buffer) => output.push(...String(d).split('\n').filter(Boolean)));
  const base = `http://127.0.0.1:${port}`;
  const call = async <T>(method: string, path: string, body?: unknown): Promise<T> => {
    const res = await fetch(`${base}${path}`, {
      method,
      headers: body === undefined ? {} : { 'content-type': 'application/json' },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const json = (await res.json()) as { value: T & { error?: string; message?: string } };
    if (!res.ok || (json.value && typeof json.value === 'object' && 'error' in json.value))
      throw new Error(
        `WebKitWebDriver ${method} ${path}: ${json.value?.error} ${json.value?.message}`,
      );
    return json.value;
  };
  try {
    for (let i = 0; ; i++) {
      const up = await fetch(`${base}/status`).then(
        (r) => r.ok,
        () => false,
      );
      if (up) break;
      if (i > 100 || driver.exitCode !== null) throw new Error('WebKitWebDriver did not start');
      await new Promise((r) => setTimeout(r, 100));
    }
    const created = await call<{ sessionId: string; capabilities: { browserVersion: string } }>(
      'POST',
      '/session',
      {
        capabilities: {
          alwaysMatch: {
            'webkitgtk:browserOptions': {
              binary: MINIBROWSER,
              args: ['--automation', '--enable-write-console-messages-to-stdout=true'],
            },
          },
        },
      },
    );
    const s = `/session/${created.sessionId}`;
    await call('POST', `${s}/timeouts`, { script: 30 * 60_000 }); // a benchmark's run is one script
    const session: WebKitSession = {
      version: `webkitgtk/${created.capabilities.browserVersion}`,
      output,
      goto: (url) => call('POST', `${s}/url`, { url }),
      execute: (script, ...args) => call('POST', `${s}/execute/sync`, { script, args }),
      executeAsync: (script, ...args) =>
        call('POST', `${s}/execute/async`, {
          script: `const done = arguments[arguments.length - 1];
            Promise.resolve((function () { ${script} }).apply(null, Array.from(arguments).slice(0, -1)))
              .then((v) => done({ ok: v }), (e) => done({ error: String(e && e.message || e) }));`,
          args,
        }).then((r) => {
          const out = r as { ok?: unknown; error?: string };
          if (out.error !== undefined) throw new Error(out.error);
          return out.ok as never;
        }),
      async click(selector, textPattern) {
        const found = await call<Record<string, string>[]>('POST', `${s}/elements`, {
          using: 'css selector',
          value: selector,
        });
        for (const el of found) {
          const id = el[ELEMENT]!;
          const text = await call<string>('GET', `${s}/element/${id}/text`);
          if (!textPattern || textPattern.test(text.trim())) {
            await call('POST', `${s}/element/${id}/click`, {});
            return;
          }
        }
        throw new Error(`no ${selector} matching ${textPattern}`);
      },
      async screenshot(path) {
        const png = await call<string>('GET', `${s}/screenshot`);
        mkdirSync(dirname(path), { recursive: true });
        writeFileSync(path, Buffer.from(png, 'base64'));
      },
      async close() {
        await call('DELETE', s).catch(() => undefined);
        driver.kill();
        xvfb.close();
      },
    };
    return session;
  } catch (err) {
    driver.kill();
    xvfb.close();
    throw err;
  }
}
