import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { AtelierError } from '../../core/errors.js';
import type { ModelEntry, ModelFile, TrainedInfo } from './manifest.js';

/**
 * A model made here (by `atelier train`, a server training job or `atelier lora merge`) is a
 * folder `models/NAME/` like a published one, with `trained.json` beside its files: the manifest
 * entry no published manifest has. Its `network` is the kind of network the files hold, which
 * tells the methods that take a model by name whether it fits them (`fast`, `multistyle`, `lora`,
 * `cyclegan`, `stargan`, `capvst`); `trained` says how it was made.
 */

export const TRAINED_ENTRY = 'trained.json';

/** Names of trained models: lowercase words, no dots (a dotted name would read as a file name, and the API refuses those). */
export const TRAINED_NAME = /^[a-z0-9][a-z0-9_-]{0,63}$/;

export function checkTrainedName(name: string): void {
  if (!TRAINED_NAME.test(name)) {
    throw new AtelierError('E_PARAM', 'Invalid name for a trained model', {
      expected: 'lowercase letters, digits, - and _ (up to 64, starting with a letter or digit), e.g. my-watercolour',
      received: JSON.stringify(name.length > 70 ? `${name.slice(0, 67)}…` : name),
      subject: 'name',
    });
  }
}

/** What a trainer hands the store: the kind of network, a description and how it was made. */
export interface TrainedModelInput {
  description: string;
  /** The kind of network (see above). */
  network: string;
  trained: TrainedInfo;
}

/** The manifest entry of a model made here, given its installed files. */
export function trainedEntry(name: string, model: TrainedModelInput, files: ModelFile[]): ModelEntry {
  const { trained } = model;
  const how = trained.job ? `server training job ${trained.job}` : trained.trainer === 'lora-merge' ? 'atelier lora merge' : `atelier train ${trained.trainer}`;
  return {
    name,
    description: model.description,
    network: model.network,
    format: 'safetensors',
    page: '',
    licence: 'trained here: the rights of its training images apply',
    terms: 'unstated',
    provenance: `${how}, ${trained.iterations} iterations, ${trained.createdAt.slice(0, 10)}${trained.migratedFrom ? ` (moved from ${trained.migratedFrom})` : ''}`,
    files,
    trained,
  };
}

/** Entries of the models made here, read from their folders under `root` (unreadable ones are skipped). */
export function readTrainedEntries(root: string): ModelEntry[] {
  let names: string[];
  try {
    names = readdirSync(root);
  } catch {
    return [];
  }
  const out: ModelEntry[] = [];
  for (const name of names) {
    if (name.startsWith('.') || !TRAINED_NAME.test(name)) continue;
    try {
      const entry = JSON.parse(readFileSync(path.join(root, name, TRAINED_ENTRY), 'utf8')) as ModelEntry;
      if (entry.name === name && Array.isArray(entry.files) && entry.files.length > 0 && entry.trained) out.push(entry);
    } catch {
      // not a trained model (a published one has no trained.json)
    }
  }
  return out.sort((a, b) => a.name.localeCompare(b.name));
}
