import type { AnyTrainer } from '../../src/train/definition.js';
import type * as images from '../../src/train/training-images.js';

export declare function makeTintTrainer(deps: Pick<typeof images, 'listTrainingImages' | 'TrainingImages'>): AnyTrainer;
