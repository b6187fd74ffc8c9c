import { existsSync, statSync } from 'node:fs';
import path from 'node:path';
import { AtelierError } from '../../core/errors.js';
import { Graph } from '../graph/graph.js';
import { emitModel, type EmittedModel } from '../graph/lower.js';
import { compile } from '../runtime.js';
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
      return { encoder: emitModel(ge), decoder: emitModel(gd), channels: spec.channels, stride: spec.stride };
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
  const options = { threads, cache: false, memory };
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
