import { defineMetric } from './metric.js';
import { GRAM_LAYERS, meanSquaredDifference, vggExtractor, VGG_METRIC_MODEL } from './vgg-features.js';

/**
 * Gram (style) distance, the artistic-transfer measure of CAP-VSTNet (Wen et al. 2023) and WCT²
 * (Yoo et al. 2019): for each of relu1_1, relu2_1, relu3_1, relu4_1, relu5_1 of the normalised
 * VGG-19, the Gram matrix G = F·Fᵀ / (C·H·W) of the output and of the style (F: the C×HW feature
 * matrix), the mean squared difference over the C×C entries, and the sum over the five layers.
 * `parts` has each layer's term, so another normalisation can be derived from them.
 *
 * The network is the one of the demo the CAP-VSTNet authors posted in their issue #16
 * (github.com/linfengWen98/CAP-VSTNet/issues/16, the answer to #11/#13/#16/#25): the normalised
 * VGG-19 (1×1 conv0, reflection padding, max pooling), scored with an MSE of Gram matrices. The
 * stored copy of that comment available here is cut off before its Gram function, so the divisor
 * C·H·W is not verified against it: it is the usual one (Gatys et al.; PyTorch's tutorial) and the
 * one Atelier's engine uses everywhere (engine/losses/style-losses.ts). Should the demo divide
 * differently by a per-layer constant (e.g. H·W instead of C·H·W), each term in `parts` scales by that constant squared.
 */
export const gramDistance = defineMetric({
  id: 'gram',
  title: 'Gram (style) distance',
  summary: 'Style likeness: MSE between Gram matrices of output and style at VGG-19 relu1_1…relu5_1, summed',
  reference: 'Gatys et al. 2016 (CVPR); as reported by WCT² (Yoo et al. 2019) and CAP-VSTNet (Wen et al. 2023)',
  higherIsBetter: false,
  aspect: 'style',
  needs: ['style'],
  weights: [{ model: VGG_METRIC_MODEL, description: 'normalised VGG-19 (AdaIN/WCT/CAP-VSTNet encoder)' }],
  async compute({ output, style }, ctx) {
    const vgg = await vggExtractor(ctx, 'gram');
    const [a, b] = [await vgg.features(output), await vgg.features(style!)];
    const parts: Record<string, number> = {};
    let value = 0;
    GRAM_LAYERS.forEach((layer, i) => {
      const d = meanSquaredDifference(a.grams[i]!, b.grams[i]!);
      parts[layer] = d;
      value += d;
    });
    return { value, parts, ...(vgg.note && { notes: [vgg.note] }) };
  },
});
