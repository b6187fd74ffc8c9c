import { existsSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

/**
 * Where `../shared` is: the weights and data beside the checkout (dev machines and CI; never in
 * the repository). Tests that need it skip with the reason below when it is absent:
 *
 *   import { SHARED_DATA, sharedDataPresent, SHARED_DATA_SKIP } from '../helpers/shared-data.js';
 *   describe.skipIf(!sharedDataPresent)(`on the dev photographs ${sharedDataPresent ? '' : SHARED_DATA_SKIP}`, () => { … });
 *
 * ATELIER_SHARED points elsewhere (e.g. a checkout whose ../shared is not beside it).
 */

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');

export const SHARED_DIR = process.env.ATELIER_SHARED ?? path.resolve(root, '..', 'shared');
export const SHARED_WEIGHTS = path.join(SHARED_DIR, 'weights');
export const SHARED_DATA = path.join(SHARED_DIR, 'data');

export const sharedWeightsPresent = existsSync(path.join(SHARED_WEIGHTS, 'FILES.tsv'));
export const sharedDataPresent = existsSync(path.join(SHARED_DATA, 'dev', 'pairs.json'));

export const SHARED_WEIGHTS_SKIP = `skipped: ${SHARED_WEIGHTS} is absent, so the tests on the real pretrained networks cannot run (CI has it)`;
export const SHARED_DATA_SKIP = `skipped: ${SHARED_DATA} is absent, so the tests on the real photographs cannot run (CI has it)`;
