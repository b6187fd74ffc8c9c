import { AtelierError } from '../core/errors.js';
import { knownModelNames } from '../engine/store.js';

/**
 * The API never lets a client name a file on the server. Some library parameters accept a path
 * (CAP-VSTNet's `weights` takes a checkpoint file for CLI users); over HTTP, weights are chosen
 * by model name and files arrive as uploads. A path-shaped string in any parameter is refused
 * before anything touches the file system, and the error neither echoes the value nor says
 * whether such a file exists, so the API cannot be used to probe the server's disk.
 */

/** Slashes, a home or dot prefix, a drive letter, or a file extension: what a path looks like. */
export function looksLikePath(value: string): boolean {
  return /[\\/]/.test(value) || /^[~.]/.test(value) || /^[A-Za-z]:/.test(value) || /\.[A-Za-z][A-Za-z0-9]{0,11}$/.test(value) || value.includes('\0');
}

/**
 * Parameters that take a model as a file or a name on the CLI: `weights` (checkpoint file or
 * folder), `model` (neural.fast, neural.cyclegan, neural.stargan), `lora` (adapters, each
 * `NAME[:weight]`), `added` (styles added to the 26-style network) and `adapter` (diffusion.img2img's
 * IP-Adapter file). A bare word there would be
 * tried as a file relative to the server's working directory, so over HTTP each must be one of
 * the store's words or the name of a model the store knows: published, or made here (by a
 * training job or `atelier train … --name`: one store, engine/store/trained.ts).
 */
const MODEL_PARAMS = new Set(['weights', 'model', 'lora', 'added', 'adapter']);

function isModelName(name: string, value: string): boolean {
  const word = name === 'lora' ? value.replace(/:[^:]*$/, '') : value;
  return word === 'installed' || word === 'random' || knownModelNames().includes(word);
}

/** Throw E_PARAM when any string parameter (or string in an array parameter) is path-shaped. */
export function refuseServerPaths(params: Record<string, unknown>, methodId: string): void {
  for (const [name, value] of Object.entries(params)) {
    const strings = typeof value === 'string' ? [value] : Array.isArray(value) ? value.filter((v): v is string => typeof v === 'string') : [];
    if (strings.some(looksLikePath) || (MODEL_PARAMS.has(name) && strings.some((v) => !isModelName(name, v)))) {
      throw new AtelierError('E_PARAM', `${methodId}: ${name} cannot name a file over the API`, {
        expected: MODEL_PARAMS.has(name) ? "'installed', 'random' or the name of an installed model (GET /api/models lists them)" : 'a value from the parameter schema (GET /api/methods)',
        received: 'a file path',
        hint: 'the server never opens a path a client sends: upload images as form files and choose weights by model name',
        subject: name,
      });
    }
  }
}
