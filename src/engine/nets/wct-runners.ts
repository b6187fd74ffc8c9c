import { existsSync, statSync } from 'node:fs';
import path from 'node:path';
import { AtelierError } from '../../core/errors.js';
import { Graph } from '../graph/graph.js';
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
 * Compiled encoder/decoder sessions of one WCT level, from the weights a method asked for:
 * 'installed' (the model store's copy of `vgg19-relu3_1` or `wct-cd16x`), 'random' (seeded, to try
 * a pipeline without the files), or the path of a folder holding the published files. Sessions are
 * compiled with symbolic H and W, so one serves every size. The sessions are this cache's own (not
 * the runtime's shared cache, which holds 8 and would release some of a 5-level cascade's 10 while
 * a run still uses them); a level evicted from here is released once no run can still hold it.
 */

export type WeightsChoice = 'installed' | 'random' | string;

/** Two networks' cascades (5 + 3 levels) and their random-weight twins for tests. */
const MAX_CACHED = 12;
const cache = new Map<string, Promise<AutoencoderLevel>>();

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

export function loadWctLevel(network: WctNetwork, level: number, source: WeightsChoice, seed: number, threads: number): Promise<AutoencoderLevel> {
  const key = `${network}|${level}|${source}|${source === 'random' ? seed : ''}|${threads}`;
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
      const [encoder, decoder] = await Promise.all([compile(ge, { threads, cache: false, memory: 'lean' }), compile(gd, { threads, cache: false, memory: 'lean' })]);
      return { encoder, decoder, channels: spec.channels, stride: spec.stride };
    })();
    pending.catch(() => cache.delete(key));
    cache.set(key, pending);
    while (cache.size > MAX_CACHED) {
      const oldest = cache.keys().next().value!;
      const evicted = cache.get(oldest)!;
      cache.delete(oldest);
      // Give runs that fetched it before the eviction time to finish.
      setTimeout(() => void evicted.then((l) => Promise.all([l.encoder.release(), l.decoder.release()])).catch(() => {}), 60_000).unref();
    }
  }
  return pending;
}
