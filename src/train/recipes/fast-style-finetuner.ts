import { AtelierError } from '../../core/errors.js';
import { grad } from '../../engine/autodiff/grad.js';
import { Graph, type ParamHook, type Tensor } from '../../engine/graph/graph.js';
import { trainingHook, type TrainableSet } from '../../engine/lora/graph-adapter.js';
import { perceptualLoss, styleGramGraph, styleGramInput, tapChannels, type PerceptualTap, type PerceptualWeights } from '../../engine/losses/perceptual.js';
import { transformerNet, type JohnsonNetSpec } from '../../engine/nets/transformer-net.js';
import { Adam } from '../../engine/optim/adam.js';
import { ParameterSet, type ParameterShape } from '../../engine/optim/parameter-set.js';
import { compile, type Runner, type TensorValue } from '../../engine/runtime.js';
import type { TensorMap, WeightTensor } from '../../engine/weights/tensor.js';

/**
 * Fine-tuning a pretrained fast-style network (Johnson et al.'s architecture, any of the published
 * specs) toward a new style with the perceptual losses of Johnson et al. on the real normalised
 * VGG-19 to relu3_1: Gram style loss at relu1_1, relu2_1, relu3_1 against the style images' mean
 * Gram matrices, content loss at relu3_1 against the content photo, total variation. What trains
 * is a `TrainableSet`: LoRA pairs with the base frozen (`atelier train lora`), only some weights
 * (the instance norms' affine parameters), or all of them; the rest of the graph is the same, so
 * their steps and results compare like for like (bench/lora.mjs). The loss graph is the one every
 * perceptual recipe builds (`perceptualLoss`, `styleGramGraph` in engine/losses/perceptual.ts) with
 * these taps: content at relu3_1, Gram style at relu1_1, relu2_1 and relu3_1.
 *
 * Frozen weights are constants of the compiled graph: autodiff builds no gradient for them, and
 * backpropagation stops at the first trainable layer.
 */

export const STYLE_TAPS = ['relu1_1', 'relu2_1', 'relu3_1'] as const satisfies readonly PerceptualTap[];
export const CONTENT_TAP: PerceptualTap = 'relu3_1';


export interface FinetuneOptions {
  /** Side of the square content crops (a multiple of 4). */
  size: number;
  batch: number;
  weights: PerceptualWeights;
  learningRate: number;
  threads: number;
  set: TrainableSet;
}

export interface PerceptualLosses {
  content: number;
  style: number;
  tv: number;
  /** Weighted sum, as optimised. */
  total: number;
}

/** The VGG as constants of the graph (never trained). */
const freeze: ParamHook = (g, _name, shape, data) => g.constant(data, shape);

/** Mean Gram matrices (per style tap) of a set of style images at their own sizes: the style target. */
export async function styleTargets(vgg: TensorMap, images: { data: Float32Array; width: number; height: number }[], threads: number): Promise<Float32Array[]> {
  const g = new Graph();
  g.paramHook = freeze;
  styleGramGraph(g, g.input('image', [1, 3, 'H', 'W']), vgg, STYLE_TAPS);
  const runner = await compile(g, { threads, memory: 'lean', cache: false });
  const sums: Float32Array[] = [];
  try {
    for (const img of images) {
      const out = await runner.run({ image: { data: img.data, shape: [1, 3, img.height, img.width] } });
      STYLE_TAPS.forEach((tap, i) => {
        const v = out[styleGramInput(tap)]!.data as Float32Array;
        if (!sums[i]) sums[i] = new Float32Array(v.length);
        for (let k = 0; k < v.length; k++) sums[i]![k]! += v[k]! / images.length;
      });
    }
  } finally {
    await runner.release();
  }
  return sums;
}

interface Built {
  runner: Runner;
  /** Trained params, in the order the graph declared them. */
  trained: { name: string; shape: number[] }[];
}

export class FastStyleFinetuner {
  /** The trained tensors, back to back in `trained` order (`params`, `offsets`). */
  readonly parameters: ParameterSet<ParameterShape>;
  readonly params: Float32Array;
  readonly offsets: number[];
  private readonly adam: Adam;
  iteration = 0;

  private constructor(
    readonly base: TensorMap,
    readonly spec: JohnsonNetSpec,
    readonly options: FinetuneOptions,
    readonly trained: { name: string; shape: number[] }[],
    initial: Map<string, Float32Array>,
    private readonly trainRunner: Runner,
    private readonly evalRunner: Runner,
    private readonly grams: Float32Array[],
  ) {
    this.parameters = ParameterSet.of(trained, initial);
    this.params = this.parameters.data;
    this.offsets = this.parameters.offsets;
    this.adam = new Adam(this.params.length, { learningRate: options.learningRate });
  }

