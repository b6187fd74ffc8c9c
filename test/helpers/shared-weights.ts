import { existsSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

/**
 * `../shared/weights` beside the repository (CI has it; a bare checkout may not): the published
 * model files, read-only. Tests on real weights skip with `SHARED_WEIGHTS_SKIP` when absent.
 */
const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const dir = path.resolve(root, '../shared/weights');
export const SHARED_WEIGHTS: string | undefined = existsSync(path.join(dir, 'FILES.tsv')) ? dir : undefined;
export const SHARED_WEIGHTS_SKIP = `../shared/weights is absent (looked in ${dir}): the tests on the published weights are skipped`;

