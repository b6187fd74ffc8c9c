import { z } from 'zod';

/**
 * A training recipe small enough for server and studio tests (milliseconds a step, no engine):
 * learn one RGB colour, the mean of the style images, by plain gradient descent on the squared
 * distance to random crops of them. It reads its images from folders like a real recipe, writes a
 * real checkpoint, and diverges honestly (to Infinity, then NaN) when the learning rate is above 1.
 * `msPerStep` stretches each step so a cancel or a restart can land mid-training.
 *
 * Plain JavaScript, given the training-image module: TypeScript tests pass the sources
 * (src/train/training-images.ts), the process launcher tint-atelier.mjs passes the compiled dist.
 */
export function makeTintTrainer({ listTrainingImages, TrainingImages }) {
  return {
    id: 'test-tint',
    title: 'Tint (test)',
    summary: 'learns the mean colour of the style images (tests only)',
    params: z.object({
      style: z.string().min(1).describe('Style images'),
      content: z.string().min(1).describe('Photos (read, to check the photo set arrives)'),
      lr: z.number().positive().default(0.2).describe('Step size of gradient descent'),
      crop: z.number().int().min(2).default(8).describe('Side of the random crops'),
      msPerStep: z.number().int().min(0).default(0).describe('Extra time per step'),
    }),
    studio: {
      images: {
        style: { role: 'style', min: 1, max: 20, description: 'The colours to learn' },
        content: { role: 'content', min: 0, max: 20, description: 'Photos' },
      },
      basic: ['lr'],
      defaults: { crop: 4 },
      iterations: 20,
    },
    async open(_ctx, p) {
      const styles = await TrainingImages.load(listTrainingImages(p.style, 'style', 'artistic'), p.crop);
      const contents = listTrainingImages(p.content, 'content', 'photoreal');
      const tint = new Float32Array(3);
      let iteration = 0;
      return {
        get iteration() {
          return iteration;
        },
        checkpointFormat: 'atelier-test-tint-1',
        curves: [{ key: 'loss', label: 'squared distance' }],
        curveTitle: 'tint',
        summary: { contents: contents.length, styles: styles.files.length },
        async step(rng) {
          if (p.msPerStep > 0) await new Promise((r) => setTimeout(r, p.msPerStep));
          const crop = styles.sample(rng, p.crop);
          const n = p.crop * p.crop;
          let loss = 0;
          for (let c = 0; c < 3; c++) {
            let mean = 0;
            for (let i = 0; i < n; i++) mean += crop[c * n + i] / n;
            const d = tint[c] - mean;
            loss += d * d;
            tint[c] = tint[c] - p.lr * 2 * d;
          }
          iteration++;
          return { values: { loss } };
        },
        async validate() {
          return undefined;
        },
        checkpoint: () => ({ tensors: [{ name: 'tint', shape: [3], data: tint.slice() }], metadata: {} }),
        restore(tensors, _metadata, at) {
          tint.set(tensors.get('tint').data);
          iteration = at;
        },
        exportWeights: () => ({ fileName: 'tint.safetensors', tensors: [{ name: 'tint', shape: [3], data: tint.slice() }], metadata: { iterations: String(iteration) } }),
      };
    },
  };
}