  /** Build the training and evaluation graphs for a base network, a VGG-19 (normalised, to relu3_1) and style Gram targets. */
  static async create(base: TensorMap, spec: JohnsonNetSpec, vgg: TensorMap, grams: Float32Array[], options: FinetuneOptions): Promise<FastStyleFinetuner> {
    const { size: S, batch: B } = options;
    if (S % 4 !== 0 || S < 16) throw new AtelierError('E_PARAM', 'The training crop size must be a multiple of 4, at least 16', { subject: 'size', received: String(S) });
    const build = (withGrad: boolean, batch: number): { g: Graph; trained: { name: string; shape: number[] }[]; initial: Map<string, Float32Array> } => {
      const g = new Graph();
      const { hook, trained } = trainingHook(options.set);
      g.paramHook = hook;
      const content = g.input('content', [batch, 3, S, S]);
      const stylised = g.scale(transformerNet(g, g.scale(content, 255), base, spec), 1 / 255);
      const params = options.set.kind === 'all' ? [...g.params] : g.params.filter((p) => trained.includes(p.name));
      // The loss graph every perceptual recipe shares (engine/losses/perceptual.ts), on a frozen VGG, the style targets as constants.
      g.paramHook = freeze;
      const targets = Object.fromEntries(STYLE_TAPS.map((tap, i) => [tap, g.constant(grams[i]!, [1, tapChannels(tap), tapChannels(tap)])])) as Partial<Record<PerceptualTap, Tensor>>;
      const terms = perceptualLoss(g, stylised, content, { vgg, contentTaps: [CONTENT_TAP], styleTaps: STYLE_TAPS, weights: options.weights }, targets);
      const total = terms.total;
      g.output('loss.content', terms.content);
      g.output('loss.style', terms.style);
      g.output('loss.tv', terms.tv);
      g.output('loss.total', total);
      if (withGrad) {
        const grads = grad(g, total, params);
        params.forEach((p, i) => g.output(`grad:${p.name}`, grads[i]!));
      }
      return { g, trained: params.map((p) => ({ name: p.name, shape: p.shape as number[] })), initial: new Map(params.map((p) => [p.name, g.data.get(p.id) as Float32Array])) };
    };
    const t = build(true, B);
    const e = build(false, 1);
    if (t.trained.length === 0) throw new AtelierError('E_PARAM', 'Nothing to train: no weight of the network is trainable with these settings', { subject: 'targets' });
    const opts = { threads: options.threads, paramsAsInputs: true, cache: false, optimization: 'extended' as const };
    const [trainRunner, evalRunner] = await Promise.all([compile(t.g, opts), compile(e.g, opts)]);
    return new FastStyleFinetuner(base, spec, options, t.trained, t.initial, trainRunner, evalRunner, grams);
  }

  /** Trainable parameter count. */
  get parameterCount(): number {
    return this.params.length;
  }

  /** The current value of a trained tensor (a view). */
  tensor(name: string): Float32Array {
    return this.parameters.get(name);
  }

  private feeds(content: Float32Array, batch: number): Record<string, TensorValue> {
    const S = this.options.size;
    return { content: { data: content, shape: [batch, 3, S, S] }, ...this.parameters.feeds() };
  }

  private static losses(out: Record<string, TensorValue>): PerceptualLosses {
    const v = (k: string) => (out[k]!.data as Float32Array)[0]!;
    return { content: v('loss.content'), style: v('loss.style'), tv: v('loss.tv'), total: v('loss.total') };
  }

  /**
   * One Adam step on a batch of content crops (planar RGB in [0, 1], batch × 3 × size × size).
   * A non-finite loss or gradient stops with E_NUMERIC before the weights change.
   */
  async step(content: Float32Array, learningRate = this.options.learningRate): Promise<PerceptualLosses & { gradientNorm: number }> {
    const out = await this.trainRunner.run(this.feeds(content, this.options.batch));
    const losses = FastStyleFinetuner.losses(out);
    const gradient = this.parameters.gatherGradients(out);
    let norm = 0;
    for (let i = 0; i < gradient.length; i++) norm += gradient[i]! * gradient[i]!;
    norm = Math.sqrt(norm);
    if (!Number.isFinite(losses.total) || !Number.isFinite(norm)) {
      throw new AtelierError('E_NUMERIC', `The loss became non-finite at iteration ${this.iteration} (total ${losses.total}, gradient norm ${norm})`, {
        hint: 'lower the learning rate (--lr); the last checkpoint holds the last finite weights',
      });
    }
    this.adam.step(this.params, gradient, learningRate);
    this.iteration++;
    return { ...losses, gradientNorm: norm };
  }

  /** The losses of the current weights on one content image (3 × size × size), no step. */
  async evaluate(content: Float32Array): Promise<PerceptualLosses> {
    return FastStyleFinetuner.losses(await this.evalRunner.run(this.feeds(content, 1)));
  }

  /** Adam's state, for checkpoints. */
  optimizerState(): { step: number; m: Float32Array; v: Float32Array } {
    return this.adam.state();
  }

  restoreOptimizer(state: { step: number; m: ArrayLike<number>; v: ArrayLike<number> }): void {
    this.adam.restore(state);
  }

  /** The trained tensors (views), for checkpoints and export. */
  trainedTensors(): WeightTensor[] {
    return this.parameters.tensors();
  }

  async release(): Promise<void> {
    await Promise.all([this.trainRunner.release(), this.evalRunner.release()]);
  }

  /** The gram target this finetuner was built with (per style tap). */
  get styleGrams(): Float32Array[] {
    return this.grams;
  }
}
