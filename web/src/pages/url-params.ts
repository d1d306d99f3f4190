// What a page reads from its URL's query string.
import type { BackendPreference } from '../worker/types.ts';

/** ?backend=: the backend the trainer should try first; 'auto' when absent or unknown. */
export function backendPreference(params: URLSearchParams): BackendPreference {
  const backend = params.get('backend') ?? '';
  return ['webgpu', 'wasm', 'webgl', 'cpu'].includes(backend)
    ? (backend as BackendPreference)
    : 'auto';
}
