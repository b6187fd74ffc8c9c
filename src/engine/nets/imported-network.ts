import { existsSync, statSync } from 'node:fs';
import path from 'node:path';
import { AtelierError } from '../../core/errors.js';
import { importGraphDef } from '../import/graphdef-import.js';
import type { NormStatistics } from '../import/foreign-values.js';
import type { ImportedGraph, ImportOptions } from '../import/imported-graph.js';
import { importTflite } from '../import/tflite-import.js';
import { compile, type Runner, type SessionOptions } from '../runtime.js';
import { StagedRunner } from '../staged-runner.js';
import { readGraphDef, type TfGraph } from '../weights/graphdef.js';
import { readTflite, type TfliteModel } from '../weights/tflite.js';
import { Image } from '../../core/image.js';
import { resizeImage } from '../../core/resample.js';
import { modelFiles } from '../store.js';
import type { ImageNetwork } from './tiled-image-net.js';

/**
 * A published TFLite or frozen-TF network, imported into engine graphs and compiled once per input
 * size (the importer fixes sizes so shape arithmetic folds away). Parsed files stay cached for the
 * session: building a second size costs an import and a session, not a read.
 */

export type ForeignFormat = 'tflite' | 'graphdef';

const parsed = new Map<string, Promise<TfliteModel | TfGraph>>();
const MAX_RUNNERS = 6;
/**
 * Networks by file, import options and threads, so that a method's second run reuses the first's
 * imported graphs: without this each run re-imported and re-emitted the graph before finding its
 * session in the runtime's cache (measured by bench/models-load.mjs: 1.7–2.2 s per run for
 * magenta-arbitrary, whitebox-cartoon and animeganv2-hayao at 512², load ~15).
 */
const instances = new Map<string, ImportedNetwork>();
const MAX_INSTANCES = 8;

export class ImportedNetwork {
  private readonly runners = new Map<string, Promise<{ runner: Runner; graph: ImportedGraph }>>();
  private readonly stagedRunners = new Map<string, Promise<{ runner: StagedRunner; graph: ImportedGraph }>>();

  private constructor(
    readonly file: string,
    readonly format: ForeignFormat,
    private readonly model: TfliteModel | TfGraph,
    private readonly base: ImportOptions,
    private readonly threads: number,
    /**
     * The sessions' memory mode. Default 'arena' (ORT's arena without memory-pattern plans): at
     * 1024² a third less peak memory than with plans for the same CPU time (multistyle 772 against
     * 1022 MB, arbitrary 603 / 814, cartoon 1005 / 1491; scratch A/B, 2 threads, 2 warm runs each).
     */
    private readonly memory: SessionOptions['memory'] = 'arena',
  ) {}

  /**
   * A network derived from a published GraphDef by rewriting it (e.g. rows added to the 26-style
   * network's tables); the parse of the file is shared, each derivation is its own network.
   */
  static async derived(file: string, derive: (tf: TfGraph) => TfGraph, base: ImportOptions = {}, threads = 2): Promise<ImportedNetwork> {
    const net = await ImportedNetwork.load(file, base, threads);
    if (net.format !== 'graphdef') throw new AtelierError('E_INTERNAL', 'Only GraphDef networks can be derived');
    return new ImportedNetwork(file, 'graphdef', derive(net.model as TfGraph), base, threads);
  }

  /** `memory`: the sessions' memory mode (runtime.ts `SessionOptions.memory`). */
  static async load(file: string, base: ImportOptions = {}, threads = 2, memory: SessionOptions['memory'] = 'arena'): Promise<ImportedNetwork> {
    const format: ForeignFormat = file.endsWith('.pb') ? 'graphdef' : 'tflite';
    let pending = parsed.get(file);
    if (!pending) {
      pending = format === 'graphdef' ? readGraphDef(file) : readTflite(file);
      pending.catch(() => parsed.delete(file));
      parsed.set(file, pending);
    }
    const model = await pending;
    // A caller building into its own graph (base.graph), or adapting its weights (base.paramHook:
    // LoRA, a function the cache key cannot tell apart), gets its own network.
    if (base.graph || base.paramHook) return new ImportedNetwork(file, format, model, base, threads, memory);
    const key = `${file}|${JSON.stringify(base)}|${threads}|${memory}`;
    const known = instances.get(key);
    // The same parse: a file re-read after a reinstall gets a fresh network.
    if (known && known.model === model) {
      instances.delete(key);
      instances.set(key, known);
      return known;
    }
    const net = new ImportedNetwork(file, format, model, base, threads, memory);
    instances.set(key, net);
    while (instances.size > MAX_INSTANCES) instances.delete(instances.keys().next().value!);
    return net;
  }

