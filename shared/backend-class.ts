// Backend classes: the unit in which results are steered, counted and trusted. A class is the
// backend plus its float precision: float16 paths (WebGL without float32 render targets) round so
// differently from float32 ones that they form their own class and only replicate each other.
import type { Backend, Precision } from './protocol.ts';

export function backendClass(backend: Backend, precision: Precision | undefined | null): string {
  return precision === 'float16' ? `${backend}-f16` : backend;
}
