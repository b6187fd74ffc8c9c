import { AtelierError, throwIfAborted } from '../../core/errors.js';
import { Rng } from '../../core/rng.js';
import type { ClipTextWeights } from '../nets/clip/checkpoint.js';
import { ClipImageEncoder } from '../nets/clip/image-encoder.js';
import { ClipTextEncoder } from '../nets/clip/text-encoder.js';
import type { ClipTokenizer } from '../nets/clip/tokenizer.js';
import type { WordPieceTokenizer } from '../nets/blip2/wordpiece-tokenizer.js';
import { DdimSampler } from './ddim.js';
import { DeadiffExtension, type DeadiffWeights } from './deadiff.js';
import { DeadiffTokenEncoder } from './deadiff-tokens.js';
import type { InjectionStrengths } from './decoupled-cross-attention.js';
import type { ReferenceWeights } from './ip-adapter-files.js';
import { IpAdapterExtension } from './ip-adapter.js';
import { DpmSolverPlusPlus2M } from './dpm-solver.js';
import { addNoise, img2imgTimesteps, samplingTimesteps, scaledLinearSchedule, type NoiseSchedule, type Sampler } from './noise-schedule.js';
import { Unet, type UnetWeights } from './unet.js';
import { latentStatistics, styleNoise } from './style-noise.js';
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
 *
 * With `reference` parts (IP-Adapter and its CLIP image tower) a reference image is injected
 * through decoupled cross-attention (`ip-adapter.ts`): the prompt row gets the reference's image
 * embedding, the negative row a zero embedding (as IP-Adapter was trained for guidance), at the
 * style and content strengths asked for. With `deadiff` parts (a DEADiff checkpoint) the reference
 * goes through its Q-Formers instead, into its joint attention (`deadiff.ts`), zero tokens in the
 * negative row as DEADiff runs guidance. `styleNoise` draws the starting noise from the style
 * image's latent statistics ("Diffusion in Style", `style-noise.ts`).
 */

export interface DiffusionParts {
  text: ClipTextWeights;
  unet: UnetWeights;
  vae: VaeWeights;
  tokenizer: ClipTokenizer;
  /** IP-Adapter and its image tower, for reference-image injection. */
  reference?: ReferenceWeights;
  /**
   * DEADiff's Q-Formers and projections (its checkpoint's UNet has their image keys/values), with
   * the WordPiece tokenizer of their text: the reference image is injected DEADiff's way, and
   * `reference` is not used.
   */
  deadiff?: { weights: DeadiffWeights; tokenizer: WordPieceTokenizer };
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
  /** A reference image injected through the adapter: CLIP-normalised pixels [3, S, S] (`referenceFit`) and the strengths. */
  reference?: { pixels: Float32Array; strengths: InjectionStrengths };
  /** "Diffusion in Style": the noise takes the per-channel statistics of this image's latent (RGB planes [3, H, W] in [−1, 1]). */
  styleNoise?: { image: Float32Array; width: number; height: number };
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
    private readonly injection?: { extension: IpAdapterExtension; encoder: ClipImageEncoder },
    private readonly deadiff?: { extension: DeadiffExtension; encoder: DeadiffTokenEncoder },
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
    const dd = parts.deadiff;
    const extension = !dd && parts.reference ? new IpAdapterExtension(parts.reference.adapter) : undefined;
    const ddExtension = dd && new DeadiffExtension(dd.weights, dd.weights.qformers.style.config.queries);
    const [text, unet, vae, encoder, ddEncoder] = await Promise.all([
      ClipTextEncoder.create(parts.text, { batch: 2, threads: options.threads }),
      Unet.create(parts.unet, { batch: 2, contextLength: length, threads: options.threads, ...((extension ?? ddExtension) && { extension: extension ?? ddExtension }) }),
      Vae.create(parts.vae, { threads: options.threads }),
      extension && parts.reference && ClipImageEncoder.create(parts.reference.encoder, { batch: 1, threads: options.threads }),
      dd && DeadiffTokenEncoder.create(dd.weights, dd.tokenizer, { threads: options.threads }),
    ]);
    return new DiffusionPipeline(parts, text, unet, vae, extension && encoder && { extension, encoder }, ddExtension && ddEncoder && { extension: ddExtension, encoder: ddEncoder });
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

