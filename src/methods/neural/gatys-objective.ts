import type { Image } from '../../core/image.js';
import { grad } from '../../engine/autodiff/grad.js';
import { Graph, type Tensor } from '../../engine/graph/graph.js';
import { gram, meanSquaredError, styleLoss, totalVariation } from '../../engine/losses/style-losses.js';
import { vgg19, type VggLayout, type VggTap } from '../../engine/nets/vgg19.js';
import { compile, type Runner, type SessionOptions, type TensorValue } from '../../engine/runtime.js';
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
  /** ORT settings (see SessionOptions) for the step session. */
  memory?: 'fast' | 'lean';
  optimization?: 'all' | 'extended';
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

export interface TargetRequest {
  content: Image;
  styles: { image: Image; weight: number }[];
}

export class GatysObjective {
  private constructor(
    private readonly styleLayers: readonly VggTap[],
    private readonly stepRunner: Runner,
  ) {}

  /**
   * Compute the targets for every request (e.g. each pyramid level) in a session freed right after,
   * then compile the step graph: only one copy of the VGG weights is alive while optimising.
   */
  static async create(options: GatysObjectiveOptions, requests: TargetRequest[]): Promise<{ objective: GatysObjective; targets: GatysTargets[] }> {
    // Arena and memory pattern on, but ORT's blocked-layout (NCHWc) rewrite off: the step keeps
    // every VGG activation for the backward pass, and the layout's reorder copies of each were what
    // made the fast settings heavy. Measured on a quiet 2-core machine against PyTorch
    // (bench/engine.mjs --only gatys --configs all/lean,all/fast,extended/fast):
    //   512²: extended/fast 1.42× speed, 1.16× memory; all/fast 1.56×, 1.37×; all/lean 1.06×, 0.94×
    //   256²: extended/fast 1.28×, 1.16×;              all/fast 1.41×, 1.30×; all/lean 1.27×, 1.24×
    const session: SessionOptions = {
      threads: options.threads,
      memory: options.memory ?? 'fast',
      optimization: options.optimization ?? 'extended',
    };
    const taps = [options.contentLayer, ...options.styleLayers];
    const targets = await computeTargets(options, requests, session);
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
    const stepRunner = await compile(g, session);
    return { objective: new GatysObjective(options.styleLayers, stepRunner), targets };
  }

  async evaluate(image: Float32Array, width: number, height: number, targets: GatysTargets): Promise<GatysEvaluation> {
    const feeds: Record<string, TensorValue> = {
      image: { data: image, shape: [1, 3, height, width] },
      content_target: targets.content,
    };
    this.styleLayers.forEach((_, i) => (feeds[`gram_target${i}`] = targets.grams[i]!));
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

/** Content features and style Grams blended by weight (Σ wₖ Gₖ minimises Σ wₖ‖G − Gₖ‖² up to a constant). */
async function computeTargets(options: GatysObjectiveOptions, requests: TargetRequest[], session: SessionOptions): Promise<GatysTargets[]> {
  const t = new Graph();
  const tx = t.input('image', [1, 3, 'H', 'W']);
  const tf = vgg19(t, tx, options.weights, { layout: options.layout, taps: [options.contentLayer, ...options.styleLayers], pooling: options.pooling });
  t.output('content', tf[options.contentLayer]!);
  options.styleLayers.forEach((layer, i) => t.output(`gram${i}`, gram(t, tf[layer]!)));
  const runner = await compile(t, { ...session, cache: false });
  try {
    const gramNames = options.styleLayers.map((_, i) => `gram${i}`);
    const out: GatysTargets[] = [];
    for (const req of requests) {
      const c = await runner.run({ image: imageValue(req.content) });
      const grams: TensorValue[] = [];
      for (const [k, s] of req.styles.entries()) {
        const o = await runner.run({ image: imageValue(s.image) });
        gramNames.forEach((name, i) => {
          const gk = o[name]!;
          if (k === 0) grams[i] = { data: new Float32Array(gk.data.length), shape: gk.shape };
          const acc = grams[i]!.data as Float32Array;
          const src = gk.data as Float32Array;
          for (let j = 0; j < acc.length; j++) acc[j] = acc[j]! + s.weight * src[j]!;
        });
      }
      out.push({ content: c.content!, grams });
    }
    return out;
  } finally {
    await runner.release();
  }
}
