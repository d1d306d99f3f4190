// How hard this tab may compute, as reactive state: the volunteer's own settings (a duty cycle,
// and whether to keep going in the background), remembered in localStorage, combined with what the
// browser says: tab hidden (Chrome throttles hidden tabs anyway), on battery (Battery API, Chromium
// only), and compute pressure (PressureObserver, Chrome 125+). Every change is pushed to the worker.
import type { Limits } from '../worker/types.ts';

const KEY = 'tabgrid.settings';
/**
 * Duty-cycle ceilings when the device asks for care. Pressure only slows down, and only when
 * critical: training on every core is itself 'serious' pressure, so reacting to that (or pausing)
 * would just oscillate; 'critical' (thermal limits, or other programs on top of us) earns a rest.
 */
const ON_BATTERY_DUTY = 0.5;
const CRITICAL_PRESSURE_DUTY = 0.75;

type PressureState = 'nominal' | 'fair' | 'serious' | 'critical';

interface BatteryLike extends EventTarget {
  charging: boolean;
}
interface PressureRecordLike {
  state: PressureState;
}
type PressureObserverCtor = new (cb: (records: PressureRecordLike[]) => void) => {
  observe(source: 'cpu'): Promise<void>;
};

interface Settings {
  duty: number;
  background: boolean;
}

function loadSettings(): Settings {
  try {
    const s = JSON.parse(localStorage.getItem(KEY) ?? '{}') as Partial<Settings>;
    const duty = typeof s.duty === 'number' && s.duty >= 0.1 && s.duty <= 1 ? s.duty : 1;
    return { duty, background: s.background === true };
  } catch {
    return { duty: 1, background: false };
  }
}

export class Pacing {
  duty = $state(1);
  background = $state(false);
  hidden = $state(false);
  onBattery = $state(false);
  pressure = $state<PressureState | null>(null);
  /** What this browser offers to pace by (Firefox has neither: the page says so, not pretends). */
  readonly senses: { battery: boolean; pressure: boolean };
  readonly #onChange: (l: Limits) => void;

  constructor(onChange: (l: Limits) => void) {
    this.#onChange = onChange;
    const s = loadSettings();
    this.duty = s.duty;
    this.background = s.background;
    this.hidden = document.visibilityState === 'hidden';
    document.addEventListener('visibilitychange', () => {
      this.hidden = document.visibilityState === 'hidden';
      this.#emit();
    });
    const nav = navigator as Navigator & { getBattery?: () => Promise<BatteryLike> };
    const PO = (globalThis as { PressureObserver?: PressureObserverCtor }).PressureObserver;
    this.senses = { battery: typeof nav.getBattery === 'function', pressure: !!PO };
    nav
      .getBattery?.()
      .then((b) => {
        const update = () => {
          this.onBattery = !b.charging;
          this.#emit();
        };
        b.addEventListener('chargingchange', update);
        update();
      })
      .catch(() => {});
    if (PO) {
      new PO((records) => {
        this.pressure = records.at(-1)?.state ?? null;
        this.#emit();
      })
        .observe('cpu')
        .catch(() => {});
    }
  }

  /** What the worker may do now, and why it is less than the volunteer's setting. */
  get limits(): Limits & { reason: string | null } {
    if (this.hidden && !this.background)
      return { duty: this.duty, paused: true, reason: 'paused while this tab is hidden' };
    let duty = this.duty;
    let reason: string | null = null;
    if (this.onBattery && duty > ON_BATTERY_DUTY)
      [duty, reason] = [ON_BATTERY_DUTY, 'slowed down: running on battery'];
    if (this.pressure === 'critical' && duty > CRITICAL_PRESSURE_DUTY)
      [duty, reason] = [CRITICAL_PRESSURE_DUTY, 'slowed down: the device is under heavy load'];
    return { duty, paused: false, reason };
  }

  setDuty(duty: number): void {
    this.duty = Math.min(1, Math.max(0.1, duty));
    this.#save();
  }

  setBackground(background: boolean): void {
    this.background = background;
    this.#save();
  }

  #save(): void {
    localStorage.setItem(
      KEY,
      JSON.stringify({ duty: this.duty, background: this.background } satisfies Settings),
    );
    this.#emit();
  }

  #emit(): void {
    const { duty, paused } = this.limits;
    this.#onChange({ duty, paused });
  }
}
