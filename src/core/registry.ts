import type { z } from 'zod';
import { AtelierError } from './errors.js';
import type { Image } from './image.js';
import type { Regions } from './mask.js';
import type { ParamsSchema, SharedControls } from './params.js';
import type { Progress } from './progress.js';
import type { Rng } from './rng.js';

/** The families of the report's history of style transfer that have methods (a family is added with its first method). */
export const FAMILIES = {
  color: 'Colour and tone transfer (photorealistic, statistics-based)',
  filter: 'Image filtering as style (non-photorealistic rendering)',
  paint: 'Stroke-based painting',
  patch: 'Patch-based texture synthesis and image analogies',
  neural: 'Neural style transfer (optimisation and feed-forward networks)',
  diffusion: 'Latent diffusion guided by text (Stable Diffusion 1.x)',
} as const;

export type Family = keyof typeof FAMILIES;

/** An extra named image input beyond content and style (e.g. image analogies' A and A′). */
export interface ExtraInputSpec {
  description: string;
  required: boolean;
}

export interface InputsSpec {
  /** Whether the method takes a style image. Several style images are accepted when `multiStyle`. */
  style: 'required' | 'optional' | 'none';
  multiStyle?: boolean;
  extra?: Record<string, ExtraInputSpec>;
}

/** Which shared controls the pipeline applies for this method (all by default). */
export interface ControlsSpec {
  strength?: boolean;
  preserveColor?: boolean;
  mask?: boolean;
}

/** A model a method needs, by its name in the model store manifest. */
export interface WeightsSpec {
  model: string;
  description: string;
  /**
   * When the model is needed: every named param (after defaults) must take one of the listed
   * values. Absent: always. Lets the studio name only what the chosen mode needs.
   */
  when?: Record<string, readonly unknown[]>;
  /**
   * Needed models sharing this group name stand in for each other: one installed suffices (a
   * method that takes the first installed of several).
   */
  anyOf?: string;
  /**
   * The param whose value names which of the model's variants (models/manifest.json `variants`)
   * runs: the model counts as installed for these settings only when that variant is.
   */
  variantParam?: string;
}

/**
 * A method's peak memory, from measurements: what one run holds whatever the size (its runtime,
 * sessions and weights), and per pixel of what it works on at once. The memory budget adds
 * decoding and the style images (memory-budget.ts).
 */
export interface MemoryProfile<Params = Record<string, unknown>> {
  /** Peak bytes per pixel of what the method works on at once (bench/memory.mjs's slope); a function where params pick another network. */
  bytesPerPixel: number | ((params: Params) => number);
  /** Bytes a run holds at any size above Node's own: runtime, sessions, arenas at their smallest (the bench's load). */
  loadBytes?: number;
  /**
   * Bytes of the model files these params load (0 when nothing is read, e.g. random weights); the
   * budget counts them as loaded into a session (WEIGHTS_LOADED_FACTOR in memory-budget.ts).
   * `undefined` when they are not there (not installed): the run then stops on that first, with
   * the commands that install them, instead of a refusal for memory it would never use.
   */
  weightBytes?(params: Params, run: { styles: number }): number | undefined;
  /** The param that sets how much is worked on at once (`tileSize`, `size`): the refusal names a value that fits. */
  sizeParam?: string;
  /** Pixels worked on at once, given the working image's: a tile (`tileSize`²), or a size of its own; default all of them. */
  pixelsAtOnce?(params: Params, workingPixels: number): number;
  /** Bytes per working pixel a run keeps of the whole image beside what it works on at once (a tiled run's input, output and blend weights). */
  wholeBytesPerPixel?: number;
  /** What grows other than linearly with the pixels, e.g. attention maps (quadratic in the number of tokens). */
  extraBytes?(params: Params, workingPixels: number): number;
}

export interface Logger {
  debug(message: string): void;
  info(message: string): void;
  warn(message: string): void;
}

export interface RunContext {
  /** Seeded generator: the only source of randomness a method may use. */
  rng: Rng;
  seed: number;
  progress: Progress;
  /** Always present; check it between steps (`throwIfAborted`). */
  signal: AbortSignal;
  log: Logger;
  /** Worker threads / ORT intra-op threads the method may use. */
  threads: number;
  /** The shared controls as resolved, for methods that fold them in natively. */
  controls: SharedControls;
}

