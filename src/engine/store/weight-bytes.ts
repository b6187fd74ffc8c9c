import { readdirSync, statSync } from 'node:fs';
import path from 'node:path';
import { modelFiles, type ModelFilesOptions } from '../store.js';

/**
 * Bytes of the weight files a run reads, for the memory budget (core/memory-budget.ts counts them
 * as loaded into a session). Never throws: a model that is not installed or a path that does not
 * exist is `undefined`, and the budget then leaves the run to stop on that first, with the error
 * that says how to install it (not a refusal for memory it would never use).
 */

/** An installed model's files (of one variant, the default one unless given). */
export function modelWeightBytes(name: string, options: ModelFilesOptions = {}): number | undefined {
  try {
    return modelFiles(name, options).files.reduce((a, f) => a + f.size, 0);
  } catch {
    return undefined;
  }
}

/**
 * What a method's `weights` (or `model`) value reads: 'random' nothing; 'installed' the store's
 * `model`; a model's name in the store (published or made here) its files; a file its size; a
 * folder the files in it.
 */
export function weightSourceBytes(source: string, model?: string, options: ModelFilesOptions = {}): number | undefined {
  if (source === 'random') return 0;
  if (source === 'installed') return model !== undefined ? modelWeightBytes(model, options) : undefined;
  const named = modelWeightBytes(source, options);
  if (named !== undefined) return named;
  try {
    const stat = statSync(source);
    if (stat.isFile()) return stat.size;
    return readdirSync(source, { withFileTypes: true })
      .filter((e) => e.isFile())
      .reduce((a, e) => a + statSync(path.join(source, e.name)).size, 0);
  } catch {
    return undefined;
  }
}
