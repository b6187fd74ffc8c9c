import { listTrainingImages, TrainingImages } from '../../src/train/training-images.js';
import { makeTintTrainer } from './tint-trainer.mjs';

/** The tint test recipe (tint-trainer.mjs) on the training-image sources. */
export const tintTrainer = makeTintTrainer({ listTrainingImages, TrainingImages });
