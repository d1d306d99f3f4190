// The loader behind the one-line embed on a partner's site:
//   <script src="https://HOST/widget.js" data-partner="ID" async></script>
// It finds its own script tag, puts HOST/embed?partner=ID in an iframe right after it, and resizes
// the frame when that page (and only that page) asks. It runs on someone else's page, so it is
// tiny, imports nothing, computes nothing, reads nothing of the page and posts no message: the
// work happens inside the frame, on Tabgrid's origin, after a click there.
// Optional: data-backend="wasm|webgpu|webgl|cpu" and data-campaign="ID" are passed to the frame.
//
// Built by Vite as its own entry (vite.config.ts) into dist/widget.js, a classic script: hence the
// IIFE (nothing leaks into the page's globals, and loading it twice cannot clash). Its headers
// (CORP cross-origin, caching) are in public/_headers.

(() => {
  interface FrameMessage {
    type?: unknown;
    height?: unknown;
    running?: unknown;
    phase?: unknown;
  }

  const MOUNTED = 'data-tabgrid-mounted';

  /** The script element running now; an async classic script has one, else the first unmounted tag. */
  function ownScript(): HTMLScriptElement | null {
    const current = document.currentScript;
    if (current instanceof HTMLScriptElement && !current.hasAttribute(MOUNTED)) return current;
    return document.querySelector<HTMLScriptElement>(`script[src][data-partner]:not([${MOUNTED}])`);
  }

  function mount(script: HTMLScriptElement): void {
    script.setAttribute(MOUNTED, '');
    const partner = script.dataset.partner ?? '';
    if (!/^[a-z0-9-]{1,40}$/.test(partner)) {
      console.warn(
        'Tabgrid widget: data-partner must be your partner id (1–40 lowercase letters, digits or -).',
      );
      return;
    }
    const host = new URL(script.src).origin;
    const src = new URL('/embed', host);
    src.searchParams.set('partner', partner);
    const backend = script.dataset.backend;
    if (backend && ['wasm', 'webgpu', 'cpu'].includes(backend)) {
      src.searchParams.set('backend', backend);
    }
    const campaign = script.dataset.campaign;
    if (campaign && /^[A-Za-z0-9_-]{1,64}$/.test(campaign)) {
      src.searchParams.set('campaign', campaign);
    }

    const frame = document.createElement('iframe');
    frame.src = src.href;
    frame.title = 'Tabgrid: lend this tab to machine-learning research';
    // Scripts and its own origin (its key and dataset cache in IndexedDB, its Worker), and links
    // that open Tabgrid in a normal tab. No top navigation, forms, modals or downloads.
    frame.setAttribute(
      'sandbox',
      'allow-scripts allow-same-origin allow-popups allow-popups-to-escape-sandbox',
    );
    // The Compute Pressure API (to back off when the device is busy), and WASM threads when the
    // partner's page is itself cross-origin isolated. Nothing else: no camera, no location. WebGPU
    // needs no grant: Chromium 156 knows no 'webgpu' policy and warns on the page if one is named.
    frame.allow = 'compute-pressure; cross-origin-isolated';
    frame.loading = 'lazy';
    frame.style.cssText =
      'display:block;width:100%;max-width:32rem;height:11rem;border:1px solid #d1d9e0;border-radius:8px;';

    window.addEventListener('message', (event: MessageEvent<FrameMessage>) => {
      if (event.origin !== host || event.source !== frame.contentWindow) return;
      const data = event.data;
      if (
        data?.type === 'tabgrid:resize' &&
        typeof data.height === 'number' &&
        Number.isFinite(data.height)
      ) {
        frame.style.height = `${Math.min(800, Math.max(80, Math.ceil(data.height)))}px`;
      } else if (data?.type === 'tabgrid:status' && typeof data.running === 'boolean') {
        // For the partner's own page, should it want to react (a thank-you, say).
        frame.dispatchEvent(
          new CustomEvent('tabgrid:status', {
            bubbles: true,
            detail: { running: data.running, phase: String(data.phase) },
          }),
        );
      }
    });

    // In <head> there is nothing to render into: use the end of <body> instead.
    if (script.parentElement && script.parentElement !== document.head) script.after(frame);
    else if (document.body) document.body.append(frame);
    else
      document.addEventListener('DOMContentLoaded', () => document.body.append(frame), {
        once: true,
      });
  }

  const script = ownScript();
  if (script) mount(script);
})();
