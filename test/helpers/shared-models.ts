import { mkdirSync, readdirSync, symlinkSync } from 'node:fs';
import path from 'node:path';
import { sharedWeights } from './torch-reference.js';
import { tempDir } from './fixtures.js';

/**
 * An ATELIER_HOME whose model store holds the given multi-file models, linked from
 * ../shared/weights (set folder → model name), as `atelier models pull NAME` would install them.
 * Undefined when ../shared/weights is absent.
 */
export function homeWithSharedModels(sets: Record<string, string>): { home: string; cleanup: () => void } | undefined {
  if (!sharedWeights) return undefined;
  const t = tempDir('atelier-home-');
  for (const [model, folder] of Object.entries(sets)) {
    const dir = path.join(t.dir, 'models', model);
    mkdirSync(dir, { recursive: true });
    for (const f of readdirSync(path.join(sharedWeights, folder))) symlinkSync(path.join(sharedWeights, folder, f), path.join(dir, f));
  }
  return { home: t.dir, cleanup: t.cleanup };
}
