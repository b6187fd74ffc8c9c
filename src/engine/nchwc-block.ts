import { Graph } from './graph/graph.js';
import { compile } from './runtime.js';

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
