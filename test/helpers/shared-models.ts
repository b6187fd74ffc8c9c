import { existsSync, mkdirSync, readdirSync, symlinkSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe } from 'vitest';
import { modelFiles, pullModel, type InstalledModel } from '../../src/engine/store.js';
import { tempDir } from './fixtures.js';
import { SHARED_WEIGHTS, sharedWeightsPresent, SHARED_WEIGHTS_SKIP } from './shared-data.js';

/**
 * The real pretrained networks in ../shared/weights (beside the checkout, on dev machines and in
 * CI), installed through the model store exactly as a user would with
 * `atelier models pull NAME --from ../shared/weights`.
 *
 *   import { describeWithSharedWeights, installSharedModel } from '../helpers/shared-models.js';
 *   describeWithSharedWeights('fast style nets', () => {
 *     it('…', async () => {
 *       const model = await installSharedModel('fst-small16-candy');
 *       const onnx = model.fileOf('onnx');            // or model.file('candy_nc16_….model')
 *     });
 *   });
 *
 * Installs go into one cache for all test files, scratch/test-models (git-ignored), so a model is
 * copied and hashed once, not per test; concurrent test workers wait for each other's install.
 * Licences are accepted here (tests are research use); the store's refusal without acceptance is
 * tested on its own.
 */

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');

export { SHARED_WEIGHTS, sharedWeightsPresent, SHARED_WEIGHTS_SKIP };

/** The model cache the tests share. */
export const TEST_MODEL_HOME = path.join(root, 'scratch', 'test-models');

export interface InstallSharedOptions {
  /** Variant to install and return (models with variants); default the manifest's default. */
  variant?: string;
  /** Another cache root (e.g. a temporary one, to test installing itself). */
  home?: string;
}

/** Install (once) and return a model from ../shared/weights. Throws when ../shared is absent: guard with describeWithSharedWeights. */
export async function installSharedModel(name: string, options: InstallSharedOptions = {}): Promise<InstalledModel> {
  if (!sharedWeightsPresent) throw new Error(SHARED_WEIGHTS_SKIP);
  const home = options.home ?? TEST_MODEL_HOME;
  await pullModel(name, {
    home,
    from: SHARED_WEIGHTS,
    acceptLicence: true,
    waitForLock: true,
    ...(options.variant !== undefined && { variants: [options.variant] }),
  });
  return modelFiles(name, { home, ...(options.variant !== undefined && { variant: options.variant }) });
}

/** `describe` that runs only when ../shared/weights is present, and says why it is skipped otherwise. */
export function describeWithSharedWeights(title: string, body: () => void): void {
  if (!sharedWeightsPresent) {
    describe.skip(`${title} (${SHARED_WEIGHTS_SKIP})`, body);
    return;
  }
  describe(title, body);
}

/**
 * An ATELIER_HOME whose model store holds the given multi-file models, linked from
 * ../shared/weights (set folder → model name), as `atelier models pull NAME` would install them.
 * Undefined when ../shared/weights is absent. (Links, no copy and no check: prefer installSharedModel,
 * which installs through the store itself.)
 */
export function homeWithSharedModels(sets: Record<string, string>): { home: string; cleanup: () => void } | undefined {
  if (!sharedWeightsPresent) return undefined;
  const t = tempDir('atelier-home-');
  for (const [model, folder] of Object.entries(sets)) {
    const dir = path.join(t.dir, 'models', model);
    mkdirSync(dir, { recursive: true });
    for (const f of readdirSync(path.join(SHARED_WEIGHTS, folder))) symlinkSync(path.join(SHARED_WEIGHTS, folder, f), path.join(dir, f));
  }
  return { home: t.dir, cleanup: t.cleanup };
}
