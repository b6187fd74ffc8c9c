import { AtelierError } from '../../core/errors.js';
import { grad } from '../../engine/autodiff/grad.js';
import { unetAttentionParams } from '../../engine/diffusion/lora-modules.js';
import { buildUnet, MAX_EMBEDDED_WEIGHT_BYTES, timestepEmbedding, type UnetWeights } from '../../engine/diffusion/unet.js';
import { Graph, type ParamHook } from '../../engine/graph/graph.js';
import { meanSquaredError } from '../../engine/losses/style-losses.js';
import { Adam } from '../../engine/optim/adam.js';
import { ParameterSet, type ParameterShape } from '../../engine/optim/parameter-set.js';
import { compile, type Runner, type TensorValue } from '../../engine/runtime.js';

/**
 * One LoRA training step for latent diffusion's UNet (Hu et al. 2021 on Rombach et al. 2022's
 * noise predictor; the recipe of kohya's sd-scripts and diffusers' train_text_to_image_lora): for
 * latents z₀ of the training images, a timestep t and Gaussian noise ε, the UNet predicts the noise
 * in z_t = √ᾱ_t·z₀ + √(1 − ᾱ_t)·ε given the caption's text states, and the loss is the mean squared
 * error ‖ε_θ(z_t, t, c) − ε‖² (Ho et al. 2020's simple loss). The UNet is frozen; each chosen
 * attention projection W [out, in] reads W + (α/r)·up·down with down [r, in] and up [out, r]
 * trained (kohya's names and shapes, so the file is written as is). The caller makes z_t, t and c
 * (the VAE and the text encoder run once per image and caption, outside the step).
 */

export interface DiffusionLoraTrainerOptions {
  rank: number;
  alpha: number;
  /** diffusers paths of the attention projections to adapt, e.g. `…attn1.to_q`. */
  targets: readonly string[];
  /** Starting pairs by path (down [r, in], up [out, r]). */
  init: ReadonlyMap<string, { down: Float32Array; up: Float32Array }>;
  /** Latent height and width (image size / the VAE's factor). */
  height: number;
  width: number;
  contextLength: number;
  learningRate: number;
  threads: number;
  /** Feed the frozen UNet at run time instead of embedding it (default: past 1.5 GB, as SD 1.5's). */
  feedWeights?: boolean;
}

/** One batch: noised latents z_t [B, 4, h, w], the noise ε [B, 4, h, w], a timestep per sample, text states [B, L, D]. */
export interface DiffusionBatch {
  noisy: Float32Array;
  noise: Float32Array;
  timesteps: readonly number[];
  context: Float32Array;
}

/** kohya's key of a UNet module: `lora_unet_` + the diffusers path with `_` for `.`. */
export function kohyaUnetKey(path: string): string {
  return `lora_unet_${path.replace(/\./g, '_')}`;
}

export class DiffusionLoraTrainer {
  /** The trained tensors, back to back in `trained` order (`params`, `offsets`). */
  readonly parameters: ParameterSet<ParameterShape>;
  readonly params: Float32Array;
  readonly offsets: number[];
  private readonly adam: Adam;
  iteration = 0;

  private constructor(
    readonly unet: UnetWeights,
    readonly options: DiffusionLoraTrainerOptions,
    /** kohya names and shapes of the trained tensors (`<key>.lora_down.weight`, `<key>.lora_up.weight`). */
    readonly trained: { name: string; shape: number[] }[],
    initial: Map<string, Float32Array>,
    private readonly runner: Runner,
    /** The frozen weights when they are fed at run time. */
    private readonly fed: Record<string, TensorValue>,
  ) {
    this.parameters = ParameterSet.of(trained, initial);
    this.params = this.parameters.data;
    this.offsets = this.parameters.offsets;
    this.adam = new Adam(this.params.length, { learningRate: options.learningRate });
  }

