import { AtelierError } from '../../core/errors.js';
import { Image } from '../../core/image.js';
import { grad } from '../../engine/autodiff/grad.js';
import { Graph, type Tensor } from '../../engine/graph/graph.js';
import {
  perceptualLoss,
  styleGramGraph,
  styleGramInput,
  tapChannels,
  type PerceptualTap,
  type PerceptualWeights,
} from '../../engine/losses/perceptual.js';
import { Adam } from '../../engine/optim/adam.js';
import { compile, type Runner, type TensorValue } from '../../engine/runtime.js';
import type { TensorMap, WeightTensor } from '../../engine/weights/tensor.js';
import { optimizerState, optimizerTensors, type PackedParameters } from '../checkpoint.js';

/**
 * Training a feed-forward stylisation network with perceptual losses (Johnson, Alahi & Fei-Fei
 * 2016; the same objective trains Dumoulin et al.'s conditional-norm rows): each step runs a
 * batch of content crops through the network, the stylised batch and the content batch through
 * the real VGG-19 (engine/losses/perceptual.ts), and takes an Adam step on the trainable
 * parameters only. The network is any graph builder (`network`), so the same trainer serves:
 *  - full training or fine-tuning of a fast network (`trainable: () => true`),
 *  - conditional-norm-only training (`trainable` picks the norm scales and shifts),
 *  - adapters (LoRA) added by the caller's builder as extra params, with the base frozen.
 * Frozen params are initializers of the compiled graph (never fed, folded by ORT); trainable ones
 * are graph inputs fed each step (`paramsAsInputs` as a predicate).
 *
 * Library API (used by `train fast`, `train multistyle-style` and the few-shot comparison):
 *   const grams = await computeStyleGrams(vgg, styleImages, { taps, size, threads });
 *   const t = await PerceptualTrainer.create({ network, trainable, vgg, styleGrams: grams, size, batch, … });
 *   await t.step(contentBatch, styleIndex);   // → losses, gradient norm
 *   t.parameters()                             // the trained tensors by name
 */

export interface StyleGrams {
  /** Where the Grams come from (a file name), for logs. */
  source: string;
  grams: Map<PerceptualTap, Float32Array>;
}

/**
 * The Gram targets of each style image at its given size (which sets the stroke scale the network
 * learns: scale the images first, e.g. with train/style-images.ts), from one compiled graph with
 * dynamic sides. Grey images are taken as RGB.
 */
export async function computeStyleGrams(
  vgg: TensorMap,
  styles: { image: Image; source: string }[],
  options: { taps: readonly PerceptualTap[]; threads: number },
): Promise<StyleGrams[]> {
  const g = new Graph();
  styleGramGraph(g, g.input('style', [1, 3, 'H', 'W']), vgg, options.taps);
  const runner = await compile(g, { threads: options.threads, memory: 'lean', cache: false });
  try {
    const out: StyleGrams[] = [];
    for (const { image, source } of styles) {
      const [w, h] = [image.width, image.height];
      let rgb = image;
      if (rgb.channels === 1) rgb = Image.fromPlanes(w, h, [rgb.plane(0), rgb.plane(0), rgb.plane(0)]);
      else if (rgb.channels !== 3) throw new AtelierError('E_PARAM', `A style image must be RGB or grey`, { subject: source, received: `${rgb.channels} channels` });
      const result = await runner.run({ style: { data: rgb.data, shape: [1, 3, h, w] } });
      out.push({ source, grams: new Map(options.taps.map((t) => [t, result[styleGramInput(t)]!.data as Float32Array])) });
    }
    return out;
  } finally {
    runner.release();
  }
}

export interface PerceptualTrainerOptions {
  /**
   * Builds the network in `g`: image N×3×S×S in [0, 1] → stylised image in [0, 1] (before any
   * clipping). Every weight it wants trained or frozen must be a `g.param`.
   */
  network: (g: Graph, image: Tensor) => Tensor;
  /** Which params (by name) are trained; the rest stay fixed. */
  trainable: (name: string) => boolean;
  vgg: TensorMap;
  /** One Gram set per style image; each step uses one (`step`'s styleIndex). */
  styleGrams: StyleGrams[];
  contentTaps: readonly PerceptualTap[];
  styleTaps: readonly PerceptualTap[];
  lossWeights: PerceptualWeights;
  /** Side of the square content crops. */
  size: number;
  batch: number;
  learningRate: number;
  threads: number;
  /** ORT memory setting for the training session (default 'fast'). */
  memory?: 'fast' | 'lean';
  /**
   * Graph inputs the network reads besides the content (created by `network` with `g.input`), one
   * value per style: the style image MicroAST encodes, the style vector Magenta's transfer network
   * takes. A step against style k feeds value k with style k's Grams.
   */
  conditions?: { name: string; shape: number[]; values: Float32Array[] }[];
}

