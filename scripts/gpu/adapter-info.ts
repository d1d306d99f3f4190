// Prints, as one JSON line, the adapter Dawn gives TensorFlow.js's WebGPU backend in this process
// (the driver comes from the environment: drivers.ts's runOnDriver).
import { useDawn, type FeatureLevel } from './dawn.ts';

const adapter = await useDawn({
  flags: (process.env.TABGRID_DAWN_FLAGS ?? '').split(',').filter(Boolean),
  featureLevel: (process.env.TABGRID_DAWN_FEATURE_LEVEL ?? 'core') as FeatureLevel,
});
console.log(JSON.stringify(adapter));
process.exit(0); // Dawn's threads would keep the process alive
