import { AtelierError } from '../core/errors.js';
import { defineMetric } from './metric.js';
import { CONTENT_LAYER, meanSquaredDifference, vggExtractor, VGG_METRIC_MODEL } from './vgg-features.js';

/**
 * Content loss: the mean squared difference of the conv4_2 features of the normalised VGG-19
 * between output and content (Gatys et al. 2016's content representation). The content is scored
 * at the output's size. See vgg-features.ts for weights and image size.
 */
export const contentLoss = defineMetric({
  id: 'content-loss',
  title: 'Content loss (VGG conv4_2)',
  summary: 'Content fidelity in feature space: MSE of VGG-19 conv4_2 features of output and content; 0 is identical',
  reference: 'Gatys, Ecker, Bethge 2016 (CVPR)',
  higherIsBetter: false,
  aspect: 'content',
  needs: ['content'],
  weights: [{ model: VGG_METRIC_MODEL, description: 'normalised VGG-19 (AdaIN/WCT/CAP-VSTNet encoder)' }],
  async compute({ output, content }, ctx) {
    const vgg = await vggExtractor(ctx, 'content-loss');
    const [a, b] = [await vgg.features(output), await vgg.features(content!)];
    if (a.content.data.length !== b.content.data.length) {
      throw new AtelierError('E_INTERNAL', 'content-loss needs the content at the output size');
    }
    const value = meanSquaredDifference(a.content.data, b.content.data);
    return { value, parts: { [CONTENT_LAYER]: value }, ...(vgg.note && { notes: [vgg.note] }) };
  },
});
