import { AtelierError } from '../core/errors.js';
import type { Image } from '../core/image.js';
import type { Logger, WeightsSpec } from '../core/registry.js';

/**
 * A metric scores a stylised output against what it came from: the content (does the output keep
 * its structure?), the style (does it carry the style?) or the input video (is it stable in time?).
 * `defineMetric` is to metrics what `defineMethod` is to methods; `metrics/index.ts` lists them all.
 */

/** What a metric compares the output with. `aspect` in the definition says which axis it measures. */
export type MetricNeed = 'content' | 'style' | 'frames';

/** The axis of the photorealistic/artistic trade-off a metric measures, for reports and plots. */
export type MetricAspect = 'content' | 'style' | 'temporal';

export interface MetricInputs {
  /** The stylised image. */
  output: Image;
  /** The content image, at the output's size (callers resize it). */
  content?: Image;
  /** The style image, at any size. */
  style?: Image;
  /** Consecutive frames: the input video's and the stylised ones, same count and size. */
  frames?: { input: Image[]; output: Image[] };
}

export interface MetricContext {
  signal: AbortSignal;
  log: Logger;
  /** ORT intra-op threads for neural metrics. */
  threads: number;
  /** Seed for metrics that sample (patch subsets, random projections). */
  seed: number;
  /** 'random': neural metrics run on seeded random weights when the real ones are absent (labelled so). */
  weights: 'installed' | 'random';
}

export interface MetricResult {
  /** The headline number; compare it across runs only under the same metric version. */
  value: number;
  /** A named breakdown: per channel, per layer, per scale, … */
  parts: Record<string, number>;
  /** Facts about how it was computed that a reader must see (e.g. `weights: 'random'`). */
  notes?: string[];
}

export interface MetricDefinition {
  /** Lower-case, dashed: `ssim`, `ms-ssim`, `swd-patches`. */
  id: string;
  title: string;
  /** One line: what it measures and how. */
  summary: string;
  /** Paper or source of the definition. */
  reference?: string;
  higherIsBetter: boolean;
  aspect: MetricAspect;
  needs: readonly MetricNeed[];
  /** Model weights a neural metric needs (names in the model store). */
  weights?: WeightsSpec[];
  compute(inputs: MetricInputs, ctx: MetricContext): MetricResult | Promise<MetricResult>;
}

/** Identity with checks, as `defineMethod`. */
export function defineMetric<D extends MetricDefinition>(def: D): D {
  if (!/^[a-z][a-z0-9-]*$/.test(def.id)) {
    throw new AtelierError('E_INTERNAL', `Metric id ${JSON.stringify(def.id)} is malformed`, {
      expected: 'lower case letters, digits and dashes, e.g. ms-ssim',
    });
  }
  if (def.needs.length === 0) throw new AtelierError('E_INTERNAL', `Metric ${def.id} compares the output with nothing`);
  return def;
}

/** Fail with E_INPUT_MISSING unless `inputs` carries everything the metric needs. */
export function requireInputs(def: MetricDefinition, inputs: MetricInputs): void {
  for (const need of def.needs) {
    if (inputs[need] === undefined) {
      throw new AtelierError('E_INPUT_MISSING', `The metric ${def.id} needs the ${need === 'frames' ? 'video frames' : need + ' image'}`, {
        hint: need === 'frames' ? 'it scores videos; give it consecutive frames' : `give the ${need} image with the output`,
      });
    }
  }
  if (def.needs.includes('content') && inputs.content && !inputs.content.sameSize(inputs.output)) {
    throw new AtelierError('E_INTERNAL', `The metric ${def.id} needs the content at the output's size`, {
      expected: `${inputs.output.width}×${inputs.output.height}`,
      received: `${inputs.content.width}×${inputs.content.height}`,
    });
  }
}

/** Pixel-aligned metrics compare images of one shape. */
/** The `parts` key of one channel's score: r, g, b for RGB images, channelN otherwise. */
export function channelPart(c: number, channels: number): string {
  return channels === 3 ? 'rgb'[c]! : `channel${c}`;
}

export function assertSameShape(a: Image, b: Image, what: string): void {
  if (!a.sameSize(b) || a.channels !== b.channels) {
    throw new AtelierError('E_PARAM', `${what} needs two images of one shape`, {
      received: `${a.width}×${a.height}×${a.channels} and ${b.width}×${b.height}×${b.channels}`,
      hint: 'resize one to the other first',
    });
  }
}

/** Default context for direct calls. */
export function metricContext(overrides: Partial<MetricContext> = {}): MetricContext {
  return {
    signal: new AbortController().signal,
    log: { debug() {}, info() {}, warn() {} },
    threads: 1,
    seed: 1,
    weights: 'installed',
    ...overrides,
  };
}

/** Run a metric: check its inputs, compute, and refuse non-finite headline values other than ±∞ by design. */
export async function computeMetric(def: MetricDefinition, inputs: MetricInputs, ctx: Partial<MetricContext> = {}): Promise<MetricResult> {
  requireInputs(def, inputs);
  const result = await def.compute(inputs, metricContext(ctx));
  if (Number.isNaN(result.value)) {
    throw new AtelierError('E_NUMERIC', `The metric ${def.id} produced NaN`, { hint: 'report the images that caused it' });
  }
  return result;
}