  static async create(unet: UnetWeights, options: DiffusionLoraTrainerOptions): Promise<DiffusionLoraTrainer> {
    const c = unet.config;
    const sites = new Map(unetAttentionParams(unet).map((s) => [s.path, s]));
    const byParam = new Map<string, { path: string; shape: number[] }>();
    for (const path of options.targets) {
      const site = sites.get(path);
      if (!site) {
        throw new AtelierError('E_PARAM', `${path} is not an attention projection of this UNet`, {
          subject: 'targets',
          expected: `paths such as ${[...sites.keys()].slice(0, 2).join(', ')}`,
          received: path,
        });
      }
      byParam.set(site.param, site);
    }
    const feed = options.feedWeights ?? unetBytes(unet) > MAX_EMBEDDED_WEIGHT_BYTES;
    const scale = options.alpha / options.rank;
    const trained: { name: string; shape: number[] }[] = [];
    const initial = new Map<string, Float32Array>();
    const g = new Graph();
    const hook: ParamHook = (g, name, shape, data) => {
      const site = byParam.get(name);
      if (!site) return feed ? undefined : g.constant(data, shape);
      const frozen = feed ? g.param(name, shape, data) : g.constant(data, shape);
      const [out, inn] = site.shape as [number, number];
      const pair = options.init.get(site.path)!;
      const key = kohyaUnetKey(site.path);
      const down = g.param(`${key}.lora_down.weight`, [options.rank, inn], pair.down);
      const up = g.param(`${key}.lora_up.weight`, [out, options.rank], pair.up);
      for (const t of [down, up]) {
        trained.push({ name: t.name, shape: t.shape as number[] });
        initial.set(t.name, g.data.get(t.id) as Float32Array);
      }
      // The graph's linear weight is Wᵀ [in, out], so it reads Wᵀ + s·downᵀ·upᵀ.
      return g.withLowRank(frozen, [{ b: g.transpose(down, [1, 0]), a: g.transpose(up, [1, 0]), scale }]);
    };
    g.paramHook = hook;
    const noisy = g.input('noisy', ['B', c.inChannels, options.height, options.width]);
    const time = g.input('time', ['B', c.channels]);
    const context = g.input('context', ['B', options.contextLength, c.contextDim]);
    const noise = g.input('noise', ['B', c.outChannels, options.height, options.width]);
    const eps = buildUnet(g, unet, noisy, time, context);
    g.paramHook = undefined;
    const loss = meanSquaredError(g, eps, noise);
    g.output('loss', loss);
    const wrt = g.params.filter((p) => trained.some((t) => t.name === p.name));
    if (wrt.length !== 2 * byParam.size) {
      throw new AtelierError('E_INTERNAL', `The UNet graph declared ${wrt.length / 2} of the ${byParam.size} attention projections asked for`, {
        hint: 'buildUnet and unetAttentionParams disagree on the names of the attention weights',
      });
    }
    grad(g, loss, wrt).forEach((gt, i) => g.output(`grad:${wrt[i]!.name}`, gt));
    const fed: Record<string, TensorValue> = {};
    if (feed) for (const p of g.params) if (!initial.has(p.name)) fed[p.name] = { data: g.data.get(p.id)! as Float32Array, shape: p.shape as number[] };
    const runner = await compile(g, { threads: options.threads, paramsAsInputs: true, cache: false, optimization: 'extended' });
    return new DiffusionLoraTrainer(unet, options, trained, initial, runner, fed);
  }

  get parameterCount(): number {
    return this.params.length;
  }

  /** The current value of a trained tensor (a view). */
  tensor(name: string): Float32Array {
    return this.parameters.get(name);
  }

  private feeds(b: DiffusionBatch): Record<string, TensorValue> {
    const c = this.unet.config;
    const n = b.timesteps.length;
    const time = new Float32Array(n * c.channels);
    b.timesteps.forEach((t, i) => time.set(timestepEmbedding(t, c.channels), i * c.channels));
    const { height: h, width: w, contextLength: L } = this.options;
    const feeds: Record<string, TensorValue> = {
      ...this.fed,
      noisy: { data: b.noisy, shape: [n, c.inChannels, h, w] },
      noise: { data: b.noise, shape: [n, c.outChannels, h, w] },
      time: { data: time, shape: [n, c.channels] },
      context: { data: b.context, shape: [n, L, c.contextDim] },
    };
    return { ...feeds, ...this.parameters.feeds() };
  }

  /** The loss and the gradient of every trained tensor (packed like `params`), no step. */
  async gradient(b: DiffusionBatch): Promise<{ loss: number; gradient: Float32Array }> {
    const out = await this.runner.run(this.feeds(b));
    const gradient = this.parameters.gatherGradients(out);
    return { loss: (out.loss!.data as Float32Array)[0]!, gradient };
  }

  /** One Adam step. A non-finite loss or gradient stops with E_NUMERIC before the weights change. */
  async step(b: DiffusionBatch, learningRate = this.options.learningRate): Promise<{ loss: number; gradientNorm: number }> {
    const { loss, gradient } = await this.gradient(b);
    let norm = 0;
    for (let i = 0; i < gradient.length; i++) norm += gradient[i]! * gradient[i]!;
    norm = Math.sqrt(norm);
    if (!Number.isFinite(loss) || !Number.isFinite(norm)) {
      throw new AtelierError('E_NUMERIC', `The loss became non-finite at iteration ${this.iteration} (loss ${loss}, gradient norm ${norm})`, {
        hint: 'lower the learning rate (--lr); the last checkpoint holds the last finite weights',
      });
    }
    this.adam.step(this.params, gradient, learningRate);
    this.iteration++;
    return { loss, gradientNorm: norm };
  }

  /** The loss of the current weights on a batch (no step). */
  async evaluate(b: DiffusionBatch): Promise<number> {
    return (await this.gradient(b)).loss;
  }

  optimizerState(): { step: number; m: Float32Array; v: Float32Array } {
    return this.adam.state();
  }

  restoreOptimizer(state: { step: number; m: ArrayLike<number>; v: ArrayLike<number> }): void {
    this.adam.restore(state);
  }

  async release(): Promise<void> {
    await this.runner.release();
  }
}

function unetBytes(w: UnetWeights): number {
  let bytes = 0;
  const walk = (v: unknown): void => {
    if (v instanceof Float32Array) bytes += v.byteLength;
    else if (Array.isArray(v)) v.forEach(walk);
    else if (v && typeof v === 'object') Object.values(v).forEach(walk);
  };
  walk({ ...w, used: [] });
  return bytes;
}