export interface MethodInputs {
  content: Image;
  /** The (first) style image, when given. */
  style?: Image;
  /** All style images with their blend weights (sum 1), when the method takes several. */
  styles?: { image: Image; weight: number }[];
  /** Named extra images, at the working size of the content where they are aligned to it. */
  extra: Record<string, Image>;
  /** Region pairing, given only to methods with `regions: 'native'`. */
  regions?: Regions;
  /**
   * In a video, the previous frame's result moved onto this frame by the input's optical flow, and
   * where that move is trusted (1) or not (0: occluded, out of frame). Given only to methods whose
   * `video.carry` asks for it ('init', 'guide'); at the content's size.
   */
  previous?: PreviousFrame;
}

export interface PreviousFrame {
  image: Image;
  valid: Float32Array;
}

/**
 * How a method stays stable over the frames of a video (`atelier video`, video/temporal/*). The
 * method declares it; the video pipeline picks the strategy by `carry`, never by the method's id.
 */
export interface VideoBehaviour {
  /** `--temporal` when the user gives none. */
  temporal: 'none' | 'blend' | 'flow';
  /**
   * What the previous result is used for under `--temporal flow`, beyond blending it into the
   * output where the flow is trusted (which every method gets):
   * - 'output': nothing more (feed-forward networks, filters);
   * - 'init': it starts the next optimisation (`inputs.previous`; Ruder et al. 2016);
   * - 'guide': it guides the next synthesis (`inputs.previous`; Ebsynth-style propagation);
   * - 'grade': the colour mapping's statistics are smoothed over time (global colour methods).
   */
  carry: 'output' | 'init' | 'guide' | 'grade';
  /**
   * Share of the warped previous result blended into each output where the flow is trusted
   * (`--temporal-weight`'s default; 0.6 when unset). A method that already carries the previous
   * result inside its own run ('guide', 'init') needs less of it on top.
   */
  weight?: number;
  /** Params a video run uses unless the user sets them (e.g. a network's video checkpoint). */
  params?: Record<string, unknown>;
}

export interface MethodOutput {
  image: Image;
  /** Method-specific facts for the result's `meta` (iterations run, losses, weights used). */
  meta?: Record<string, unknown>;
  /**
   * A vector rendering of the same result, for `-o out.svg`. May be a getter: it is read only when
   * an SVG is asked for, so a method can skip building it for raster output.
   */
  svg?: string;
}

export interface StyleGallery {
  /** The parameter a pick sets. */
  param: string;
  /** The model whose files picture the styles (thumbnails are paths inside it, served when it is installed). */
  model?: string;
  items: StyleGalleryItem[];
}

export interface StyleGalleryItem {
  value: string | number;
  label: string;
  /** A picture the gallery's model ships (a path inside it). */
  thumbnail?: string;
  /**
   * The style is a model of its own (one network per style): once it is installed, the server
   * pictures it by running it on a sample the project ships (GET /api/methods/ID/styles/VALUE).
   */
  model?: string;
  /** Who published it, for the gallery's caption (the licence comes with the model). */
  source?: string;
}

/**
 * A param that names models made here. The server lists each installed one among the method's
 * weights with the params it was made for (`use.params`: a LoRA's base network) and the values it
 * allows of other params (`use.choices`: a StarGAN's domains).
 */
export interface TrainedModelParam {
  /** The store's kind of model (`network` in its trained.json): `lora`, `cyclegan`, `stargan`, … */
  kind: string;
  /** The training recipe that makes them (`atelier train <id>`, the studio's trainer page); absent when none does. */
  trainer?: string;
  /** A list of names, applied in order (LoRA adapters, styles added to a network), rather than one name. */
  stack?: boolean;
  /** Each item of the list is `NAME` or `NAME:WEIGHT` (LoRA adapters). */
  weighted?: boolean;
  /**
   * The recipe's params a "train one" link sets: a fixed value, or `{ param }` for the value this
   * method's form holds (a LoRA for neural.fast is trained on the form's `model`). A model whose
   * `use.params` names such a param fits only where the form holds that value (its base network).
   */
  trainerParams?: Readonly<Record<string, string | { param: string }>>;
  /** Words taken besides names ('random': a seeded stand-in), with the values each allows of other params. */
  words?: readonly { word: string; label: string; choices?: Readonly<Record<string, readonly string[]>> }[];
}