export interface PerceptualLosses {
  content: number;
  style: number;
  tv: number;
  /** The weighted sum, as optimised. */
  total: number;
}

export interface PerceptualStepReport {
  losses: PerceptualLosses;
  gradientNorm: number;
}

export class PerceptualTrainer implements PackedParameters {
  readonly specs: { name: string; shape: number[] }[];
  readonly offsets: number[];
  /** The trainable parameters, back to back (Adam updates them in place). */
  readonly values: Float32Array;
  /** Every param of the network at its initial value (frozen ones keep it). */
  private readonly initial: Map<string, WeightTensor>;
  private readonly adam: Adam;
  iteration = 0;

  private constructor(
    readonly options: PerceptualTrainerOptions,
    private readonly runner: Runner,
    private readonly forward: Runner,
    graph: Graph,
    networkParams: Tensor[],
    trainable: Tensor[],
  ) {
    this.initial = new Map();
    for (const p of networkParams) {
      this.initial.set(p.name, { name: p.name, shape: [...(p.shape as number[])], data: graph.data.get(p.id) as Float32Array });
    }
    this.specs = trainable.map((p) => ({ name: p.name, shape: [...(p.shape as number[])] }));
    this.offsets = [];
    let total = 0;
    for (const s of this.specs) {
      this.offsets.push(total);
      total += s.shape.reduce((a, b) => a * b, 1);
    }
    this.values = new Float32Array(total);
    this.specs.forEach((s, i) => this.values.set(this.initial.get(s.name)!.data, this.offsets[i]!));
    this.adam = new Adam(total, { learningRate: options.learningRate });
  }

  static async create(options: PerceptualTrainerOptions): Promise<PerceptualTrainer> {
    const { size: S, batch: B } = options;
    if (S % 4 !== 0 || S < 16) throw new AtelierError('E_PARAM', 'The training crop size must be a multiple of 4, at least 16', { subject: 'size', received: String(S) });
    if (options.styleGrams.length === 0) throw new AtelierError('E_INPUT_MISSING', 'Training needs at least one style image', { subject: 'style' });
    for (const c of options.conditions ?? []) {
      if (c.values.length !== options.styleGrams.length) throw new AtelierError('E_INTERNAL', `${c.values.length} values of ${c.name} for ${options.styleGrams.length} styles`);
    }
    const g = new Graph();
    const content = g.input('content', [B, 3, S, S]);
    const stylised = options.network(g, content);
    const networkParams = [...g.params];
    const trainable = networkParams.filter((p) => options.trainable(p.name));
    if (trainable.length === 0) throw new AtelierError('E_PARAM', 'Nothing to train: no parameter of the network matches the trainable set', { hint: 'check the network and the trainable selection' });
    // The VGG's params (named by their file keys, '0.weight', …) come after the network's: never trained.
    const terms = perceptualLoss(g, stylised, content, { vgg: options.vgg, contentTaps: options.contentTaps, styleTaps: options.styleTaps, weights: options.lossWeights });
    g.output('loss.content', terms.content);
    g.output('loss.style', terms.style);
    g.output('loss.tv', terms.tv);
    g.output('loss.total', terms.total);
    const grads = grad(g, terms.total, trainable);
    trainable.forEach((p, i) => g.output(`grad:${p.name}`, grads[i]!));
    const names = new Set(trainable.map((p) => p.name));
    const common = { threads: options.threads, paramsAsInputs: (name: string) => names.has(name) };
    const [runner, forward] = await Promise.all([
      compile(g, { ...common, memory: options.memory ?? 'fast', optimization: 'extended', cache: false }),
      compile(g, { ...common, outputs: ['loss.content', 'loss.style', 'loss.tv', 'loss.total'], memory: 'lean', cache: false }),
    ]);
    return new PerceptualTrainer(options, runner, forward, g, networkParams, trainable);
  }

  /** Trainable parameter count. */
  get trainableCount(): number {
    return this.values.length;
  }

  private feeds(content: Float32Array, styleIndex: number): Record<string, TensorValue> {
    const { size: S, batch: B } = this.options;
    if (content.length !== B * 3 * S * S) {
      throw new AtelierError('E_INTERNAL', 'A content batch of the wrong size', { expected: `${B * 3 * S * S} values`, received: String(content.length) });
    }
    const grams = this.options.styleGrams[styleIndex];
    if (!grams) throw new AtelierError('E_INTERNAL', `No style ${styleIndex}`);
    const feeds: Record<string, TensorValue> = { content: { data: content, shape: [B, 3, S, S] } };
    for (const t of this.options.styleTaps) feeds[styleGramInput(t)] = { data: grams.grams.get(t)!, shape: [1, tapChannels(t), tapChannels(t)] };
    for (const c of this.options.conditions ?? []) feeds[c.name] = { data: c.values[styleIndex]!, shape: c.shape };
    this.specs.forEach((s, i) => {
      const n = s.shape.reduce((a, b) => a * b, 1);
      feeds[s.name] = { data: this.values.subarray(this.offsets[i]!, this.offsets[i]! + n), shape: s.shape };
    });
    return feeds;
  }

