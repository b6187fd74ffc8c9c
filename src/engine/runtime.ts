import { createHash } from 'node:crypto';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { availableParallelism, tmpdir } from 'node:os';
import path from 'node:path';
import ort from 'onnxruntime-node';
import { AtelierError, wrapError } from '../core/errors.js';
import { keepPadsBlocked } from './graph/blocked-pads.js';
import { nativeCall } from './native-calls.js';
import { Graph } from './graph/graph.js';
import { emitModel, type EmitOptions, type EmittedModel } from './graph/lower.js';

/** ONNX Runtime's own calls, each counted (native-calls.ts) so that a thread is never ended inside one. */
const createSession = (bytes: Uint8Array, options: ort.InferenceSession.SessionOptions): Promise<ort.InferenceSession> =>
  nativeCall(() => ort.InferenceSession.create(bytes, options));
const releaseSession = (session: ort.InferenceSession): Promise<void> => nativeCall(() => session.release());

/**
 * The only module that touches ONNX Runtime. Sessions are cached by a hash of the model bytes
 * and the session options, so building the same network twice costs one session.
 */

export type TensorData = Float32Array | Float64Array | BigInt64Array;

export interface TensorValue {
  data: TensorData;
  shape: number[];
}

export interface SessionOptions {
  /** Intra-op threads (default: all cores). */
  threads?: number;
  /**
   * ORT's CPU memory arena and memory-pattern planning. 'fast' (both on) is quickest for repeated
   * runs at one size, but keeps a plan for every input shape it met; 'lean' (both off) frees
   * activations between runs (lowest resident memory), but maps every large activation afresh,
   * which the kernel faults in and zeroes each run (about 2× slower on megapixel activations);
   * 'arena' (arena on, no plans) reuses the memory of earlier runs without a plan per shape:
   * about as fast as 'fast', holding what the largest run needed until the session is released.
   */
  memory?: 'fast' | 'lean' | 'arena';
  /**
   * ORT graph optimisation: 'all' adds the NCHWc layout transform (blocked convolutions; fastest
   * for deep conv stacks at inference), 'extended' stops before it (no reorder copies: less memory
   * when many activations are kept for a backward pass).
   */
  optimization?: 'all' | 'extended';
  /**
   * Keep reflect pads in ORT's blocked layout (`graph/blocked-pads.ts`): with optimisation 'all'
   * on the CPU, ORT optimises the model once more to hand its optimised form over, which is
   * rewritten and loaded. The same values; faster for networks of reflect-padded convolutions
   * (the WCT autoencoders, MicroAST), at the price of a second optimisation when the session is
   * made. Default off.
   */
  blockedPads?: boolean;
  /** Keep the session in the cache (default). Uncached sessions are freed by `Runner.release()`. */
  cache?: boolean;
  /**
   * Record ORT's per-node timings under this file-name prefix (uncached session); read them back
   * with `Runner.endProfiling()`. For finding where a graph spends its time (`bench/profile/johnson-step.mjs`).
   */
  profile?: string;
}

/**
 * Where sessions run. 'cuda' asks ONNX Runtime for its CUDA execution provider (NVIDIA GPUs; needs
 * an onnxruntime-node build with the provider and the CUDA libraries), keeping the CPU provider for
 * the nodes CUDA lacks. When the provider cannot be loaded the session is made on the CPU instead,
 * and the reason is reported once through the fallback listener (the CLI prints it).
 */
export type Device = 'cpu' | 'cuda';

export const DEVICES: readonly Device[] = ['cpu', 'cuda'];

let device: Device = process.env.ATELIER_DEVICE === 'cuda' ? 'cuda' : 'cpu';
let cudaUnavailable: string | undefined;
let onFallback: (message: string) => void = (message) => process.stderr.write(`warning: ${message}\n`);

