import type { Image } from '../../core/image.js';
import { grad } from '../../engine/autodiff/grad.js';
import { Graph, type Tensor } from '../../engine/graph/graph.js';
import { gram, meanSquaredError, styleLoss, totalVariation } from '../../engine/losses/style-losses.js';
import { vgg19, type VggLayout, type VggTap } from '../../engine/nets/vgg19.js';
import { compile, type Runner, type TensorValue } from '../../engine/runtime.js';
import type { TensorMap } from '../../engine/weights/tensor.js';

/**
 * The Gatys objective as two compiled graphs with symbolic H/W (one session serves every pyramid
 * level and style size):
 * - targets: image → content features at the content layer and Gram matrices at the style layers;
 * - step: image + targets → weighted content, style and TV losses, their total and d(total)/d(image).
 * Loss weights are baked into the step graph (a new set of weights compiles a new session).
 */

export interface GatysObjectiveOptions {
  weights: TensorMap;
  layout: VggLayout;
  pooling: 'max' | 'avg';
  contentLayer: VggTap;
  styleLayers: VggTap[];
  /** One weight per style layer (already multiplied by the overall style weight). */
  styleLayerWeights: number[];
  contentWeight: number;
  tvWeight: number;
  threads: number;
}

export interface GatysTargets {
  content: TensorValue;
  grams: TensorValue[];
}

export interface GatysEvaluation {
  loss: number;
  grad: Float32Array;
  /** Weighted terms: content, style, tv and style.<layer>. */
  parts: Record<string, number>;
}

const imageValue = (img: Image): TensorValue => ({ data: img.data, shape: [1, img.channels, img.height, img.width] });

export class GatysObjective {
  private constructor(
    private readonly options: GatysObjectiveOptions,
    private readonly targetsRunner: Runner,
    private readonly stepRunner: Runner,
  ) {}

  static async create(options: GatysObjectiveOptions): Promise<GatysObjective> {
    const taps = [options.contentLayer, ...options.styleLayers];
    const t = new Graph();
    const tx = t.input('image', [1, 3, 'H', 'W']);
    const tf = vgg19(t, tx, options.weights, { layout: options.layout, taps, pooling: options.pooling });
    t.output('content', tf[options.contentLayer]!);
    options.styleLayers.forEach((layer, i) => t.output(`gram${i}`, gram(t, tf[layer]!)));

    const g = new Graph();
    const x = g.input('image', [1, 3, 'H', 'W']);
    const f = vgg19(g, x, options.weights, { layout: options.layout, taps, pooling: options.pooling });
    const contentTarget = g.input('content_target', [1, f[options.contentLayer]!.shape[1]!, 'h', 'w']);
    const terms: [string, Tensor][] = [];
    if (options.contentWeight > 0) {
      terms.push(['content', g.scale(meanSquaredError(g, f[options.contentLayer]!, contentTarget), options.contentWeight)]);
    }
    options.styleLayers.forEach((layer, i) => {
      const c = f[layer]!.shape[1] as number;
      const target = g.input(`gram_target${i}`, [1, c, c]);
      if (options.styleLayerWeights[i]! > 0) terms.push([`style.${layer}`, g.scale(styleLoss(g, f[layer]!, target), options.styleLayerWeights[i]!)]);
    });
    if (options.tvWeight > 0) terms.push(['tv', g.scale(totalVariation(g, x), options.tvWeight)]);
    let total = terms[0]![1];
    for (const [, term] of terms.slice(1)) total = g.add(total, term);
    for (const [name, term] of terms) g.output(name, term);
    g.output('loss', total);
    const [gx] = grad(g, total, [x]);
    g.output('grad', gx!);
    const [targetsRunner, stepRunner] = await Promise.all([
      compile(t, { threads: options.threads }),
      compile(g, { threads: options.threads }),
    ]);
    return new GatysObjective(options, targetsRunner, stepRunner);
  }

  /** Content features of `content`, and the style Grams blended by weight (Σ wₖ Gₖ minimises Σ wₖ‖G − Gₖ‖²). */
  async targets(content: Image, styles: { image: Image; weight: number }[]): Promise<GatysTargets> {
    const c = await this.targetsRunner.run({ image: imageValue(content) }, ['content']);
    const grams: TensorValue[] = [];
    for (const [k, s] of styles.entries()) {
      const out = await this.targetsRunner.run({ image: imageValue(s.image) }, this.options.styleLayers.map((_, i) => `gram${i}`));
      this.options.styleLayers.forEach((_, i) => {
        const gk = out[`gram${i}`]!;
        if (k === 0) grams[i] = { data: new Float32Array(gk.data.length), shape: gk.shape };
        const acc = grams[i]!.data as Float32Array;
        const src = gk.data as Float32Array;
        for (let j = 0; j < acc.length; j++) acc[j] = acc[j]! + s.weight * src[j]!;
      });
    }
    return { content: c.content!, grams };
  }

  async evaluate(image: Float32Array, width: number, height: number, targets: GatysTargets): Promise<GatysEvaluation> {
    const feeds: Record<string, TensorValue> = {
      image: { data: image, shape: [1, 3, height, width] },
      content_target: targets.content,
    };
    targets.grams.forEach((t, i) => (feeds[`gram_target${i}`] = t));
    const out = await this.stepRunner.run(feeds);
    const parts: Record<string, number> = {};
    let style = 0;
    for (const [name, v] of Object.entries(out)) {
      if (name === 'grad' || name === 'loss') continue;
      parts[name] = Number(v.data[0]);
      if (name.startsWith('style.')) style += parts[name]!;
    }
    parts.style = style;
    parts.content ??= 0;
    parts.tv ??= 0;
    return { loss: Number(out.loss!.data[0]), grad: out.grad!.data as Float32Array, parts };
  }
}
