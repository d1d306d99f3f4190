// Svelte 5 with runes; TypeScript in components is handled by vite-plugin-svelte's preprocessor.
import { vitePreprocess } from '@sveltejs/vite-plugin-svelte';

export default { preprocess: vitePreprocess() };
