import { AtelierError, throwIfAborted } from '../../core/errors.js';
import { Rng } from '../../core/rng.js';
import type { ClipTextWeights } from '../nets/clip/checkpoint.js';
import { ClipTextEncoder } from '../nets/clip/text-encoder.js';
import type { ClipTokenizer } from '../nets/clip/tokenizer.js';
import { DdimSampler } from './ddim.js';
import { DpmSolverPlusPlus2M } from './dpm-solver.js';
import { addNoise, img2imgTimesteps, samplingTimesteps, scaledLinearSchedule, type NoiseSchedule, type Sampler } from './noise-schedule.js';
import { Unet, type UnetWeights } from './unet.js';
import { Vae, type VaeWeights } from './vae.js';

/**
 * Stable Diffusion's sampling loop (Rombach et al. 2022) from its parts: the prompt and the
 * negative prompt through CLIP's text tower (final-normed hidden states), a latent from seeded
 * Gaussian noise (text-to-image) or from the VAE's encoding of an image noised to the first of the
 * remaining timesteps (image-to-image, SDEdit), then per timestep one UNet call on the batch
 * [negative, prompt] and classifier-free guidance (Ho & Salimans 2021):
 * ε = ε_neg + s · (ε_prompt − ε_neg), a sampler step, and finally the VAE decoder on latent / 0.18215.
 *
 * Image-to-image uses the mean of the encoder's Gaussian (no sampling of the posterior), so the
 * same seed gives the same picture.
 */

export interface DiffusionParts {
  text: ClipTextWeights;
  unet: UnetWeights;
  vae: VaeWeights;
  tokenizer: ClipTokenizer;
}

export interface GenerateOptions {
  prompt: string;
  negativePrompt?: string;
  steps: number;
  guidance: number;
  sampler: 'ddim' | 'dpmpp-2m';
  seed: number;
  /** Output size in pixels (multiples of the VAE's factor, 8 for SD). */
  width: number;
  height: number;
  /** Image-to-image: RGB planes [3, H, W] in [−1, 1] and how much of the schedule to run. */
  init?: { image: Float32Array; strength: number };
  /** Explicit starting noise [4, h, w] (tests); default from `seed`. */
  noise?: Float32Array;
  /** After each step: its number (from 1), the step count, and the latents it produced. */
  onStep?: (step: number, total: number, latents: Float32Array) => void;
  signal?: AbortSignal;
}

export class DiffusionPipeline {
  readonly schedule: NoiseSchedule = scaledLinearSchedule();

  private constructor(
    private readonly parts: DiffusionParts,
    private readonly text: ClipTextEncoder,
    private readonly unet: Unet,
    private readonly vae: Vae,
  ) {}

  static async create(parts: DiffusionParts, options: { threads?: number } = {}): Promise<DiffusionPipeline> {
    const length = parts.text.config.contextLength;
    if (parts.text.config.width !== parts.unet.config.contextDim) {
      throw new AtelierError('E_WEIGHTS_INVALID', "The text encoder's width does not match the UNet's cross-attention", {
        expected: `${parts.unet.config.contextDim}-wide text states`,
        received: `a ${parts.text.config.width}-wide text tower`,
        hint: 'use the text encoder that came with this UNet',
      });
    }
    const [text, unet, vae] = await Promise.all([
      ClipTextEncoder.create(parts.text, { batch: 2, threads: options.threads }),
      Unet.create(parts.unet, { batch: 2, contextLength: length, threads: options.threads }),
      Vae.create(parts.vae, { threads: options.threads }),
    ]);
    return new DiffusionPipeline(parts, text, unet, vae);
  }

  /** How many pixels one latent cell covers (8 for SD). */
  get downscale(): number {
    return this.vae.downscale;
  }

  /** Image sides must be multiples of this: the VAE's factor times the UNet's (64 for SD). */
  get sizeMultiple(): number {
    return this.vae.downscale * 2 ** (this.parts.unet.config.multipliers.length - 1);
  }

  /** The text states [2, L, W] of [negative, prompt]. */
  async encodePrompts(prompt: string, negative: string): Promise<Float32Array> {
    const length = this.parts.text.config.contextLength;
    const rows = [negative, prompt].map((t) => this.parts.tokenizer.encode(t, { contextLength: length }));
    return (await this.text.encode(rows)).hidden;
  }

  async generate(o: GenerateOptions): Promise<Float32Array> {
    const f = this.vae.downscale;
    const m = this.sizeMultiple;
    if (o.width % m !== 0 || o.height % m !== 0) {
      throw new AtelierError('E_PARAM', "The image size must be a multiple of the VAE's and the UNet's downscaling", { expected: `multiples of ${m}`, received: `${o.width}×${o.height}` });
    }
    const h = o.height / f;
    const w = o.width / f;
    const channels = this.parts.unet.config.inChannels;
    const size = channels * h * w;
    const rng = new Rng(o.seed);
    const noise = o.noise ?? Float32Array.from({ length: size }, () => rng.normal());
    const all = samplingTimesteps(this.schedule.alphasCumprod.length, o.steps);
    const timesteps = o.init ? img2imgTimesteps(all, o.init.strength) : all;
    const sampler: Sampler = o.sampler === 'ddim' ? new DdimSampler(this.schedule, timesteps) : new DpmSolverPlusPlus2M(this.schedule, timesteps);
    const scale = this.parts.vae.config.scalingFactor;

    let latents: Float32Array;
    if (o.init) {
      const { mean } = await this.vae.encode(o.init.image, o.width, o.height);
      latents = addNoise(this.schedule, mean.map((v) => v * scale), noise, timesteps[0]!);
    } else {
      latents = noise;
    }
    const context = await this.encodePrompts(o.prompt, o.negativePrompt ?? '');
    for (let i = 0; i < timesteps.length; i++) {
      throwIfAborted(o.signal);
      const t = timesteps[i]!;
      const pair = new Float32Array(2 * size);
      pair.set(latents, 0);
      pair.set(latents, size);
      const eps = await this.unet.predict(pair, h, w, [t, t], context);
      const guided = new Float32Array(size);
      for (let k = 0; k < size; k++) guided[k] = eps[k]! + o.guidance * (eps[size + k]! - eps[k]!);
      latents = sampler.step(guided, i, latents);
      o.onStep?.(i + 1, timesteps.length, latents);
    }
    throwIfAborted(o.signal);
    return this.vae.decode(latents.map((v) => v / scale), w, h);
  }

  async release(): Promise<void> {
    await Promise.all([this.text.release(), this.unet.release(), this.vae.release()]);
  }
}