/** Choose the device of the sessions compiled from now on (ATELIER_DEVICE=cuda sets it too). */
export function setDevice(d: Device, fallbackListener?: (message: string) => void): void {
  if (!DEVICES.includes(d)) {
    throw new AtelierError('E_PARAM', `Unknown device ${JSON.stringify(d)}`, { expected: DEVICES.join(' or '), received: String(d) });
  }
  device = d;
  if (fallbackListener) onFallback = fallbackListener;
}

/** The device sessions actually run on: 'cpu' after a CUDA fallback. */
export function activeDevice(): Device {
  return device === 'cuda' && cudaUnavailable === undefined ? 'cuda' : 'cpu';
}

const MAX_CACHED_SESSIONS = 8;
const cache = new Map<string, Promise<ort.InferenceSession>>();

/** A compiled graph ready to run. */
export class Runner {
  constructor(
    private readonly session: ort.InferenceSession,
    readonly inputNames: readonly string[],
    readonly outputNames: readonly string[],
    readonly hash: string,
    private readonly cached: boolean,
    /** The trace file-name prefix when the session profiles (`SessionOptions.profile`). */
    private readonly profilePrefix?: string,
  ) {}

  /** Stop profiling (see `SessionOptions.profile`): the path of the JSON trace ORT wrote. */
  endProfiling(): string {
    if (!this.profilePrefix) throw new AtelierError('E_INTERNAL', 'This session was not compiled with `profile`');
    this.session.endProfiling();
    const dir = path.dirname(path.resolve(this.profilePrefix));
    const base = path.basename(this.profilePrefix);
    const traces = readdirSync(dir).filter((f) => f.startsWith(base) && f.endsWith('.json')).sort();
    if (traces.length === 0) throw new AtelierError('E_ENGINE', 'ONNX Runtime wrote no profile', { expected: `${this.profilePrefix}*.json` });
    return path.join(dir, traces.at(-1)!);
  }

  /** Free an uncached session's memory now (cached sessions live in the cache). */
  async release(): Promise<void> {
    if (!this.cached) await releaseSession(this.session);
  }

  /** Run with the given feeds; returns every output (or those named in `fetches`). */
  async run(feeds: Record<string, TensorValue>, fetches?: string[]): Promise<Record<string, TensorValue>> {
    const ortFeeds: Record<string, ort.Tensor> = {};
    for (const name of this.inputNames) {
      const v = feeds[name];
      if (!v) {
        throw new AtelierError('E_ENGINE', `Missing input ${name} for the graph`, {
          expected: `feeds for ${this.inputNames.join(', ')}`,
          received: Object.keys(feeds).join(', ') || 'no feeds',
        });
      }
      ortFeeds[name] = new ort.Tensor(dtypeOf(v.data), v.data, v.shape);
    }
    let result: ort.InferenceSession.ReturnType;
    try {
      result = await nativeCall(() => this.session.run(ortFeeds, fetches ?? (this.outputNames as string[])));
    } catch (e) {
      const described = this.inputNames.map((n) => `${n} [${feeds[n]!.shape.join('×')}] ${dtypeOf(feeds[n]!.data)}`).join('; ');
      throw wrapError(e, 'E_ENGINE', 'ONNX Runtime failed to run the graph', {
        received: `inputs ${described}`,
        hint: 'check the input shapes against the network (e.g. channels, minimum size)',
      });
    }
    const out: Record<string, TensorValue> = {};
    for (const [name, t] of Object.entries(result)) out[name] = { data: t.data as TensorData, shape: t.dims.slice() };
    return out;
  }
}

