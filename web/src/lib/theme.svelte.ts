// The colour scheme as a rune, for what CSS cannot theme by itself (canvas charts): read the CSS
// variables again whenever prefers-color-scheme flips.

const query = typeof matchMedia === 'function' ? matchMedia('(prefers-color-scheme: dark)') : null;

class Theme {
  dark = $state(query?.matches ?? false);

  constructor() {
    query?.addEventListener('change', (e) => (this.dark = e.matches));
  }

  /** The current value of a CSS custom property on :root (e.g. '--fg'). */
  css(name: string): string {
    void this.dark; // a dependency: re-read after the scheme changes
    return getComputedStyle(document.documentElement).getPropertyValue(name).trim();
  }
}

export const theme = new Theme();

/** Series colours for charts, distinguishable in both schemes (Okabe & Ito 2008, colour-blind safe). */
export const SERIES_LIGHT = ['#0072b2', '#d55e00', '#009e73', '#cc79a7', '#7a6a00', '#56b4e9'];
export const SERIES_DARK = ['#56b4e9', '#e69f00', '#2fd09b', '#e08cc0', '#f0e442', '#a6c8ff'];

export function seriesColor(i: number): string {
  const palette = theme.dark ? SERIES_DARK : SERIES_LIGHT;
  return palette[i % palette.length]!;
}
