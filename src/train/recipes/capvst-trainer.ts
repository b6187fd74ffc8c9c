import { AtelierError } from '../../core/errors.js';
import { grad } from '../../engine/autodiff/grad.js';
import { cwctTransform, featureMoments, type AffineTransform, type FeatureMap } from '../../engine/features/cwct.js';
import { Graph, type Tensor } from '../../engine/graph/graph.js';
import { laplacianTimes, type MattingLaplacian } from '../../engine/losses/matting-laplacian.js';
import { Adam } from '../../engine/optim/adam.js';
import { compile, type Runner, type TensorValue } from '../../engine/runtime.js';
import type { TensorMap, WeightTensor } from '../../engine/weights/tensor.js';
import { vgg19, type VggTap } from '../../engine/nets/vgg19.js';
import { parameterSpecs, type CapVstMode, type ParameterSpec, type RevNetLayout } from '../../engine/nets/capvst/architecture.js';
import { weightsForLayout, type CapVstWeights } from '../../engine/nets/capvst/state-dict.js';
import { RevNetGraph } from '../../engine/nets/capvst/revnet.js';
import { optimizerState, optimizerTensors, readCheckpoint, writeCheckpoint } from '../checkpoint.js';

/**
 * Training CAP-VSTNet as the authors' train.py does (facts in architecture.ts): per step, content
 * c and style s go through the network; cWCT gives the stylised features; the inverse network
 * gives the stylised image x_cs. Losses:
 * - style: Σ over relu1_1…relu4_1 of the normalised VGG-19 of MSE(mean) + MSE(std) between x_cs
 *   and s (std = √(unbiased variance + 1e-5)), weight 1;
 * - cycle reconstruction: L1 between c and inverse(cWCT(forward(x_cs), forward(c))), weight 10
 *   (artistic 1);
 * - Matting Laplacian of c applied to x_cs, weight 1500 (artistic 1), entered as the published
 *   code does: its gradient 2·L·x_cs/(H·W), times the weight, clamped to ±0.05, added to x_cs's
 *   gradient (here through the surrogate term Σ x_cs ⊙ G with G fixed);
 * then the gradient norm is clipped to 5 and Adam steps with lr / (1 + 5e-5 · iteration).
 *
 * One deviation, stated plainly: the cWCT statistics (means and Cholesky factors of both
 * covariances) are computed in float64 outside the graph from the current features and enter
 * the graph as constants, so gradients flow through the whitening/colouring map applied to the
 * content features but not through the statistics themselves (the published code also
 * differentiates through torch.linalg.cholesky). The engine has no Cholesky op; this keeps the
 * transform exact and the training always finite (no skipped batches).
 */

export interface CapVstLossWeights {
  style: number;
  reconstruction: number;
  laplacian: number;
}

export const PUBLISHED_LOSS_WEIGHTS: Record<CapVstMode, CapVstLossWeights> = {
  photoreal: { style: 1, reconstruction: 10, laplacian: 1500 },
  artistic: { style: 1, reconstruction: 1, laplacian: 1 },
};

export const STYLE_TAPS: VggTap[] = ['relu1_1', 'relu2_1', 'relu3_1', 'relu4_1'];

export interface CapVstTrainerOptions {
  /** Side of the square training crops (a multiple of 4). */
  size: number;
  lossWeights: CapVstLossWeights;
  learningRate?: number;
  learningRateDecay?: number;
  gradientClip?: number;
  laplacianClamp?: number;
  threads: number;
  /** VGG layers of the style loss (default the published relu1_1…relu4_1; relu1_1…relu3_1 on the VGG-19 to relu3_1). */
  styleTaps?: VggTap[];
}

export interface TrainingSample {
  /** Planar RGB crops, 3 × size × size, values in [0, 1]. */
  content: Float32Array;
  style: Float32Array;
  /** Matting Laplacian of the content crop. */
  laplacian: MattingLaplacian;
}

export interface LossBreakdown {
  style: number;
  reconstruction: number;
  laplacian: number;
  /** Weighted sum, as optimised. */
  total: number;
}

export interface StepReport {
  iteration: number;
  losses: LossBreakdown;
  gradientNorm: number;
  learningRate: number;
}

export interface PreparedStep {
  feeds: Record<string, TensorValue>;
  laplacianLoss: number;
}

const CHECKPOINT_FORMAT = 'atelier-capvst-training-1';

/** y = A·(z − centre) + target on a [1, N, h, w] map, with A, centre, target graph inputs. */
function affineNode(g: Graph, z: Tensor, prefix: string): Tensor {
  const [b, n, h, w] = z.shape as number[];
  const a = g.input(`${prefix}.matrix`, [n!, n!]);
  const centre = g.input(`${prefix}.centre`, [1, n!, 1, 1]);
  const target = g.input(`${prefix}.target`, [1, n!, 1, 1]);
  const flat = g.reshape(g.sub(z, centre), [n!, h! * w!]);
  return g.add(g.reshape(g.matmul(a, flat), [b!, n!, h!, w!]), target);
}

