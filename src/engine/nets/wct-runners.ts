import { existsSync, statSync } from 'node:fs';
import path from 'node:path';
import { AtelierError } from '../../core/errors.js';
import { Graph } from '../graph/graph.js';
import { lowerGraph, type EmittedModel } from '../graph/lower.js';
import { encodeModel, type OnnxGraph } from '../graph/onnx-model.js';
import { Float64Products, type ProductGraph } from '../features/float64-products.js';
import { compile } from '../runtime.js';
import { SwitchedRunner } from '../switched-runner.js';
import type { TensorMap } from '../weights/tensor.js';
import type { AutoencoderLevel } from './autoencoder-transfer.js';
import { readModelFile, readStateDict } from './model-files.js';
import {
  WCT_MODELS,
  randomWeights,
  wctDecoder,
  wctDecoderShapes,
  wctEncoder,
  wctEncoderShapes,
  wctLevelSpec,
  type WctNetwork,
} from './wct-autoencoders.js';

/**
 * The encoder/decoder of one WCT level, from the weights a method asked for: 'installed' (the
 * model store's copy of `vgg19-relu3_1` or `wct-cd16x`), 'random' (seeded, to try a pipeline
 * without the files), or the path of a folder holding the published files. Graphs have symbolic H
 * and W, so one serves every size. What is cached is the emitted graphs; each run opens sessions
 * of its own for one level and releases them when the level is done (`openWctLevel`). Sessions
 * use ORT's arena ('arena' memory): without it every megapixel activation is a fresh mapping the
 * kernel faults in and zeroes on every run, about 2× slower; but an arena holds what its largest
 * run needed until the session is released, so cached sessions of 3 or 5 levels would hold every
 * level's arena at once. Opening a level costs ~60 ms (vgg19 level 3, encoder and decoder).
 */

export type WeightsChoice = 'installed' | 'random' | string;

/** A level's graphs, ready to be opened as sessions. */
export interface WctLevelModels {
  encoder: EmittedModel;
  decoder: EmittedModel;
  /** The same graphs as ONNX structures (outputs with their shapes), for a cascade in one session. */
  graphs: { encoder: OnnxGraph; decoder: OnnxGraph };
  channels: number;
  stride: number;
}

/** An opened level: run it, then release its sessions (and their arenas). */
export type OpenWctLevel = AutoencoderLevel & { release(): Promise<void> };

/** Two networks' cascades (5 + 3 levels) and their random-weight twins for tests. */
const MAX_CACHED = 12;
const cache = new Map<string, Promise<WctLevelModels>>();

async function readPart(network: WctNetwork, source: WeightsChoice, file: string, shapes: Map<string, number[]>, seed: number): Promise<TensorMap> {
  if (source === 'random') return randomWeights(shapes, seed);
  if (source === 'installed') return readModelFile(WCT_MODELS[network], file);
  if (!existsSync(source) || !statSync(source).isDirectory()) {
    throw new AtelierError('E_FILE_NOT_FOUND', `No folder of ${WCT_MODELS[network]} weights at ${source}`, {
      expected: "'installed', 'random' or a folder holding the published files",
      subject: source,
    });
  }
  const full = path.join(source, file);
  if (!existsSync(full)) {
    throw new AtelierError('E_WEIGHTS_MISSING', `The folder ${source} lacks ${file}`, { subject: full, hint: `point --weights at the folder of the ${WCT_MODELS[network]} files` });
  }
  return readStateDict(full);
}

export function loadWctLevel(network: WctNetwork, level: number, source: WeightsChoice, seed: number): Promise<WctLevelModels> {
  const key = `${network}|${level}|${source}|${source === 'random' ? seed : ''}`;
  let pending = cache.get(key);
  if (!pending) {
    pending = (async () => {
      const spec = wctLevelSpec(network, level);
      const [ew, dw] = await Promise.all([
        readPart(network, source, spec.encoderFile, wctEncoderShapes(network, level), seed + 2 * level),
        readPart(network, source, spec.decoderFile, wctDecoderShapes(network, level), seed + 2 * level + 1),
      ]);
      const ge = new Graph();
      ge.output('features', wctEncoder(ge, ge.input('image', [1, 3, 'H', 'W']), ew, network, level));
      const gd = new Graph();
      gd.output('image', wctDecoder(gd, gd.input('features', [1, spec.channels, 'h', 'w']), dw, network, level));
      const [le, ld] = [lowerGraph(ge, { outputShapes: true }), lowerGraph(gd, { outputShapes: true })];
      const emitted = (l: typeof le): EmittedModel => ({ bytes: encodeModel(l.onnx), inputs: l.inputs, outputs: l.outputs });
      return { encoder: emitted(le), decoder: emitted(ld), graphs: { encoder: le.onnx, decoder: ld.onnx }, channels: spec.channels, stride: spec.stride };
    })();
    pending.catch(() => cache.delete(key));
    cache.set(key, pending);
    while (cache.size > MAX_CACHED) cache.delete(cache.keys().next().value!);
  }
  return pending;
}

