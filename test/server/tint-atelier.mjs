/**
 * The compiled server as `atelier serve` runs it, plus the tint test recipe (jobs run in this
 * process, where the recipe is registered), for tests that kill a server mid-training. Prints the
 * same first line as the real command.
 *   node test/server/tint-atelier.mjs DATA_DIR PHOTOS_DIR
 */
import { buildServer } from '../../dist/server/app.js';
import { registerTrainer } from '../../dist/train/index.js';
import { listTrainingImages, TrainingImages } from '../../dist/train/training-images.js';
import { makeTintTrainer } from '../helpers/tint-trainer.mjs';

const [dataDir, photos] = process.argv.slice(2);
registerTrainer(makeTintTrainer({ listTrainingImages, TrainingImages }));
const app = await buildServer({ dataDir, concurrency: 1, studio: false, execution: 'inline', trainingPhotos: photos });
await app.listen({ port: 0, host: '127.0.0.1' });
process.stdout.write(`listening on http://127.0.0.1:${app.server.address().port}\n`);