/** A method id: its family, a dot, a lower-case name (`color.reinhard`). */
export type MethodIdOf<F extends Family = Family> = `${F}.${string}`;

export interface MethodDefinition<P extends ParamsSchema = ParamsSchema, Id extends MethodIdOf = MethodIdOf> {
  /** The registry key: the registry is built from these, so the two cannot disagree. */
  id: Id;
  family: Family;
  title: string;
  /** One line for pickers and `atelier methods`. */
  summary: string;
  /** Where the algorithm comes from (paper, year). */
  reference?: string;
  inputs: InputsSpec;
  params: P;
  controls?: ControlsSpec;
  /**
   * 'native': the method receives `inputs.regions` and pairs regions itself.
   * 'pipeline' (default): the pipeline runs the method once per region pair and composites.
   */
  regions?: 'native' | 'pipeline';
  weights?: WeightsSpec[];
  /** Largest side of the working image when the user gives no maxSize (e.g. a network's published resolution). */
  defaultMaxSize?: number;
  /**
   * What a run holds, measured (`node bench/memory.mjs`, `--installed` for the real networks); the
   * family's bytes per pixel when absent (memory-budget.ts). Runs that would need more than the
   * memory budget are refused before decoding.
   */
  memory?: MemoryProfile<z.output<P>>;
  /** Temporal behaviour in videos (default: `--temporal flow`, carry 'output'). */
  video?: VideoBehaviour;
  /** The method also draws its result as SVG (`MethodOutput.svg`), so `-o out.svg` is accepted up front. */
  vectorOutput?: boolean;
  /** Params for a quick run on a tiny image (the contract test, studio previews), e.g. few iterations. */
  quickParams?: Record<string, unknown>;
  /** Params the studio folds under Advanced (the shared seed and maxSize always are). */
  advanced?: readonly (keyof z.input<P> & string)[];
  /** Named starting points shown in the studio: partial params, each checked by the contract test. */
  presets?: Readonly<Record<string, Partial<z.input<P>> & Record<string, unknown>>>;
  /**
   * A network with fixed styles: the parameter that picks one and the styles, each with a
   * thumbnail from its model's files, so the studio shows a gallery instead of a number field.
   */
  styleGallery?: StyleGallery;
  /**
   * Params that name models made here (by a trainer, `--name`): forms offer the installed ones
   * of their kind by name (never a file) and one click to the trainer that makes more.
   */
  trainedModels?: Readonly<Record<string, TrainedModelParam>>;
  /**
   * The method itself. Everything above is read whenever methods are listed or described (every
   * `atelier` start, `atelier methods`, the server's method list), so a method whose run needs the
   * engine (ONNX Runtime, imported graphs, tokenizers) loads those modules here, with `await
   * import(…)`, and keeps its module's own imports to what its description needs.
   */
  run(ctx: RunContext, inputs: MethodInputs, params: z.output<P>): Promise<Image | MethodOutput>;
}

/** Any method, whatever its params. */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export type AnyMethod = MethodDefinition<any, MethodIdOf>;

/**
 * Identity with checks: fixes the params type for `run`, keeps the id as a literal type (the
 * registry derives `MethodId` from it) and validates the id's shape.
 */
export function defineMethod<P extends ParamsSchema, Id extends MethodIdOf>(def: MethodDefinition<P, Id>): MethodDefinition<P, Id> {
  if (!/^[a-z]+\.[a-z0-9-]+$/.test(def.id)) {
    throw new AtelierError('E_INTERNAL', `Method id ${JSON.stringify(def.id)} is malformed`, {
      expected: 'family.name in lower case, e.g. color.reinhard',
    });
  }
  if (!def.id.startsWith(def.family + '.')) {
    throw new AtelierError('E_INTERNAL', `Method id ${def.id} does not start with its family ${def.family}`);
  }
  return def;
}
