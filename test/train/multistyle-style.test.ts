import { mkdirSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { writeImage } from '../../src/core/io.js';
import { runMethod } from '../../src/core/stylize.js';
import { MULTISTYLE } from '../../src/engine/nets/magenta-multistyle.js';
import { extendMultistyle, multistyleTables, styleRows } from '../../src/engine/nets/multistyle-extension.js';
import { resolveTrainedModel } from '../../src/engine/store/trained.js';
import { readGraphDef } from '../../src/engine/weights/graphdef.js';
import { readSafetensors } from '../../src/engine/weights/safetensors.js';
import { multistyle } from '../../src/methods/neural/multistyle.js';
import { train } from '../../src/train/index.js';
import { gradientImage, noiseImage, stripesImage, tempDir } from '../helpers/fixtures.js';
import { installSharedModel, sharedWeightsPresent, SHARED_WEIGHTS_SKIP } from '../helpers/shared-models.js';
import { restoreHomeAfterAll } from '../helpers/temporary-home.js';

/**
 * A new style for the 26-style network (Dumoulin et al.): the graph with rows added to its
 * conditional-norm tables computes the published styles exactly as before, an added row equal to
 * a published style's reproduces that style, and `train multistyle-style` learns only the new row
 * and installs it for `neural.multistyle --added NAME --style 26` (and `--mix`).
 */

restoreHomeAfterAll();
const home = tempDir('atelier-ms-train-');
const work = tempDir('atelier-ms-work-');

describe.skipIf(!sharedWeightsPresent)(`train multistyle-style ${sharedWeightsPresent ? '' : `(${SHARED_WEIGHTS_SKIP})`}`, () => {
  const photos = path.join(work.dir, 'photos');
  const styleFile = path.join(work.dir, 'stripes.png');
  let pb: string;
  beforeAll(async () => {
    mkdirSync(photos, { recursive: true });
    await writeImage(gradientImage(48, 40), path.join(photos, 'a.png'));
    await writeImage(noiseImage(40, 48, 3), path.join(photos, 'b.png'));
    await writeImage(stripesImage(64, 64, 8), styleFile);
    for (const m of ['vgg19-relu3_1', 'magenta-multistyle']) await installSharedModel(m, { home: home.dir });
    process.env.ATELIER_HOME = home.dir;
    pb = path.join(home.dir, 'models', 'magenta-multistyle', MULTISTYLE.file);
  }, 180_000);
  afterAll(() => {
    home.cleanup();
    work.cleanup();
  });

  it('the extended graph keeps the 26 styles and an added copy of style 5 is style 5', async () => {
    const tf = await readGraphDef(pb);
    const tables = multistyleTables(tf);
    expect(tables).toHaveLength(36);
    expect(tables.reduce((a, t) => a + t.channels, 0)).toBeGreaterThan(0);
    const extended = extendMultistyle(tf, [styleRows(tables, 5)]);
    expect(extendMultistyle(tf, []).nodes).toBe(tf.nodes);
    expect(tf.nodes.find((n) => n.name === MULTISTYLE.styleInput)!.attrs.shape).toEqual({ kind: 'shape', value: [26] });
    expect(extended.nodes.find((n) => n.name === MULTISTYLE.styleInput)!.attrs.shape).toEqual({ kind: 'shape', value: [27] });
    // Through the method: style 5 of the published network against style 26 (= a copy of style 5) of the extended one.
    const { writeSafetensors } = await import('../../src/engine/weights/safetensors.js');
    const { addedStyleMetadata } = await import('../../src/engine/nets/multistyle-extension.js');
    const copy = path.join(work.dir, 'copy5.safetensors');
    await writeSafetensors(copy, [...styleRows(tables, 5)].map(([name, data]) => ({ name, shape: [data.length], data })), { metadata: addedStyleMetadata(0) });
    const content = gradientImage(64, 48);
    const a = await runMethod(multistyle, { content, extra: {} }, { style: 5 });
    const b = await runMethod(multistyle, { content, extra: {} }, { style: 26, added: [copy] });
    const c = await runMethod(multistyle, { content, extra: {} }, { style: 7, added: [copy] });
    const d = await runMethod(multistyle, { content, extra: {} }, { style: 7 });
    let ab = 0;
    let cd = 0;
    for (let i = 0; i < a.image.data.length; i++) {
      ab = Math.max(ab, Math.abs(a.image.data[i]! - b.image.data[i]!));
      cd = Math.max(cd, Math.abs(c.image.data[i]! - d.image.data[i]!));
    }
    expect(ab).toBeLessThan(1e-5);
    expect(cd).toBeLessThan(1e-5);
    expect(b.meta.added).toBe(`26: ${copy}`);
  }, 180_000);

  it('trains only the new rows, installs them, and neural.multistyle offers style 26 and mixes it', async () => {
    const out = path.join(work.dir, 'run');
    const r = await train('multistyle-style', {
      out,
      iterations: 2,
      params: { style: styleFile, contentDir: photos, name: 'stripes-row', size: 32, batch: 1, styleSize: 64, eval: 1, initFrom: 3, lr: 1e-2 },
    });
    expect(r.installed).toBe(resolveTrainedModel('multistyle', 'stripes-row'));
    expect(r.usage).toBe('--method neural.multistyle --added stripes-row --style 26');
    const rows = await readSafetensors(r.installed!);
    const tables = multistyleTables(await readGraphDef(pb));
    expect(rows.size).toBe(36);
    let changed = 0;
    const start = styleRows(tables, 3);
    for (const t of tables) {
      const row = rows.get(t.name)!;
      expect(row.shape).toEqual([t.channels]);
      if (row.data.some((v, i) => v !== start.get(t.name)![i])) changed++;
    }
    expect(changed).toBeGreaterThan(30);
    const content = gradientImage(48, 40);
    const s26 = await runMethod(multistyle, { content, extra: {} }, { style: 26, added: ['stripes-row'] });
    expect(s26.image.width).toBe(48);
    const mixed = await runMethod(multistyle, { content, extra: {} }, { mix: '26:0.5,3:0.5', added: ['stripes-row'] });
    expect(mixed.meta.styles).toBe('26:0.5,3:0.5');
    await expect(runMethod(multistyle, { content, extra: {} }, { style: 27, added: ['stripes-row'] })).rejects.toMatchObject({ code: 'E_PARAM', message: expect.stringContaining('0–26') });
    await expect(runMethod(multistyle, { content, extra: {} }, { style: 26 })).rejects.toMatchObject({ code: 'E_PARAM' });
    await expect(runMethod(multistyle, { content, extra: {} }, { style: 0, added: ['no-such-style'] })).rejects.toMatchObject({ code: 'E_WEIGHTS_MISSING' });
  }, 300_000);
});