function affineFeeds(prefix: string, t: AffineTransform): Record<string, TensorValue> {
  const n = t.channels;
  return {
    [`${prefix}.matrix`]: { data: Float32Array.from(t.matrix), shape: [n, n] },
    [`${prefix}.centre`]: { data: Float32Array.from(t.centre), shape: [1, n, 1, 1] },
    [`${prefix}.target`]: { data: Float32Array.from(t.target), shape: [1, n, 1, 1] },
  };
}

/** Per-channel mean and std (√(unbiased variance + 1e-5)) over H, W, as [1, C, 1, 1]. */
function meanStd(g: Graph, f: Tensor): [Tensor, Tensor] {
  const [, , h, w] = f.shape as number[];
  const mean = g.reduceMean(f, [2, 3], true);
  const d = g.sub(f, mean);
  const variance = g.scale(g.reduceSum(g.mul(d, d), [2, 3], true), 1 / (h! * w! - 1));
  return [mean, g.sqrt(g.add(variance, g.scalar(1e-5)))];
}

const mse = (g: Graph, a: Tensor, b: Tensor) => g.meanAll(g.square(g.sub(a, b)));

export class CapVstTrainer {
  readonly specs: ParameterSpec[];
  readonly layout: RevNetLayout;
  readonly mode: CapVstMode;
  /** All network parameters, flat, in state-dict order. */
  readonly params: Float32Array;
  private readonly offsets: number[];
  private readonly adam: Adam;
  iteration = 0;

  private constructor(
    initial: CapVstWeights,
    private readonly vgg: TensorMap,
    readonly options: CapVstTrainerOptions,
    private readonly encodeRunner: Runner,
    private readonly probeRunner: Runner,
    private readonly trainRunner: Runner,
  ) {
    this.layout = initial.layout;
    this.mode = initial.layout.config.mode;
    this.specs = parameterSpecs(initial.layout);
    this.offsets = [];
    let total = 0;
    for (const s of this.specs) {
      this.offsets.push(total);
      total += s.shape.reduce((a, b) => a * b, 1);
    }
    this.params = new Float32Array(total);
    this.specs.forEach((s, i) => this.params.set(initial.tensors.get(s.name)!, this.offsets[i]!));
    this.adam = new Adam(total, { learningRate: options.learningRate ?? 1e-4 });
  }

  static async create(initial: CapVstWeights, vgg: TensorMap, options: CapVstTrainerOptions): Promise<CapVstTrainer> {
    const S = options.size;
    if (S % 4 !== 0 || S < 16) throw new AtelierError('E_PARAM', 'The training crop size must be a multiple of 4, at least 16', { received: String(S) });
    const n = initial.layout.featureChannels;
    const fs = initial.layout.featureStride;
    const zShape = [1, n, S / fs, S / fs];

    // Encode: z_c, z_s (for the first cWCT's statistics).
    const ge = new Graph();
    const ne = new RevNetGraph(ge, initial);
    ge.output('zc', ne.forward(ge.input('content', [1, 3, S, S])));
    ge.output('zs', ne.forward(ge.input('style', [1, 3, S, S])));

    // Probe: the stylised image and its features (for the Laplacian and the second cWCT).
    const gp = new Graph();
    const np = new RevNetGraph(gp, initial);
    const stylisedP = np.inverse(affineNode(gp, gp.input('zc', zShape), 'cwct1'));
    gp.output('stylised', stylisedP);
    gp.output('zcs', np.forward(stylisedP));

    // Train: all losses and their gradients with respect to the network's parameters.
    const g = new Graph();
    const net = new RevNetGraph(g, initial);
    const content = g.input('content', [1, 3, S, S]);
    const style = g.input('style', [1, 3, S, S]);
    const zc = net.forward(content);
    const stylised = net.inverse(affineNode(g, zc, 'cwct1'));
    // One VGG pass over the batch [stylised, style]: a graph holds each weight once.
    const styleTaps = options.styleTaps ?? STYLE_TAPS;
    const features = vgg19(g, g.concat([stylised, style], 0), vgg, { layout: 'normalised', taps: styleTaps });
    let styleLoss: Tensor | undefined;
    for (const tap of styleTaps) {
      const [mo, so] = meanStd(g, g.slice(features[tap]!, [0], [0], [1]));
      const [ms, ss] = meanStd(g, g.slice(features[tap]!, [0], [1], [2]));
      const term = g.add(mse(g, mo, ms), mse(g, so, ss));
      styleLoss = styleLoss ? g.add(styleLoss, term) : term;
    }
    const rec = net.inverse(affineNode(g, net.forward(stylised), 'cwct2'));
    const recLoss = g.meanAll(g.abs(g.sub(rec, content)));
    const lapGrad = g.input('laplacianGrad', [1, 3, S, S]);
    const w = options.lossWeights;
    const total = g.add(g.add(g.scale(styleLoss!, w.style), g.scale(recLoss, w.reconstruction)), g.sumAll(g.mul(stylised, lapGrad)));
    g.output('loss.style', styleLoss!);
    g.output('loss.reconstruction', recLoss);
    const grads = grad(g, total, net.paramTensors);
    net.paramTensors.forEach((p, i) => g.output(`grad:${p.name}`, grads[i]!));

    const opts = { threads: options.threads, paramsAsInputs: true };
    const [encodeRunner, probeRunner, trainRunner] = await Promise.all([compile(ge, opts), compile(gp, opts), compile(g, opts)]);
    return new CapVstTrainer(initial, vgg, options, encodeRunner, probeRunner, trainRunner);
  }

