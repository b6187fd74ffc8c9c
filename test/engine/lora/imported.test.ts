import { afterAll, expect, it } from 'vitest';
import { Rng } from '../../../src/core/rng.js';
import { runMethod } from '../../../src/core/stylize.js';
import { Graph } from '../../../src/engine/graph/graph.js';
import { importTflite } from '../../../src/engine/import/tflite-import.js';
import { baseFingerprint, writeLoraAdapter, type LoraAdapter } from '../../../src/engine/lora/adapter.js';
import { runtimeLora } from '../../../src/engine/lora/graph-adapter.js';
import { loraDelta } from '../../../src/engine/lora/merge.js';
import { initialPair } from '../../../src/engine/lora/targets.js';
import { ANIME_HAYAO } from '../../../src/engine/nets/gan-stylizer-models.js';
import { compile } from '../../../src/engine/runtime.js';
import { readTflite } from '../../../src/engine/weights/tflite.js';
import { anime } from '../../../src/methods/neural/anime.js';
import { gradientImage, meanAbsDiff, tempDir } from '../../helpers/fixtures.js';
import { describeWithSharedWeights, installSharedModel, TEST_MODEL_HOME } from '../../helpers/shared-models.js';
import { restoreHomeAfterAll } from '../../helpers/temporary-home.js';

/**
 * LoRA on an imported network (AnimeGANv2's int8 TFLite generator, from ../shared/weights): the
 * importer declares every conv filter through `Graph.param`, so the run-time hook adapts it by its
 * TFLite tensor name. The adapted network equals the same import with W + ΔW written into the
 * filters beforehand, and neural.anime takes the adapter through `lora`.
 */
const tmp = tempDir('atelier-lora-imported-');
restoreHomeAfterAll();
afterAll(() => tmp.cleanup());

describeWithSharedWeights('LoRA on an imported TFLite network', () => {
  it('at run time equals the filters merged beforehand, and neural.anime applies it', async () => {
    const model = await installSharedModel(ANIME_HAYAO.model);
    const tflite = await readTflite(model.file(ANIME_HAYAO.file));
    const side = 64;
    const shapes = { [ANIME_HAYAO.input]: [1, side, side, 3] };
    // The conv filters as the importer declares them (4-D params, not depthwise), by name.
    const probe = importTflite(tflite, { inputShapes: shapes });
    const convs = probe.graph.params.filter((p) => p.rank === 4 && (p.shape[1] as number) > 1);
    expect(convs.length).toBeGreaterThan(5);
    const chosen = [convs[1]!, convs[Math.floor(convs.length / 2)]!];
    const rng = new Rng(3);
    const adapter: LoraAdapter = {
      base: ANIME_HAYAO.model,
      baseSha256: baseFingerprint(chosen.map((p) => ({ name: p.name, shape: p.shape as number[], data: probe.graph.data.get(p.id) as Float32Array }))),
      network: 'tflite',
      rank: 2,
      alpha: 2,
      extra: {},
      layers: chosen.map((p) => {
        const shape = p.shape as number[];
        const { a } = initialPair(shape, 2, rng);
        return { name: p.name, shape, a, b: Float32Array.from({ length: shape[0]! * 2 }, () => rng.uniform(-0.2, 0.2)) };
      }),
    };
    const image = Float32Array.from({ length: 3 * side * side }, (_, i) => Math.sin(i * 0.013));
    const run = async (g: Graph) => {
      const runner = await compile(g, { threads: 1, cache: false });
      const out = (await runner.run({ [ANIME_HAYAO.input]: { data: image, shape: [1, 3, side, side] } }))[[...g.outputs.keys()][0]!]!.data as Float32Array;
      await runner.release();
      return out;
    };
    const lora = runtimeLora([{ adapter, weight: 0.7, source: 'test' }], ANIME_HAYAO.model);
    const adapted = await run(importTflite(tflite, { inputShapes: shapes, paramHook: lora.hook }).graph);
    expect(lora.finish()).toEqual([]);
    const deltas = new Map(adapter.layers.map((l) => [l.name, loraDelta(l, 2, (0.7 * 2) / 2)]));
    const premerged = importTflite(tflite, {
      inputShapes: shapes,
      paramHook: (g, name, shape, data) => {
        const d = deltas.get(name);
        return d ? g.param(name, shape, Float32Array.from(data, (v, i) => v + d[i]!)) : undefined;
      },
    });
    const merged = await run(premerged.graph);
    const plain = await run(probe.graph);
    let diff = 0;
    let change = 0;
    for (let i = 0; i < merged.length; i++) {
      diff = Math.max(diff, Math.abs(adapted[i]! - merged[i]!));
      change = Math.max(change, Math.abs(plain[i]! - merged[i]!));
    }
    expect(diff).toBeLessThan(1e-4);
    expect(change).toBeGreaterThan(1e-2);

    // neural.anime with the adapter file: changed output; weight 0 is the published generator
    await writeLoraAdapter(tmp.file('anime.safetensors'), adapter);
    process.env.ATELIER_HOME = TEST_MODEL_HOME;
    const content = gradientImage(64, 64);
    const published = await runMethod(anime, { content, extra: {} }, {});
    const withLora = await runMethod(anime, { content, extra: {} }, { lora: [tmp.file('anime.safetensors')] });
    const zero = await runMethod(anime, { content, extra: {} }, { lora: [`${tmp.file('anime.safetensors')}:0`] });
    expect(meanAbsDiff(withLora.image, published.image)).toBeGreaterThan(1e-3);
    expect(meanAbsDiff(zero.image, published.image)).toBeLessThan(1e-5);
    // an adapter for a weight the generator does not have is refused, naming it
    const foreign = { ...adapter, layers: [{ ...adapter.layers[0]!, name: 'conv1.conv2d.weight' }] };
    await writeLoraAdapter(tmp.file('foreign.safetensors'), foreign);
    await expect(runMethod(anime, { content, extra: {} }, { lora: [tmp.file('foreign.safetensors')] })).rejects.toMatchObject({ code: 'E_WEIGHTS_INVALID', message: expect.stringMatching(/has no weight conv1\.conv2d\.weight/) });
  }, 180_000);
});
