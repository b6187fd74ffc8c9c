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
 * `weights` is where several methods take a checkpoint file or folder from the CLI; a bare name
 * ("models") would be a folder relative to the server's working directory. Over HTTP it is one
 * of the store's words or a model the store knows (published or trained here), nothing else.
 */
function isWeightsName(value: string): boolean {
  return value === 'installed' || value === 'random' || knownModelNames().includes(value);
}

/** Throw E_PARAM when any string parameter (or string in an array parameter) is path-shaped. */
export function refuseServerPaths(params: Record<string, unknown>, methodId: string): void {
  for (const [name, value] of Object.entries(params)) {
    const strings = typeof value === 'string' ? [value] : Array.isArray(value) ? value.filter((v): v is string => typeof v === 'string') : [];
    if (strings.some(looksLikePath) || (name === 'weights' && strings.some((v) => !isWeightsName(v)))) {
      throw new AtelierError('E_PARAM', `${methodId}: ${name} cannot name a file over the API`, {
        expected: name === 'weights' ? "'installed', 'random' or the name of an installed model (GET /api/models lists them)" : 'a value from the parameter schema (GET /api/methods)',
        received: 'a file path',
        hint: 'the server never opens a path a client sends: upload images as form files and choose weights by model name',
        subject: name,
      });
    }
  }
}