  /**
   * The graph for these input shapes compiled in stages (`engine/staged-runner.ts`): its first
   * output, with progress and a chance to stop between stages.
   */
  async staged(inputShapes: Record<string, number[]>, stages: number | 'auto'): Promise<{ runner: StagedRunner; graph: ImportedGraph }> {
    const key = `${JSON.stringify(inputShapes)}|staged ${stages}`;
    let pending = this.stagedRunners.get(key);
    if (!pending) {
      pending = (async () => {
        const options = { ...this.base, inputShapes, normStatistics: 'own' as const };
        const graph =
          this.format === 'graphdef' ? importGraphDef(this.model as TfGraph, options as ImportOptions & { outputs: string[] }) : importTflite(this.model as TfliteModel, options);
        return { runner: await StagedRunner.compile(graph.graph, [graph.outputs[0]!.name], stages, { threads: this.threads, memory: this.memory }), graph };
      })();
      pending.catch(() => this.stagedRunners.delete(key));
      this.stagedRunners.set(key, pending);
      while (this.stagedRunners.size > MAX_RUNNERS) {
        const oldest = this.stagedRunners.keys().next().value!;
        void this.stagedRunners.get(oldest)!.then((r) => r.runner.release(), () => {});
        this.stagedRunners.delete(oldest);
      }
    }
    return pending;
  }

  /** The compiled graph for these input shapes (foreign order, NHWC for images). */
  async at(inputShapes: Record<string, number[]>, normStatistics: NormStatistics = 'own'): Promise<{ runner: Runner; graph: ImportedGraph }> {
    const key = `${JSON.stringify(inputShapes)}|${normStatistics}`;
    let pending = this.runners.get(key);
    if (!pending) {
      const options = { ...this.base, inputShapes, normStatistics };
      pending = (async () => {
        const graph =
          this.format === 'graphdef' ? importGraphDef(this.model as TfGraph, options as ImportOptions & { outputs: string[] }) : importTflite(this.model as TfliteModel, options);
        return { runner: await compile(graph.graph, { threads: this.threads, memory: this.memory }), graph };
      })();
      pending.catch(() => this.runners.delete(key));
      this.runners.set(key, pending);
      while (this.runners.size > MAX_RUNNERS) this.runners.delete(this.runners.keys().next().value!);
    }
    return pending;
  }
}

/**
 * A `weights` value naming a model of the store (made here: `atelier lora merge`) or its .safetensors
 * file, rather than 'installed', 'random' or a folder of published files.
 */
export function isStoredModelName(weights: string): boolean {
  if (weights === 'installed' || weights === 'random') return false;
  if (weights.endsWith('.safetensors')) return true;
  return /^[a-z0-9][a-z0-9_-]*$/.test(weights) && !existsSync(weights);
}

/**
 * Where a method's model file is: in the model store (`weights: 'installed'`; E_WEIGHTS_MISSING with
 * the pull command when the model, or the variant holding the file, is not installed), or in a
 * folder the user names that holds the published files.
 */
export function foreignModelFile(model: string, file: string, weights: string, variant?: string): string {
  if (weights === 'installed') return modelFiles(model, variant === undefined ? {} : { variant }).file(file);
  const full = path.resolve(weights, file);
  if (!existsSync(weights) || !statSync(weights).isDirectory()) {
    throw new AtelierError('E_PARAM', `weights must be 'installed' or a folder holding ${model}'s files`, { subject: 'weights', received: weights });
  }
  if (!existsSync(full)) {
    throw new AtelierError('E_WEIGHTS_MISSING', `The folder has no ${file} (a file of ${model})`, {
      subject: weights,
      expected: full,
      hint: `run \`atelier models pull ${model}\` and use weights 'installed', or point weights at a folder holding ${file}`,
    });
  }
  return full;
}

export interface ImageIo {
  /** The graph input that takes the image. */
  input: string;
  /** Other inputs, fixed for this use (a style vector, a style choice), with their shapes. */
  extra?: Record<string, { data: Float32Array; shape: number[] }>;
  /** The network's value range: [0, 1] images map to [lo, hi] on the way in and back on the way out. */
  range: [number, number];
  /** Input sides must be multiples of this (its stride-2 steps). */
  multiple: number;
  /** Smallest side (default 64: room for the reflection pads at a quarter of the resolution). */
  minSide?: number;
  /**
   * Tiles share norm statistics captured from the whole image shrunk to one tile (default: each
   * tile uses its own). Measured on Magenta's multi-style net, 1024×512 in 512-px tiles: mean
   * |difference| to the untiled run 19.5/255 shared against 11.4/255 per tile, with no visible
   * seam either way at that tile size: the shrunk image's statistics are further off than a big
   * tile's own, so the default stays per tile.
   */
  shareStatistics?: boolean;
  /**
   * Run a one-tile image of at least `STAGED_TILE_PIXELS` in this many stages (default
   * `IMPORTED_STAGES`): progress and a chance to stop between them. 1 runs it whole.
   */
  stages?: number | 'auto';
}

