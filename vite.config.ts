// Builds the web app (volunteer page, leaderboards, training worker) from web/ into dist/, which
// the Worker serves as static assets. Files in public/ (and the built datasets) are copied as is.
import { svelte } from '@sveltejs/vite-plugin-svelte';
import { resolve } from 'node:path';
import { defineConfig } from 'vite';

export default defineConfig({
  root: 'web',
  publicDir: '../public',
  plugins: [svelte()],
  worker: {
    format: 'es',
    // Unminified: tfjs's threaded WASM build re-creates its Emscripten factory from
    // `Function.prototype.toString()` in each pthread, and mangled names break it ("e is not defined").
    rolldownOptions: { output: { minify: false } },
  },
  build: {
    outDir: '../dist',
    emptyOutDir: true,
    target: 'es2022',
    chunkSizeWarningLimit: 4000, // TensorFlow.js lives in the worker chunk, loaded after the click
    rolldownOptions: {
      // The partner widget's loader is its own entry, at a fixed URL partners can paste: /widget.js.
      input: {
        index: resolve(import.meta.dirname, 'web/index.html'),
        widget: resolve(import.meta.dirname, 'web/src/widget/widget.ts'),
      },
      output: {
        entryFileNames: (chunk) =>
          chunk.name === 'widget' ? 'widget.js' : 'assets/[name]-[hash].js',
      },
    },
  },
});
