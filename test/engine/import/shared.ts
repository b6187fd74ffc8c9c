import { SHARED_WEIGHTS, SHARED_WEIGHTS_SKIP, sharedWeightsPresent } from '../../helpers/shared-models.js';

/** The published weights beside the repository (see test/helpers/shared-models.ts); CI has them. */
export { SHARED_WEIGHTS };
export const sharedMissing = !sharedWeightsPresent;
if (sharedMissing) console.warn(SHARED_WEIGHTS_SKIP);
