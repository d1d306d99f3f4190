// A virtual X display (Debian's xvfb) for the browsers that need one here: Firefox has WebGL only
// with a display (headless, Mesa's llvmpipe is out of reach: "Exhausted GL driver options"), and
// WebKitGTK's WebDriver runs headful only.
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';

export interface Xvfb {
  display: string; // e.g. ':94', for DISPLAY
  close(): void;
}

export const XVFB_PATH = '/usr/bin/Xvfb';

/** Starts Xvfb on the first free display from :90 and waits until it accepts clients. */
export async function startXvfb(): Promise<Xvfb> {
  if (!existsSync(XVFB_PATH))
    throw new Error(`${XVFB_PATH} is missing (Debian: apt-get install xvfb)`);
  for (let n = 90; n < 110; n++) {
    if (existsSync(`/tmp/.X11-unix/X${n}`) || existsSync(`/tmp/.X${n}-lock`)) continue;
    const child: ChildProcess = spawn(
      XVFB_PATH,
      [`:${n}`, '-screen', '0', '1280x1024x24', '-nolisten', 'tcp'],
      {
        stdio: 'ignore',
      },
    );
    for (let i = 0; i < 100 && child.exitCode === null; i++) {
      if (existsSync(`/tmp/.X11-unix/X${n}`)) {
        return { display: `:${n}`, close: () => void child.kill() };
      }
      await new Promise((r) => setTimeout(r, 50));
    }
    child.kill();
  }
  throw new Error('Xvfb did not start on any display from :90 to :109');
}
