import { existsSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

/**
 * The published weights beside the repository (`../shared/weights`, see its README). CI has them;
 * where they are absent the tests that need them skip and say so.
 */
export const SHARED_WEIGHTS = process.env.ATELIER_SHARED_WEIGHTS ?? path.resolve(fileURLToPath(new URL('../../../../shared/weights', import.meta.url)));
export const sharedMissing = !existsSync(path.join(SHARED_WEIGHTS, 'README.md'));
if (sharedMissing) console.warn(`skipping tests on the published weights: ${SHARED_WEIGHTS} is absent`);
