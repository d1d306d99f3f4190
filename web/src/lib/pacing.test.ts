// Tests the pacing rules: the volunteer's duty cycle (clamped, remembered), pausing while hidden,
// and the battery and compute-pressure ceilings, each pushed to the worker as it changes.
import { afterEach, beforeEach, describe, expect, test, vi } from 'vitest';
import type { Limits } from '../worker/types.ts';
import { Pacing } from './pacing.svelte.ts';

const KEY = 'tabgrid.settings';

let visibility: DocumentVisibilityState;
let emitted: Limits[];

function setVisibility(state: DocumentVisibilityState): void {
  visibility = state;
  document.dispatchEvent(new Event('visibilitychange'));
}

/** The Battery API (Chromium only, absent from every DOM for Node): an EventTarget with `charging`. */
class Battery extends EventTarget {
  charging = true;
  plug(charging: boolean): void {
    this.charging = charging;
    this.dispatchEvent(new Event('chargingchange'));
  }
}

/** PressureObserver (Chrome 125+, absent from Node): the test reports records through `report`. */
let report: (state: 'nominal' | 'fair' | 'serious' | 'critical') => void;
class PressureObserver {
  constructor(cb: (records: { state: 'nominal' | 'fair' | 'serious' | 'critical' }[]) => void) {
    report = (state) => cb([{ state }]);
  }
  async observe(): Promise<void> {}
}

const make = () => new Pacing((l) => emitted.push(l));
const settle = () => new Promise((r) => setTimeout(r, 0));

beforeEach(() => {
  localStorage.clear();
  emitted = [];
  visibility = 'visible';
  Object.defineProperty(document, 'visibilityState', { configurable: true, get: () => visibility });
});

afterEach(() => {
  vi.unstubAllGlobals();
  Reflect.deleteProperty(navigator, 'getBattery');
});

describe('settings', () => {
  test('full speed, foreground only, by default', () => {
    const p = make();
    expect(p.limits).toEqual({ duty: 1, paused: false, reason: null });
    expect(p.background).toBe(false);
  });

  test('setDuty clamps to [0.1, 1], tells the worker, and is remembered', () => {
    const p = make();
    p.setDuty(0.4);
    expect(emitted.at(-1)).toEqual({ duty: 0.4, paused: false });
    p.setDuty(0);
    expect(p.duty).toBe(0.1);
    p.setDuty(3);
    expect(p.duty).toBe(1);
    p.setDuty(0.25);
    p.setBackground(true);
    const again = make();
    expect(again.duty).toBe(0.25);
    expect(again.background).toBe(true);
  });

  test.each([
    ['a duty under 0.1', JSON.stringify({ duty: 0.05, background: true }), 1, true],
    ['a duty over 1', JSON.stringify({ duty: 2 }), 1, false],
    ['a duty that is not a number', JSON.stringify({ duty: '0.5', background: 'yes' }), 1, false],
    ['broken JSON', '{duty', 1, false],
  ])('ignores %s in storage', (_, stored, duty, background) => {
    localStorage.setItem(KEY, stored);
    const p = make();
    expect(p.duty).toBe(duty);
    expect(p.background).toBe(background);
  });
});

describe('hidden tab', () => {
  test('pauses while hidden and resumes when shown, telling the worker each time', () => {
    const p = make();
    setVisibility('hidden');
    expect(p.limits).toMatchObject({ paused: true, reason: 'paused while this tab is hidden' });
    expect(emitted.at(-1)).toEqual({ duty: 1, paused: true });
    setVisibility('visible');
    expect(emitted.at(-1)).toEqual({ duty: 1, paused: false });
  });

  test('keeps going when the volunteer allows the background', () => {
    const p = make();
    p.setBackground(true);
    setVisibility('hidden');
    expect(p.limits).toEqual({ duty: 1, paused: false, reason: null });
  });

  test('starts paused in a tab opened hidden', () => {
    visibility = 'hidden';
    expect(make().limits.paused).toBe(true);
  });
});

describe('device care', () => {
  test('on battery the duty is at most 0.5, and back to the setting when plugged in', async () => {
    const battery = new Battery();
    battery.charging = false;
    Object.defineProperty(navigator, 'getBattery', {
      configurable: true,
      value: async () => battery,
    });
    const p = make();
    await settle();
    expect(p.limits).toEqual({
      duty: 0.5,
      paused: false,
      reason: 'slowed down: running on battery',
    });
    expect(emitted.at(-1)).toEqual({ duty: 0.5, paused: false });
    battery.plug(true);
    expect(p.limits).toEqual({ duty: 1, paused: false, reason: null });
    battery.plug(false);
    p.setDuty(0.3); // already below the ceiling: no reason to give
    expect(p.limits).toEqual({ duty: 0.3, paused: false, reason: null });
  });

  test('only critical pressure slows down, to 0.75; serious does not', () => {
    vi.stubGlobal('PressureObserver', PressureObserver);
    const p = make();
    report('serious');
    expect(p.limits.duty).toBe(1);
    report('critical');
    expect(p.limits).toEqual({
      duty: 0.75,
      paused: false,
      reason: 'slowed down: the device is under heavy load',
    });
    expect(emitted.at(-1)).toEqual({ duty: 0.75, paused: false });
    report('nominal');
    expect(p.limits.duty).toBe(1);
  });

  test('battery and critical pressure together: the lower ceiling holds', async () => {
    const battery = new Battery();
    battery.charging = false;
    Object.defineProperty(navigator, 'getBattery', {
      configurable: true,
      value: async () => battery,
    });
    vi.stubGlobal('PressureObserver', PressureObserver);
    const p = make();
    await settle();
    report('critical');
    expect(p.limits.duty).toBe(0.5);
  });

  test('a hidden tab is paused whatever the device says', () => {
    vi.stubGlobal('PressureObserver', PressureObserver);
    const p = make();
    report('critical');
    setVisibility('hidden');
    expect(p.limits.paused).toBe(true);
  });
});