  /** The side of the square the reference image is given at (the image tower's input size). */
  get referenceSize(): number | undefined {
    return this.deadiff?.encoder.imageSize ?? this.parts.reference?.encoder.config.imageSize;
  }

  /** How the reference is brought to that square: IP-Adapter's CLIP crops the centre, DEADiff resizes the whole image. */
  get referenceFit(): 'crop' | 'stretch' {
    return this.deadiff ? 'stretch' : 'crop';
  }

  /** Which injection the pipeline runs with a reference image. */
  get injectionKind(): 'ip-adapter' | 'deadiff' | undefined {
    return this.deadiff ? 'deadiff' : this.injection ? 'ip-adapter' : undefined;
  }

  /** The UNet's adapter feeds of one step: [negative, prompt] rows, zero embedding for the negative. */
  private async injectionFeeds(reference: GenerateOptions['reference']) {
    if (this.deadiff) {
      // DEADiff's rows: zero tokens for the negative; without a reference, its text-only condition (zero tokens) for both
      const tokens = reference ? await this.deadiff.encoder.encode(reference.pixels) : undefined;
      return this.deadiff.extension.feeds(tokens, reference?.strengths ?? { style: 0, content: 0 });
    }
    if (!this.injection) {
      if (reference) throw new AtelierError('E_INTERNAL', 'A reference image was given to a pipeline built without an image adapter', {});
      return {};
    }
    const width = this.injection.extension.weights.embedDim;
    const embeds = new Float32Array(2 * width);
    if (!reference) return this.injection.extension.feeds(embeds, { style: 0, content: 0 });
    const features = await this.injection.encoder.encode(reference.pixels);
    if (!features.embeds) throw new AtelierError('E_WEIGHTS_INVALID', 'The image encoder has no visual projection, which IP-Adapter reads', { expected: `a ${width}-wide image embedding` });
    embeds.set(features.embeds, width);
    return this.injection.extension.feeds(embeds, reference.strengths);
  }

  /** How many UNet steps `generate` runs for `steps` sampler steps (image-to-image: only the last `strength` of them). */
  stepCount(steps: number, strength?: number): number {
    const all = samplingTimesteps(this.schedule.alphasCumprod.length, steps);
    return (strength === undefined ? all : img2imgTimesteps(all, strength)).length;
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
    let noise = o.noise ?? Float32Array.from({ length: size }, () => rng.normal());
    const all = samplingTimesteps(this.schedule.alphasCumprod.length, o.steps);
    const timesteps = o.init ? img2imgTimesteps(all, o.init.strength) : all;
    const sampler: Sampler = o.sampler === 'ddim' ? new DdimSampler(this.schedule, timesteps) : new DpmSolverPlusPlus2M(this.schedule, timesteps);
    const scale = this.parts.vae.config.scalingFactor;
    if (o.styleNoise) {
      const { mean } = await this.vae.encode(o.styleNoise.image, o.styleNoise.width, o.styleNoise.height);
      noise = styleNoise(noise, latentStatistics(mean.map((v) => v * scale), channels));
    }
    const feeds = await this.injectionFeeds(o.reference);

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
      const eps = await this.unet.predict(pair, h, w, [t, t], context, feeds);
      const guided = new Float32Array(size);
      for (let k = 0; k < size; k++) guided[k] = eps[k]! + o.guidance * (eps[size + k]! - eps[k]!);
      latents = sampler.step(guided, i, latents);
      o.onStep?.(i + 1, timesteps.length, latents);
    }
    throwIfAborted(o.signal);
    return this.vae.decode(latents.map((v) => v / scale), w, h);
  }

  async release(): Promise<void> {
    await Promise.all([this.text.release(), this.unet.release(), this.vae.release(), this.injection?.encoder.release(), this.deadiff?.encoder.release()]);
  }
}