/**
 * Sessions of one level for one run; the caller releases them when the level is done. `memory`
 * as `levelSessionMemory` (autoencoder-transfer.ts) says for the content at hand.
 */
export async function openWctLevel(models: WctLevelModels, threads: number, memory: 'arena' | 'lean'): Promise<OpenWctLevel> {
  const options = { threads, cache: false, memory, blockedPads: true };
  const [encoder, decoder] = await Promise.all([compile(models.encoder, options), compile(models.decoder, options)]);
  // Each session released once: the encoder may go early (encoderDone), the rest at release().
  let encoderReleased: Promise<void> | undefined;
  const releaseEncoder = () => (encoderReleased ??= encoder.release());
  return {
    encoder,
    decoder,
    channels: models.channels,
    stride: models.stride,
    encoderDone: releaseEncoder,
    release: async () => {
      await Promise.all([releaseEncoder(), decoder.release()]);
    },
  };
}

/**
 * Every level of a cascade (one network's levels, in order) in ONE session (`engine/switched-runner.ts`)
 * kept from one run to the next: its one ORT arena serves each level's encoder and decoder in
 * turn. Opening each level's two sessions per run and releasing them cost wct-cd16x at 512² about
 * a tenth of its run (ten sessions to open, ten fresh arenas to fault in). The float64 products of
 * the transforms (`Float64Products.graphs()`) are parts of the same session, so one thread pool
 * serves the whole transfer (see `Float64Products.on`). One cascade is kept (the last one asked
 * for); asking for another releases it. Only for contents whose levels all run in 'arena' memory
 * (`levelSessionMemory`); a run's levels share one `release()`, called once when the run is done:
 * it ends the run's use of the session (which stays open).
 */
export interface OpenWctCascade {
  levels: OpenWctLevel[];
  /** The feature transforms' products, on the cascade's session. */
  products: Float64Products;
}

const PRODUCT_PARTS = (): { name: string; graph: OnnxGraph }[] =>
  Object.entries(Float64Products.graphs()).map(([k, g]) => ({ name: `f64-${k}`, graph: lowerGraph(g, { outputShapes: true }).onnx }));
interface KeptCascade {
  models: readonly WctLevelModels[];
  threads: number;
  runner: Promise<SwitchedRunner>;
  /** Runs using it now; a replaced cascade is released when its last run ends. */
  users: number;
  replaced: boolean;
}
let kept: KeptCascade | undefined;

function releaseIfIdle(c: KeptCascade): Promise<void> {
  return c.replaced && c.users === 0 ? c.runner.then((r) => r.release()).catch(() => {}) : Promise.resolve();
}

export async function openWctCascade(models: readonly WctLevelModels[], threads: number): Promise<OpenWctCascade> {
  if (!kept || kept.threads !== threads || kept.models.length !== models.length || kept.models.some((m, i) => m !== models[i])) {
    const old = kept;
    const runner = SwitchedRunner.compile(
      [
        ...models.flatMap((m, i) => [
          { name: `e${i}`, graph: m.graphs.encoder },
          { name: `d${i}`, graph: m.graphs.decoder },
        ]),
        ...PRODUCT_PARTS(),
      ],
      { threads, memory: 'arena', blockedPads: true },
    );
    const fresh: KeptCascade = { models: [...models], threads, runner, users: 0, replaced: false };
    kept = fresh;
    runner.catch(() => {
      if (kept === fresh) kept = undefined;
    });
    if (old) {
      old.replaced = true;
      await releaseIfIdle(old);
    }
  }
  const cascade = kept;
  cascade.users++;
  let runner: SwitchedRunner;
  try {
    runner = await cascade.runner;
  } catch (e) {
    cascade.users--;
    throw e;
  }
  let released = false;
  const release = async () => {
    if (released) return;
    released = true;
    cascade.users--;
    await releaseIfIdle(cascade);
  };
  const part = (k: ProductGraph) => runner.part(`f64-${k}`);
  return {
    levels: models.map((m, i) => ({ encoder: runner.part(`e${i}`), decoder: runner.part(`d${i}`), channels: m.channels, stride: m.stride, release })),
    products: Float64Products.on({ gram: part('gram'), product: part('product'), centredGram: part('centredGram'), affine: part('affine') }),
  };
}

/** Release the kept cascade's session once no run uses it (tests, a server between jobs). */
export async function releaseWctCascade(): Promise<void> {
  const old = kept;
  kept = undefined;
  if (old) {
    old.replaced = true;
    await releaseIfIdle(old);
  }
}