/**
 * Stages a one-tile run of an imported network runs in, for a report and a chance to stop between
 * them (runs of several tiles report per tile and run whole tiles). 'auto': as many as the graph's
 * estimated cost is worth, cut only where a cut is cheap (`graph/stages.ts`: about 1.5 s of one
 * thread per stage, 3 at most, a cut at most 2.5 % of the run): AnimeGAN 512² and 1024² run in 2;
 * White-box runs whole (its U-Net skips cross any cut: 56 M values at 1024², 14 % of the run),
 * as do the Magenta networks (under a second). All stages run in one session
 * (`engine/switched-runner.ts`), sharing one memory arena. Measured in one process, one thread, load
 * 8–11: AnimeGAN 512² whole 2.78 s CPU, in 2 stages 2.80 s, the same output; before (4 stages in
 * sessions of their own that freed their memory after each run) 4.27 s (+54 %), White-box 1024²
 * 4.35 against 2.74 s (+59 %). 1 here turns staging off.
 */
export const IMPORTED_STAGES: number | 'auto' = 'auto';
/** Smaller tiles run in one session: under about a second of one thread, nothing to report between. */
export const STAGED_TILE_PIXELS = 512 * 512;
/** Progress inside a staged tile counts thousandths of its estimated cost (stages are not of equal cost). */
const SHARE_STEPS = 1000;

/**
 * An imported network as an image-to-image function for `runTiled`. An image that fits one tile
 * runs exactly as published; in tiles, each tile's norms use its own statistics, or with
 * `shareStatistics` one set for every tile (those of the whole image shrunk to fit one tile).
 */
export function importedImageNetwork(net: ImportedNetwork, io: ImageIo): ImageNetwork {
  const [lo, hi] = io.range;
  const stages = io.stages ?? IMPORTED_STAGES;
  let shared: Map<string, Float32Array> | undefined;
  // Tiles sharing statistics run in one session (the statistics are fed to it).
  const staged = (width: number, height: number, inTile: boolean) => inTile && stages !== 1 && !shared && width * height >= STAGED_TILE_PIXELS;
  const shapesFor = (width: number, height: number) => {
    const shapes: Record<string, number[]> = { [io.input]: [1, height, width, 3] };
    for (const [k, v] of Object.entries(io.extra ?? {})) shapes[k] = v.shape;
    return shapes;
  };
  const toNet = (data: Float32Array) => {
    if (lo === 0 && hi === 1) return data;
    // A plain loop: Float32Array.from with a map function took ~150 ms of a 1024² tile's first stage.
    const out = new Float32Array(data.length);
    for (let i = 0; i < data.length; i++) out[i] = lo + data[i]! * (hi - lo);
    return out;
  };
  const feedsFor = (graph: ImportedGraph, data: Float32Array, width: number, height: number) => {
    const feeds: Record<string, { data: Float32Array; shape: number[] }> = { [io.input]: { data: toNet(data), shape: [1, 3, height, width] } };
    for (const [k, v] of Object.entries(io.extra ?? {})) feeds[k] = { data: v.data, shape: graph.inputs.find((i) => i.name === k)!.shape };
    return feeds;
  };
  return {
    multiple: io.multiple,
    minSide: io.minSide ?? 64,
    async prepare(data, width, height, tile) {
      if (!io.shareStatistics) return;
      // The whole image shrunk to fit one tile (sides multiples of the network's), its statistics captured.
      const scale = Math.min(1, tile / Math.max(width, height));
      const w = Math.max(io.multiple, Math.floor((width * scale) / io.multiple) * io.multiple);
      const h = Math.max(io.multiple, Math.floor((height * scale) / io.multiple) * io.multiple);
      const small = resizeImage(new Image(width, height, 3, data), w, h);
      const { runner, graph } = await net.at(shapesFor(w, h), 'capture');
      if (graph.statistics.length === 0) return;
      const out = await runner.run(feedsFor(graph, small.data, w, h), graph.statistics.map((s) => s.name));
      shared = new Map(graph.statistics.map((s) => [s.name, out[s.name]!.data as Float32Array]));
    },
    async ready(width, height, inTile) {
      if (staged(width, height, inTile)) await net.staged(shapesFor(width, height), stages);
      else await net.at(shapesFor(width, height), shared ? 'fed' : 'own');
    },
    async run(data, width, height, progress) {
      let y: Float32Array;
      if (staged(width, height, progress !== undefined)) {
        const { runner, graph } = await net.staged(shapesFor(width, height), stages);
        y = (await runner.run(feedsFor(graph, data, width, height), { ...(progress?.signal && { signal: progress.signal }), ...(progress && { onStage: (share: number) => progress.step(Math.round(share * SHARE_STEPS), SHARE_STEPS) }) }))[graph.outputs[0]!.name]!.data as Float32Array;
      } else {
        const { runner, graph } = await net.at(shapesFor(width, height), shared ? 'fed' : 'own');
        const feeds = feedsFor(graph, data, width, height);
        if (shared) for (const s of graph.statistics) feeds[s.name] = { data: shared.get(s.name)!, shape: s.shape };
        y = (await runner.run(feeds, [graph.outputs[0]!.name]))[graph.outputs[0]!.name]!.data as Float32Array;
      }
      if (lo === 0 && hi === 1) return y;
      const out = new Float32Array(y.length);
      for (let i = 0; i < y.length; i++) out[i] = (y[i]! - lo) / (hi - lo);
      return out;
    },
  };
}
