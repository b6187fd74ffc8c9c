import { spawnSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { Rng } from '../../../src/core/rng.js';
import { Graph } from '../../../src/engine/graph/graph.js';
import { baseFingerprint, checkRank, loadLoraStack, parseLoraSpec, readLoraAdapter, writeLoraAdapter, type LoraAdapter } from '../../../src/engine/lora/adapter.js';
import { runtimeLora, trainingHook } from '../../../src/engine/lora/graph-adapter.js';
import { mergeLora } from '../../../src/engine/lora/merge.js';
import { chooseTargets, initialPair } from '../../../src/engine/lora/targets.js';
import { randomTransformerNetWeights, transformerNet, transformerNetShapes, upsampleConv, PYTORCH_EXAMPLES_NET, ENGSTROM_NET, type JohnsonNetSpec } from '../../../src/engine/nets/transformer-net.js';
import { compile } from '../../../src/engine/runtime.js';
import { writeSafetensors } from '../../../src/engine/weights/safetensors.js';
import type { TensorMap } from '../../../src/engine/weights/tensor.js';
import { tempDir } from '../../helpers/fixtures.js';
import { torchPython } from '../../helpers/torch-reference.js';
import { gradientCheck } from '../gradcheck.js';

const SCRIPT = fileURLToPath(new URL('../../helpers/lora_reference.py', import.meta.url));
const tmp = tempDir('atelier-lora-');
afterAll(() => tmp.cleanup());

const SMALL: JohnsonNetSpec = { ...PYTORCH_EXAMPLES_NET, width: 4 };

/** An adapter with random A and B (B not zero, so it changes the network) on the given weights. */
function randomAdapter(base: TensorMap, names: string[], rank: number, alpha: number, seed: number): LoraAdapter {
  const rng = new Rng(seed);
  return {
    base: 'test-base',
    baseSha256: baseFingerprint(names.map((n) => base.get(n)!)),
    network: 'johnson',
    rank,
    alpha,
    extra: {},
    layers: names.map((name) => {
      const shape = base.get(name)!.shape;
      const { a } = initialPair(shape, rank, rng);
      const b = Float32Array.from({ length: shape[0]! * rank }, () => rng.uniform(-0.3, 0.3));
      return { name, shape, a, b };
    }),
  };
}

function python(spec: object): string {
  const file = tmp.file(`spec-${Math.random().toString(36).slice(2)}.json`);
  writeFileSync(file, JSON.stringify(spec));
  const r = spawnSync(torchPython!, [SCRIPT, file], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(r.stderr);
  return r.stdout;
}

async function runNet(weights: TensorMap, spec: JohnsonNetSpec, image: Float32Array, side: number, hook?: ReturnType<typeof runtimeLora>): Promise<Float32Array> {
  const g = new Graph();
  if (hook) g.paramHook = hook.hook;
  g.output('y', transformerNet(g, g.input('image', [1, 3, side, side]), weights, spec));
  hook?.finish();
  const runner = await compile(g, { threads: 1, cache: false });
  const out = (await runner.run({ image: { data: image, shape: [1, 3, side, side] } })).y!.data as Float32Array;
  await runner.release();
  return out;
}

/** A raw float32 file (copied out of Node's pooled buffer). */
const readF32 = (file: string) => {
  const b = readFileSync(file);
  return new Float32Array(b.buffer.slice(b.byteOffset, b.byteOffset + b.byteLength));
};

const maxRel = (a: Float32Array, b: Float32Array) => {
  let d = 0;
  let m = 0;
  for (let i = 0; i < a.length; i++) {
    d = Math.max(d, Math.abs(a[i]! - b[i]!));
    m = Math.max(m, Math.abs(b[i]!));
  }
  return d / m;
};

describe('LoRA math', () => {
  const base = randomTransformerNetWeights(3, SMALL);
  const names = ['conv2.conv2d.weight', 'res1.conv1.conv2d.weight', 'deconv1.conv2d.weight'];
  const first = randomAdapter(base, names, 2, 4, 1);
  const second = randomAdapter(base, names.slice(1), 3, 1.5, 2);

  it.skipIf(!torchPython)('merged weights equal W + Σ w·(α/r)·B·A computed by numpy from the files', async () => {
    await writeLoraAdapter(tmp.file('first.safetensors'), first);
    await writeLoraAdapter(tmp.file('second.safetensors'), second);
    await writeSafetensors(tmp.file('base.safetensors'), base.values());
    const stack = await loadLoraStack([tmp.file('first.safetensors:0.7'), `${tmp.file('second.safetensors')}:-1.25`]);
    expect(stack.map((s) => s.weight)).toEqual([0.7, -1.25]);
    const merged = mergeLora(base, stack, 'test-base');
    const order = JSON.parse(
      python({
        kind: 'merge',
        base: tmp.file('base.safetensors'),
        adapters: [
          { file: tmp.file('first.safetensors'), weight: 0.7 },
          { file: tmp.file('second.safetensors'), weight: -1.25 },
        ],
        out: tmp.file('merged.f32'),
      }),
    ) as string[];
    expect(order).toEqual([...names].sort());
    const ref = readF32(tmp.file('merged.f32'));
    let at = 0;
    for (const n of order) {
      const mine = merged.get(n)!.data;
      const theirs = ref.subarray(at, at + mine.length);
      at += mine.length;
      expect(maxRel(mine, theirs), n).toBeLessThan(1e-6);
      // and the adapter really changed the weight
      expect(maxRel(base.get(n)!.data, theirs), n).toBeGreaterThan(1e-3);
    }
    expect(at).toBe(ref.length);
    // weights not named by an adapter are the base's own
    expect(merged.get('conv1.conv2d.weight')).toBe(base.get('conv1.conv2d.weight'));
  });

  it('a network with the adapters applied at run time equals the merged network (PyTorch-examples and Engstrom layouts)', async () => {
    const side = 24;
    const image = Float32Array.from({ length: 3 * side * side }, (_, i) => 127 + 100 * Math.sin(i * 0.37));
    for (const spec of [SMALL, { ...ENGSTROM_NET, width: 4 }]) {
      const b = randomTransformerNetWeights(5, spec);
      // includes an upsampling / transposed conv (its weight is rearranged before the conv) and the 9×9 first conv
      const shapes = transformerNetShapes(spec);
      const chosen = ['conv1', 'res2.conv2', 'deconv1', 'deconv2'].map((k) => [...shapes.keys()].find((n) => n.startsWith(`${k}.`) && n.endsWith('weight'))!);
      const stack = [
        { adapter: randomAdapter(b, chosen, 2, 2, 7), weight: 0.8, source: 'a' },
        { adapter: randomAdapter(b, chosen.slice(0, 2), 1, 3, 8), weight: 1.5, source: 'b' },
      ];
      const runtime = await runNet(b, spec, image, side, runtimeLora(stack, 'test'));
      const merged = await runNet(mergeLora(b, stack, 'test'), spec, image, side);
      const plain = await runNet(b, spec, image, side);
      expect(maxRel(runtime, merged), spec.upsampling).toBeLessThan(1e-4);
      expect(maxRel(plain, merged), spec.upsampling).toBeGreaterThan(1e-2);
    }
  });

  it('the training form (low-rank side branch of each conv) computes the merged network too', async () => {
    const side = 16;
    const image = Float32Array.from({ length: 3 * side * side }, (_, i) => 127 + 90 * Math.cos(i * 0.21));
    const adapter = randomAdapter(base, names, 2, 4, 9);
    const { hook, trained } = trainingHook({ kind: 'lora', targets: new Map(adapter.layers.map((l) => [l.name, { a: l.a, b: l.b }])), rank: 2, alpha: 4 });
    const g = new Graph();
    g.paramHook = hook;
    g.output('y', transformerNet(g, g.input('image', [1, 3, side, side]), base, SMALL));
    expect(trained).toEqual(names.flatMap((n) => [`${n}.lora_A`, `${n}.lora_B`]));
    // only A and B are params: the base is frozen into constants
    expect(g.params.map((p) => p.name)).toEqual(trained);
    const runner = await compile(g, { threads: 1, cache: false, paramsAsInputs: true });
    const feeds: Record<string, { data: Float32Array; shape: number[] }> = { image: { data: image, shape: [1, 3, side, side] } };
    for (const l of adapter.layers) {
      feeds[`${l.name}.lora_A`] = { data: l.a, shape: [2, l.a.length / 2] };
      feeds[`${l.name}.lora_B`] = { data: l.b, shape: [l.shape[0]!, 2] };
    }
    const branch = (await runner.run(feeds)).y!.data as Float32Array;
    const merged = await runNet(mergeLora(base, [{ adapter, weight: 1, source: 'x' }], 'x'), SMALL, image, side);
    expect(maxRel(branch, merged)).toBeLessThan(1e-4);
  });

  it.skipIf(!torchPython)('the side branch of one conv equals PyTorch conv2d(x, W) + s·conv1×1(conv2d(x, A), B)', async () => {
    const rng = new Rng(11);
    const [cout, cin, k, r, side, stride, pad, scale] = [6, 5, 3, 2, 9, 2, 1, 0.75];
    const rand = (n: number) => Float32Array.from({ length: n }, () => rng.uniform(-1, 1));
    const x = rand(cin * side * side);
    const w = rand(cout * cin * k * k);
    const a = rand(r * cin * k * k);
    const b = rand(cout * r);
    const g = new Graph();
    const W = g.withLowRank(g.constant(w, [cout, cin, k, k]), [{ a: g.constant(a, [r, cin * k * k]), b: g.constant(b, [cout, r]), scale }]);
    g.output('y', g.conv(g.input('x', [1, cin, side, side]), W, undefined, { stride, pad }));
    const runner = await compile(g, { threads: 1, cache: false });
    const mine = (await runner.run({ x: { data: x, shape: [1, cin, side, side] } })).y!;
    for (const [n, v] of Object.entries({ x, w, a, b })) writeFileSync(tmp.file(`${n}.f32`), v);
    const shape = JSON.parse(
      python({ kind: 'conv', x: tmp.file('x.f32'), xShape: [1, cin, side, side], w: tmp.file('w.f32'), wShape: [cout, cin, k, k], a: tmp.file('a.f32'), b: tmp.file('b.f32'), rank: r, scale, stride, pad, out: tmp.file('y.f32') }),
    ) as number[];
    expect(mine.shape).toEqual(shape);
    expect(maxRel(mine.data as Float32Array, readF32(tmp.file('y.f32')))).toBeLessThan(1e-5);
  });

  it('gradients through the side branch and through W + ΔW match finite differences', async () => {
    const [cout, cin, k, r] = [4, 3, 3, 2];
    const w = Float32Array.from({ length: cout * cin * k * k }, (_, i) => Math.sin(i));
    // conv with groups 1 (branch form) and a transposed use of the same weight (merged form)
    const check = await gradientCheck(
      (g) => {
        const W = g.withLowRank(g.constant(w, [cout, cin, k, k]), [{ a: g.input('A', [r, cin * k * k]), b: g.input('B', [cout, r]), scale: 0.5 }]);
        const y = g.conv(g.input('x', [1, cin, 6, 6]), W, undefined, { pad: 1 });
        return g.add(g.sumAll(y), g.sumAll(g.mul(g.transpose(W, [1, 0, 2, 3]), g.transpose(W, [1, 0, 2, 3]))));
      },
      { A: [r, cin * k * k], B: [cout, r], x: [1, cin, 6, 6] },
    );
    expect(check.worst).toBeLessThan(2e-3);
  });

  it('the fast net\'s upsampling conv takes its update as a branch: the same output as W + ΔW whole, and gradients that match finite differences', async () => {
    const [cout, cin, r, side] = [4, 3, 2, 5];
    const w = Float32Array.from({ length: cout * cin * 9 }, (_, i) => Math.sin(i));
    const rng = new Rng(5);
    const a = Float32Array.from({ length: r * cin * 9 }, () => rng.uniform(-1, 1));
    const b = Float32Array.from({ length: cout * r }, () => rng.uniform(-1, 1));
    const x = Float32Array.from({ length: cin * side * side }, () => rng.uniform(-1, 1));
    const bias = new Float32Array(cout).fill(0.1);
    const run = async (branch: boolean) => {
      const g = new Graph();
      const frozen = g.constant(w, [cout, cin, 3, 3]);
      const A = g.constant(a, [r, cin * 9]);
      const B = g.constant(b, [cout, r]);
      const W = branch ? g.withLowRank(frozen, [{ a: A, b: B, scale: 0.5 }]) : g.add(frozen, g.scale(g.reshape(g.matmul(B, A), [cout, cin, 3, 3]), 0.5));
      g.output('y', upsampleConv(g, g.input('x', [1, cin, side, side]), W, g.constant(bias, [cout])));
      const runner = await compile(g, { threads: 1, cache: false });
      try {
        return (await runner.run({ x: { data: x, shape: [1, cin, side, side] } })).y!;
      } finally {
        await runner.release();
      }
    };
    const [branch, whole] = [await run(true), await run(false)];
    expect(branch.shape).toEqual([1, cout, 2 * side, 2 * side]);
    expect(maxRel(branch.data as Float32Array, whole.data as Float32Array)).toBeLessThan(1e-5);
    const check = await gradientCheck(
      (g) => {
        const W = g.withLowRank(g.constant(w, [cout, cin, 3, 3]), [{ a: g.input('A', [r, cin * 9]), b: g.input('B', [cout, r]), scale: 0.5 }]);
        const y = upsampleConv(g, g.input('x', [1, cin, side, side]), W, g.constant(bias, [cout]));
        return g.sumAll(g.mul(y, y));
      },
      { A: [r, cin * 9], B: [cout, r], x: [1, cin, side, side] },
    );
    expect(check.worst).toBeLessThan(2e-3);
  });
});

describe('LoRA files and bad input', () => {
  const base = randomTransformerNetWeights(4, SMALL);
  const names = ['res1.conv1.conv2d.weight', 'res1.conv2.conv2d.weight'];

  it('round-trips through safetensors with its metadata and documented key names', async () => {
    const adapter = randomAdapter(base, names, 3, 6, 3);
    adapter.extra = { trainer: 'test', steps: '5' };
    await writeLoraAdapter(tmp.file('rt.safetensors'), adapter);
    const back = await readLoraAdapter(tmp.file('rt.safetensors'));
    expect(back).toEqual(adapter);
    const header = JSON.parse(readFileSync(tmp.file('rt.safetensors')).subarray(8, 8 + Number(readFileSync(tmp.file('rt.safetensors')).readBigUInt64LE(0))).toString('utf8'));
    expect(Object.keys(header).filter((k) => k !== '__metadata__').sort()).toEqual(names.flatMap((n) => [`${n}.lora_A`, `${n}.lora_B`]).sort());
    expect(header['res1.conv1.conv2d.weight.lora_A'].shape).toEqual([3, 16 * 9]);
    expect(header['res1.conv1.conv2d.weight.lora_B'].shape).toEqual([16, 3]);
    expect(header.__metadata__).toMatchObject({ format: 'atelier-lora-1', base: 'test-base', base_sha256: adapter.baseSha256, rank: '3', alpha: '6' });
  });

  it('refuses truncated and damaged files with E_WEIGHTS_CORRUPT', async () => {
    await writeLoraAdapter(tmp.file('ok.safetensors'), randomAdapter(base, names, 2, 2, 4));
    const bytes = readFileSync(tmp.file('ok.safetensors'));
    for (const cut of [4, 20, bytes.length - 7]) {
      writeFileSync(tmp.file('cut.safetensors'), bytes.subarray(0, cut));
      await expect(readLoraAdapter(tmp.file('cut.safetensors')), `cut at ${cut}`).rejects.toMatchObject({ code: 'E_WEIGHTS_CORRUPT' });
    }
    const garbled = Buffer.from(bytes);
    garbled.write('{{{{', 8);
    writeFileSync(tmp.file('garbled.safetensors'), garbled);
    await expect(readLoraAdapter(tmp.file('garbled.safetensors'))).rejects.toMatchObject({ code: 'E_WEIGHTS_CORRUPT' });
  });

  it('refuses an adapter made for another base, naming both shapes', async () => {
    const wide = randomTransformerNetWeights(4, { ...SMALL, width: 8 });
    const adapter = randomAdapter(wide, names, 2, 2, 5);
    adapter.base = 'wide-base';
    const stack = [{ adapter, weight: 1, source: 'wide.safetensors' }];
    expect(() => mergeLora(base, stack, 'narrow-base')).toThrow(
      expect.objectContaining({ code: 'E_WEIGHTS_INVALID', message: expect.stringMatching(/res1\.conv1\.conv2d\.weight is \[32, 32, 3, 3\] in it, \[16, 16, 3, 3\] in narrow-base/) }),
    );
    // the same at run time, while the graph is built
    const g = new Graph();
    g.paramHook = runtimeLora(stack, 'narrow-base').hook;
    expect(() => transformerNet(g, g.input('image', [1, 3, 16, 16]), base, SMALL)).toThrow(expect.objectContaining({ code: 'E_WEIGHTS_INVALID', message: expect.stringMatching(/\[32, 32, 3, 3\].*\[16, 16, 3, 3\]/) }));
    // a weight the network does not have at all
    const foreign = randomAdapter(base, names, 2, 2, 6);
    foreign.layers[0] = { ...foreign.layers[0]!, name: 'decoder.dec1.conv1.conv_layer.weight' };
    expect(() => mergeLora(base, [{ adapter: foreign, weight: 1, source: 'f' }], 'narrow-base')).toThrow(expect.objectContaining({ code: 'E_WEIGHTS_INVALID', message: expect.stringMatching(/has no weight decoder\.dec1/) }));
  });

  it('refuses a rank larger than the layer allows, naming min(out, in·kh·kw)', () => {
    const shapes = transformerNetShapes(SMALL);
    expect(() => checkRank('deconv3.conv2d.weight', shapes.get('deconv3.conv2d.weight')!, 4)).toThrow(
      expect.objectContaining({ code: 'E_PARAM', message: expect.stringMatching(/Rank 4 is larger than the layer deconv3\.conv2d\.weight allows/), expected: expect.stringMatching(/min\(3, 4·9·9\) = 3/) }),
    );
    expect(() => chooseTargets(shapes, ['deconv3'], 4)).toThrow(expect.objectContaining({ code: 'E_PARAM' }));
    expect(() => chooseTargets(shapes, ['nothing*'], 2)).toThrow(expect.objectContaining({ code: 'E_PARAM', message: expect.stringMatching(/matches no convolution/) }));
    // without explicit targets, layers that cannot hold the rank are left out
    expect(chooseTargets(shapes, undefined, 4)).not.toContain('deconv3.conv2d.weight');
    expect(chooseTargets(shapes, ['res*'], 4)).toHaveLength(10);
  });

  it('refuses a weight that is not a finite number, and an adapter holding NaN', async () => {
    expect(() => parseLoraSpec('a.safetensors:nan')).toThrow(expect.objectContaining({ code: 'E_PARAM' }));
    expect(() => parseLoraSpec('a.safetensors:-inf')).toThrow(expect.objectContaining({ code: 'E_PARAM' }));
    expect(parseLoraSpec('C:/x/a.safetensors')).toEqual({ file: 'C:/x/a.safetensors', weight: 1 });
    expect(parseLoraSpec('a.safetensors:0.25')).toEqual({ file: 'a.safetensors', weight: 0.25 });
    const bad = randomAdapter(base, names, 2, 2, 7);
    bad.layers[1]!.b[3] = NaN;
    await writeLoraAdapter(tmp.file('nan.safetensors'), bad);
    await expect(readLoraAdapter(tmp.file('nan.safetensors'))).rejects.toMatchObject({ code: 'E_WEIGHTS_INVALID', message: expect.stringMatching(/non-finite/) });
  });
});