  private static losses(out: Record<string, TensorValue>): PerceptualLosses {
    const v = (k: string) => (out[k]!.data as Float32Array)[0]!;
    return { content: v('loss.content'), style: v('loss.style'), tv: v('loss.tv'), total: v('loss.total') };
  }

  /** The losses at the current parameters on a batch, without a step. */
  async evaluate(content: Float32Array, styleIndex = 0): Promise<PerceptualLosses> {
    return PerceptualTrainer.losses(await this.forward.run(this.feeds(content, styleIndex)));
  }

  /** Losses and the gradient of the total with respect to the trainable parameters, flat. */
  async gradient(content: Float32Array, styleIndex = 0): Promise<{ losses: PerceptualLosses; gradient: Float32Array }> {
    const out = await this.runner.run(this.feeds(content, styleIndex));
    const gradient = new Float32Array(this.values.length);
    this.specs.forEach((s, i) => gradient.set(out[`grad:${s.name}`]!.data as Float32Array, this.offsets[i]!));
    return { losses: PerceptualTrainer.losses(out), gradient };
  }

  /**
   * One Adam step on a content batch (B × 3 × S × S in [0, 1]) against style `styleIndex`. A loss
   * or gradient that is not finite stops training before the parameters change (E_NUMERIC): the
   * parameters stay those of the last good step.
   */
  async step(content: Float32Array, styleIndex = 0): Promise<PerceptualStepReport> {
    const { losses, gradient } = await this.gradient(content, styleIndex);
    let norm = 0;
    for (let i = 0; i < gradient.length; i++) norm += gradient[i]! * gradient[i]!;
    norm = Math.sqrt(norm);
    if (!Number.isFinite(losses.total) || !Number.isFinite(norm)) {
      throw new AtelierError('E_NUMERIC', `the ${Number.isFinite(losses.total) ? 'gradient' : 'loss'} became ${Number.isFinite(losses.total) ? 'non-finite' : String(losses.total)} (parameters not updated)`, {
        received: `loss ${losses.total}, gradient norm ${norm}`,
        hint: 'the learning rate is probably too high; lower it (e.g. by 10×) and resume from the last checkpoint',
      });
    }
    this.adam.step(this.values, gradient);
    this.iteration++;
    return { losses, gradientNorm: norm };
  }

  /** Every network parameter (trained ones at their current values, frozen ones as given), by name. */
  parameters(): TensorMap {
    const out: TensorMap = new Map();
    for (const [name, t] of this.initial) out.set(name, t);
    this.specs.forEach((s, i) => {
      const n = s.shape.reduce((a, b) => a * b, 1);
      out.set(s.name, { name: s.name, shape: s.shape, data: this.values.slice(this.offsets[i]!, this.offsets[i]! + n) });
    });
    return out;
  }

  /** The trainable parameters only (copies), by name. */
  trained(): WeightTensor[] {
    return this.specs.map((s, i) => {
      const n = s.shape.reduce((a, b) => a * b, 1);
      return { name: s.name, shape: s.shape, data: this.values.slice(this.offsets[i]!, this.offsets[i]! + n) };
    });
  }

  /** Trainable parameters and Adam's moments, for a training checkpoint. */
  checkpoint(): { tensors: WeightTensor[]; metadata: Record<string, string> } {
    const { m, v, step } = this.adam.state();
    return { tensors: [...this.trained(), ...optimizerTensors(this, { m, v })], metadata: { adamStep: String(step) } };
  }

  /** Load a `checkpoint()` (refused when a trainable tensor is missing or mis-shaped). */
  restore(tensors: TensorMap, metadata: Record<string, string>, iteration: number, file: string): void {
    this.specs.forEach((s, i) => {
      const t = tensors.get(s.name);
      const n = s.shape.reduce((a, b) => a * b, 1);
      if (!t || t.data.length !== n) {
        throw new AtelierError('E_WEIGHTS_INVALID', `The training checkpoint does not fit this network: ${s.name}`, {
          subject: file,
          expected: `[${s.shape.join(', ')}]`,
          received: t ? `[${t.shape.join(', ')}]` : 'missing',
          hint: 'resume with the same --width, --from and trainable set as the run that wrote it',
        });
      }
      this.values.set(t.data, this.offsets[i]!);
    });
    this.adam.restore({ step: Number(metadata.adamStep ?? iteration), ...optimizerState(this, tensors, this.values.length, file) });
    this.iteration = iteration;
  }

  /** Free the ORT sessions. */
  release(): void {
    this.runner.release();
    this.forward.release();
  }
}