  private paramFeeds(): Record<string, TensorValue> {
    const feeds: Record<string, TensorValue> = {};
    this.specs.forEach((s, i) => {
      const size = s.shape.reduce((a, b) => a * b, 1);
      feeds[s.name] = { data: this.params.slice(this.offsets[i]!, this.offsets[i]! + size), shape: s.shape };
    });
    for (const t of this.vgg.values()) feeds[t.name] = { data: t.data, shape: t.shape };
    return feeds;
  }

  get learningRate(): number {
    return (this.options.learningRate ?? 1e-4) / (1 + (this.options.learningRateDecay ?? 5e-5) * this.iteration);
  }

  /**
   * Everything a step holds fixed, from the current parameters: the two cWCT maps, the clamped
   * Matting Laplacian gradient on the stylised image, and the Laplacian loss itself.
   */
  async prepare(sample: TrainingSample): Promise<PreparedStep> {
    const S = this.options.size;
    const image = (data: Float32Array): TensorValue => ({ data, shape: [1, 3, S, S] });
    const params = this.paramFeeds();
    const asMap = (v: TensorValue): FeatureMap => ({ channels: v.shape[1]!, pixels: v.shape[2]! * v.shape[3]!, data: v.data as Float32Array });
    const enc = await this.encodeRunner.run({ ...params, content: image(sample.content), style: image(sample.style) });
    const zc = asMap(enc.zc!);
    const t1 = cwctTransform(featureMoments(zc), [{ moments: featureMoments(asMap(enc.zs!)), weight: 1 }]);
    const probe = await this.probeRunner.run({ ...params, zc: enc.zc!, ...affineFeeds('cwct1', t1) });
    const t2 = cwctTransform(featureMoments(asMap(probe.zcs!)), [{ moments: featureMoments(zc), weight: 1 }]);

    const stylised = probe.stylised!.data as Float32Array;
    const pixels = S * S;
    const lapGrad = new Float32Array(3 * pixels);
    const lv = new Float64Array(pixels);
    const weight = this.options.lossWeights.laplacian;
    const clamp = this.options.laplacianClamp ?? 0.05;
    let laplacianLoss = 0;
    for (let c = 0; c < 3; c++) {
      const v = stylised.subarray(c * pixels, (c + 1) * pixels);
      laplacianTimes(sample.laplacian, v, lv);
      for (let i = 0; i < pixels; i++) {
        laplacianLoss += v[i]! * lv[i]!;
        lapGrad[c * pixels + i] = Math.max(-clamp, Math.min(clamp, (weight * 2 * lv[i]!) / pixels));
      }
    }
    return {
      feeds: {
        content: image(sample.content),
        style: image(sample.style),
        laplacianGrad: image(lapGrad),
        ...affineFeeds('cwct1', t1),
        ...affineFeeds('cwct2', t2),
      },
      laplacianLoss: laplacianLoss / pixels,
    };
  }

  /** Style and reconstruction losses and the gradient of the step's objective at the current parameters. */
  async gradients(prepared: PreparedStep): Promise<{ style: number; reconstruction: number; gradient: Float32Array }> {
    const out = await this.trainRunner.run({ ...this.paramFeeds(), ...prepared.feeds });
    const gradient = new Float32Array(this.params.length);
    this.specs.forEach((s, i) => gradient.set(out[`grad:${s.name}`]!.data as Float32Array, this.offsets[i]!));
    return {
      style: (out['loss.style']!.data as Float32Array)[0]!,
      reconstruction: (out['loss.reconstruction']!.data as Float32Array)[0]!,
      gradient,
    };
  }