/** Compile a graph (or emitted bytes) into a cached ORT session. */
export async function compile(graph: Graph | EmittedModel, options: SessionOptions & EmitOptions = {}): Promise<Runner> {
  const model = 'bytes' in graph ? graph : emitModel(graph, options);
  const threads = options.threads ?? Math.max(1, availableParallelism());
  const memory = options.memory ?? 'fast';
  const optimization = options.optimization ?? 'all';
  const target = activeDevice();
  const blockedPads = options.blockedPads === true && optimization === 'all' && target === 'cpu';
  const hash = createHash('sha256').update(model.bytes).update(`|${threads}|${memory}|${optimization}|${target}|${blockedPads}`).digest('hex');
  const cached = (options.cache ?? true) && !options.profile;
  let pending = cached ? cache.get(hash) : undefined;
  if (!pending) {
    const sessionOptions: ort.InferenceSession.SessionOptions = {
      intraOpNumThreads: threads,
      interOpNumThreads: 1,
      executionMode: 'sequential',
      graphOptimizationLevel: optimization,
      enableCpuMemArena: memory !== 'lean',
      enableMemPattern: memory === 'fast',
      logSeverityLevel: 3,
      ...(options.profile && { enableProfiling: true, profileFilePrefix: options.profile }),
    };
    pending =
      target === 'cuda'
        ? createSession(model.bytes, { ...sessionOptions, executionProviders: ['cuda', 'cpu'], logSeverityLevel: 4 }).catch((e: unknown) => {
            // sessions made in parallel may all fail before the first failure is recorded: say it once
            const first = cudaUnavailable === undefined;
            cudaUnavailable = e instanceof Error ? e.message : String(e);
            if (first) onFallback(`--device cuda: ONNX Runtime's CUDA provider could not be used (${cudaUnavailable.split('\n')[0]}); running on the CPU`);
            return createSession(model.bytes, sessionOptions);
          })
        : blockedPads
          ? createWithBlockedPads(model.bytes, sessionOptions)
          : createSession(model.bytes, sessionOptions);
    if (cached) {
      pending.catch(() => cache.delete(hash));
      cache.set(hash, pending);
    }
    while (cache.size > MAX_CACHED_SESSIONS) {
      const oldest = cache.keys().next().value!;
      const evicted = cache.get(oldest)!;
      cache.delete(oldest);
      void evicted.then((s) => releaseSession(s)).catch(() => {});
    }
  } else {
    // Most recently used last.
    cache.delete(hash);
    cache.set(hash, pending);
  }
  let session: ort.InferenceSession;
  try {
    session = await pending;
  } catch (e) {
    throw wrapError(e, 'E_ENGINE', 'ONNX Runtime could not load the graph', { hint: 'this is a bug in a network definition; please report it' });
  }
  return new Runner(session, model.inputs, model.outputs, hash, cached, options.profile);
}

let blockedPadsRefused = false;

/** The model as ORT optimises it at level 'all' on this machine, e.g. to see what `blockedPads` rewrites. */
export async function ortOptimizedModel(graph: Graph | EmittedModel, threads = 1): Promise<Uint8Array> {
  const model = 'bytes' in graph ? graph : emitModel(graph, {});
  const { session, bytes } = await optimizedModel(model.bytes, { intraOpNumThreads: threads, graphOptimizationLevel: 'all', logSeverityLevel: 3 });
  await releaseSession(session);
  return bytes;
}

