// The setup shared by the benchmarks that run real models (imported.mjs, models-load.mjs): where the
// checkout and ../shared/weights are, the thread count every figure is taken at, and a model store
// of their own under scratch/bench-models. Importing this sets ATELIER_HOME, so every compiled
// module and child process the benchmark starts uses that store.
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export const root = path.join(path.dirname(fileURLToPath(import.meta.url)), '..');
export const shared = path.resolve(root, '..', 'shared', 'weights');
export const THREADS = 2;
export const HOME = path.join(root, 'scratch', 'bench-models');
process.env.ATELIER_HOME = HOME;

/** A compiled module of the checkout (`npm run build` first). */
export const dist = (p) => import(path.join(root, 'dist', p));

/** Install a model into the bench store from ../shared/weights, as `atelier models pull NAME --from` does (licences accepted: a benchmark is research use). */
export async function installFromShared(name, options = {}) {
  const { pullModel } = await dist('engine/store.js');
  return pullModel(name, { home: HOME, from: shared, acceptLicence: true, waitForLock: true, ...options });
}