  /** The losses at the current parameters, without a step (for fixed validation samples). */
  async evaluate(sample: TrainingSample): Promise<LossBreakdown> {
    const prepared = await this.prepare(sample);
    const { style, reconstruction } = await this.gradients(prepared);
    const w = this.options.lossWeights;
    const laplacian = prepared.laplacianLoss;
    return { style, reconstruction, laplacian, total: w.style * style + w.reconstruction * reconstruction + w.laplacian * laplacian };
  }

  /** Replace the network parameters (e.g. to evaluate another checkpoint with the same graphs). */
  setWeights(weights: CapVstWeights): void {
    this.specs.forEach((s, i) => this.params.set(weights.tensors.get(s.name)!, this.offsets[i]!));
  }

  /** One training iteration: prepare, gradients, clip the gradient norm, Adam. */
  async step(sample: TrainingSample): Promise<StepReport> {
    const prepared = await this.prepare(sample);
    const { style, reconstruction, gradient } = await this.gradients(prepared);
    let norm = 0;
    for (let i = 0; i < gradient.length; i++) norm += gradient[i]! * gradient[i]!;
    norm = Math.sqrt(norm);
    if (!Number.isFinite(norm)) throw new AtelierError('E_NUMERIC', `Training produced a non-finite gradient at iteration ${this.iteration}`);
    const clip = this.options.gradientClip ?? 5;
    if (norm > clip) for (let i = 0; i < gradient.length; i++) gradient[i]! *= clip / (norm + 1e-6);
    const learningRate = this.learningRate;
    this.adam.step(this.params, gradient, learningRate);
    const w = this.options.lossWeights;
    const laplacian = prepared.laplacianLoss;
    const report: StepReport = {
      iteration: this.iteration,
      losses: { style, reconstruction, laplacian, total: w.style * style + w.reconstruction * reconstruction + w.laplacian * laplacian },
      gradientNorm: norm,
      learningRate,
    };
    this.iteration++;
    return report;
  }

  /** The current network weights (copies), e.g. for inference or export. */
  weights(): CapVstWeights {
    const tensors: TensorMap = new Map();
    this.specs.forEach((s, i) => {
      const size = s.shape.reduce((a, b) => a * b, 1);
      tensors.set(s.name, { name: s.name, shape: s.shape, data: this.params.slice(this.offsets[i]!, this.offsets[i]! + size) });
    });
    return weightsForLayout(tensors, this.layout, 'training');
  }

  /** Checkpoint format tag (safetensors metadata `format`). */
  static readonly checkpointFormat = CHECKPOINT_FORMAT;

  /**
   * What a resume needs: the weights under the published state-dict names (loadable by
   * `--weights FILE`) and the Adam moments (`optimizer.m.*`, `optimizer.v.*`), with the mode,
   * Adam's step and the crop size as metadata (train/checkpoint.ts adds format and iteration).
   */
  checkpoint(): { tensors: WeightTensor[]; metadata: Record<string, string> } {
    const tensors: WeightTensor[] = [];
    this.specs.forEach((s, i) => {
      const size = s.shape.reduce((a, b) => a * b, 1);
      tensors.push({ name: s.name, shape: s.shape, data: this.params.subarray(this.offsets[i]!, this.offsets[i]! + size) });
    });
    const { m, v, step } = this.adam.state();
    tensors.push(...optimizerTensors(this.packed, { m, v }));
    return { tensors, metadata: { mode: this.mode, adamStep: String(step), size: String(this.options.size) } };
  }

  /** Load a `checkpoint()`: weights, Adam moments and iteration. */
  restore(tensors: TensorMap, metadata: Record<string, string>, iteration: number, file: string): void {
    if (metadata.mode !== this.mode) {
      throw new AtelierError('E_PARAM', `The checkpoint was trained in ${metadata.mode} mode, not ${this.mode}`, { subject: file });
    }
    const weights = weightsForLayout(tensors, this.layout, file);
    this.specs.forEach((s, i) => this.params.set(weights.tensors.get(s.name)!, this.offsets[i]!));
    this.adam.restore({ step: Number(metadata.adamStep), ...optimizerState(this.packed, tensors, this.params.length, file) });
    this.iteration = iteration;
  }

  /** Save a checkpoint to `file` (as `atelier train capvst` does every --save-every iterations). */
  async save(file: string): Promise<void> {
    await writeCheckpoint(file, { format: CHECKPOINT_FORMAT, iteration: this.iteration, ...this.checkpoint() });
  }

  /** Resume from `save`. */
  async resume(file: string): Promise<void> {
    const saved = await readCheckpoint(file, CHECKPOINT_FORMAT);
    this.restore(saved.tensors, saved.metadata, saved.iteration, file);
  }

  private get packed() {
    return { specs: this.specs, offsets: this.offsets };
  }
}