/** A session of `bytes`, and the model as ORT optimised it (written to a scratch file and read back). */
async function optimizedModel(bytes: Uint8Array, options: ort.InferenceSession.SessionOptions): Promise<{ session: ort.InferenceSession; bytes: Uint8Array }> {
  const dir = mkdtempSync(path.join(tmpdir(), 'atelier-ort-'));
  try {
    const file = path.join(dir, 'optimized.onnx');
    const session = await createSession(bytes, { ...options, optimizedModelFilePath: file });
    return { session, bytes: readFileSync(file) };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/**
 * `SessionOptions.blockedPads`: the session of ORT's optimised model with its reflect pads kept in
 * the blocked layout, loaded without optimising it again. Where nothing is to be rewritten (no
 * NCHWc kernels on this CPU, no such pads) or the rewritten model does not load, the session ORT
 * made first, which computes the same.
 */
async function createWithBlockedPads(bytes: Uint8Array, options: ort.InferenceSession.SessionOptions): Promise<ort.InferenceSession> {
  const block = await nchwcBlockSize();
  if (block === 0) return createSession(bytes, options);
  // The first session only optimises (a profile, if asked for, is of the session kept). Where the
  // optimised model cannot be handed over (no writable temporary folder), the plain session; a
  // model ORT cannot load fails there with ORT's own message.
  let first: Awaited<ReturnType<typeof optimizedModel>>;
  try {
    first = await optimizedModel(bytes, { ...options, enableProfiling: false });
  } catch {
    return createSession(bytes, options);
  }
  const rewritten = keepPadsBlocked(first.bytes, block);
  if (rewritten.rewritten === 0) {
    if (!options.enableProfiling) return first.session;
    await releaseSession(first.session);
    return createSession(bytes, options);
  }
  let session: ort.InferenceSession;
  try {
    session = await createSession(rewritten.bytes, { ...options, graphOptimizationLevel: 'disabled' });
  } catch (e) {
    // A rewrite ORT refuses is a bug here, not the user's: say so once, and run ORT's own model.
    if (!blockedPadsRefused) process.emitWarning(`ONNX Runtime refused a model with reflect pads in its blocked layout (${e instanceof Error ? e.message.split('\n')[0] : String(e)}); running the model as ORT optimised it`);
    blockedPadsRefused = true;
    return first.session;
  }
  await releaseSession(first.session);
  return session;
}

/** Drop every cached session (tests, long-running servers between jobs). */
export async function releaseSessions(): Promise<void> {
  const all = [...cache.values()];
  cache.clear();
  await Promise.all(all.map((p) => p.then((s) => releaseSession(s)).catch(() => {})));
}

function dtypeOf(data: TensorData): 'float32' | 'float64' | 'int64' {
  if (data instanceof Float32Array) return 'float32';
  if (data instanceof Float64Array) return 'float64';
  return 'int64';
}

// ---------------------------------------------------------------- the CPU's NCHWc block
// (here, not in a file of its own: the probe compiles sessions and compile needs the probe)

/**
 * The channel block of ONNX Runtime's blocked (NCHWc) conv on this CPU (16 with AVX-512, 8 with
 * AVX2), or 0 where it has none: what `EmitOptions.nchwcBlock` needs to run training convs blocked
 * (`convRunsBlocked` in graph/lower.ts). MLAS picks the block at run time and its kernels exist
 * only on some CPUs, so this is found out, not assumed: a small conv with a run-time kernel is run
 * blocked with each candidate block and compared with the plain conv; the first that agrees wins.
 * Measured once per process (a few tiny sessions, tens of milliseconds).
 */
let probed: Promise<number> | undefined;

export function nchwcBlockSize(): Promise<number> {
  return (probed ??= probe());
}

async function probe(): Promise<number> {
  const channels = 16;
  const size = 5;
  const x = Float32Array.from({ length: channels * size * size }, (_, i) => Math.sin(i * 0.7));
  const w = Float32Array.from({ length: channels * channels * 9 }, (_, i) => Math.cos(i * 1.3));
  const build = () => {
    const g = new Graph();
    const input = g.input('x', [1, channels, size, size]);
    const weight = g.param('w', [channels, channels, 3, 3], w);
    g.output('y', g.conv(input, weight, undefined, { pad: 1 }));
    return g;
  };
  const feeds = { x: { data: x, shape: [1, channels, size, size] }, w: { data: w, shape: [channels, channels, 3, 3] } };
  const options = { threads: 1, paramsAsInputs: true, cache: false, memory: 'lean' as const };
  const plain = await compile(build(), options);
  const reference = (await plain.run(feeds)).y!.data as Float32Array;
  await plain.release();
  for (const block of [16, 8]) {
    try {
      const blocked = await compile(build(), { ...options, nchwcBlock: block });
      const y = (await blocked.run(feeds)).y!.data as Float32Array;
      await blocked.release();
      if (y.length === reference.length && y.every((v, i) => Math.abs(v - reference[i]!) <= 1e-4 * (1 + Math.abs(reference[i]!)))) return block;
    } catch {
      // no blocked kernels with this block here (or none at all): try the next, else plain convs
    }
  }
  return 0;
}
