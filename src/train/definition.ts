import type { z } from 'zod';
import type { ParamsSchema } from '../core/params.js';
import type { Logger } from '../core/registry.js';
import type { TensorMap, WeightTensor } from '../engine/weights/tensor.js';
import type { Rng } from '../core/rng.js';
import type { Image } from '../core/image.js';

/**
 * A trainer is a recipe on the training floor, as a method is on the methods floor: one file
 * under `train/recipes/` plus a line in `train/index.ts`. The recipe builds a session (data,
 * networks, optimiser); the loop in `train/loop.ts` drives it and owns everything trainers share:
 * per-iteration seeding, progress events, checkpoints and resume, the loss log and its plot.
 */
export interface TrainerDefinition<P extends ParamsSchema = ParamsSchema, Id extends string = string> {
  /** The registry key and the CLI subcommand: `atelier train <id>`. */
  id: Id;
  title: string;
  /** One line for `atelier train --help`. */
  summary: string;
  /** Where the recipe comes from (paper, its published training code). */
  reference?: string;
  /** The recipe's own options (data sources, sizes, loss weights, learning rate), validated by zod. */
  params: P;
  /** Load the data and networks and build what one step needs. */
  open(ctx: TrainContext, params: z.output<P>): Promise<TrainingSession>;
  /**
   * How the server and the studio offer the recipe (optional; a recipe without it still trains
   * from the CLI and the library). Params named in `images` take a folder of images: over HTTP
   * they are never given as text, the server fills them with the uploaded images instead.
   */
  studio?: TrainerStudio<keyof z.input<P> & string>;
}

/** A param that takes a folder of training images, filled from uploads by the server. */
export interface TrainerImages {
  /** 'style' images are the look to learn; 'content' images are photos to train on. */
  role: 'style' | 'content';
  /** How many images a job must upload (the server refuses fewer or more). */
  min: number;
  max: number;
  /** One line for the drop zone. */
  description: string;
}

export interface TrainerStudio<K extends string = string> {
  /**
   * Folders of uploaded images, by name: a param that takes a folder, or (with `folders`) a name of
   * the page's own. A `content` one not uploaded gets the server's photo set.
   */
  images?: Partial<Record<K, TrainerImages>> & Record<string, TrainerImages | undefined>;
  /**
   * Recipes whose params are not one folder each (StarGAN's `NAME=DIR` domains): the params the
   * uploaded folders make (`params(folders by image name)`), and which params those are (the form
   * leaves them out).
   */
  folders?: { fills: readonly K[]; params: (folders: Record<string, string>) => Partial<Record<K, unknown>> };
  /**
   * The param that picks the starting network (shown as the base model), when there is one: its
   * fixed words ('random', 'installed'); models trained by the same recipe are offered beside them.
   */
  base?: {
    param: K;
    choices: readonly string[];
    /** The first choice leaves the param unset, and this says what that means ("none: a new network"). */
    none?: string;
    /** The installed models it can start from, named now (default: the models this recipe trained). */
    models?: () => string[];
    /** Params the base model fixes (a network's width): left out of the form and of the starting values once one is chosen. */
    sets?: readonly K[];
  };
  /** Params shown first in the studio's form (steps, rank, learning rate…); the rest fold under Advanced. */
  basic?: readonly K[];
  /** Values the studio starts from when they differ from the schema's defaults (small crops, say). */
  defaults?: Partial<Record<K, unknown>>;
  /** Iterations the studio starts from. */
  iterations?: number;
}

/** The method that runs a trained model, and the param that takes the weights (a file, or the store name once installed). */
export interface TrainedModelUse {
  method: string;
  /** The method's param that names the weights ('weights', 'lora', …). */
  param: string;
  /** Other params the weights need (a mode, a base network). */
  params?: Record<string, unknown>;
  /** The values the weights allow of other params (a StarGAN's domains), for forms to offer. */
  choices?: Record<string, readonly string[]>;
}

/** Any trainer, whatever its params. */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export type AnyTrainer = TrainerDefinition<any, string>;

/** Identity: fixes the params type for `open` and keeps the id as a literal type. */
export function defineTrainer<P extends ParamsSchema, Id extends string>(def: TrainerDefinition<P, Id>): TrainerDefinition<P, Id> {
  return def;
}

export interface TrainContext {
  /** Seed of the run: initial weights and the fixed validation samples derive from it. */
  seed: number;
  /** Total iterations of the run (learning-rate schedules that decay towards the end read it). */
  iterations: number;
  /** ONNX Runtime intra-op threads. */
  threads: number;
  log: Logger;
  signal: AbortSignal;
}

/** What one iteration reports: named losses and other numbers (gradient norm, learning rate). */
export interface StepReport {
  /** Named numbers recorded in losses.json and shown in progress events. */
  values: Record<string, number>;
}

/** A network being trained, as the loop sees it. */
export interface TrainingSession {
  /** Iterations done so far (the next step's number). */
  readonly iteration: number;
  /** Checkpoint format tag: a resume refuses a checkpoint written by another trainer. */
  readonly checkpointFormat: string;
  /** Which recorded values the loss curve plots, with their legend labels, and its title. */
  readonly curves: { key: string; label: string }[];
  readonly curveTitle: string;
  /** Facts written at the top of losses.json (mode, size, loss weights). */
  readonly summary: Record<string, unknown>;
  /** One training iteration on samples drawn from `rng`. */
  step(rng: Rng): Promise<StepReport>;
  /** Losses on fixed validation samples, or undefined when there are none. */
  validate(): Promise<Record<string, number> | undefined>;
  /** Fixed samples through the current networks, written as `samples/iter-N.png` at every checkpoint (GAN recipes). */
  sampleGrid?(): Promise<Image>;
  /** Everything a resume needs (weights, optimiser moments), and metadata to store beside it. */
  checkpoint(): { tensors: WeightTensor[]; metadata: Record<string, string> };
  /** Load a `checkpoint()`; `iteration` is the stored iteration count. */
  restore(tensors: TensorMap, metadata: Record<string, string>, iteration: number): void;
  /**
   * The trained weights to publish: a file name inside the output folder, tensors, metadata and how
   * to use them (FILE stands for the path); `install` also stores them as a trained model of that
   * kind and name (`models/NAME/`, engine/store/trained.ts), which methods find by name (`force`:
   * replace a model made here of that name); `kind` is the kind of network when there is no
   * install (default: the trainer's id), for an install the caller asks for; `use` names the method
   * that runs them and its param that takes them (server training jobs install the result as a
   * model of the store that this method offers).
   */
  exportWeights(): { fileName: string; tensors: WeightTensor[]; metadata: Record<string, string>; usage?: string; install?: { kind: string; name: string; force?: boolean }; kind?: string; use?: TrainedModelUse };
  /** Free what the session holds (ORT sessions, a claim on a model name); called once, however the run ends. */
  close?(): Promise<void>;
}
