import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AtelierError } from '../../../src/core/errors.js';
import { Image } from '../../../src/core/image.js';
import { readImage } from '../../../src/core/io.js';
import { resizeImage } from '../../../src/core/resample.js';
import { runMethod } from '../../../src/core/stylize.js';
import { multistyleThumbnails, parseStyleMix } from '../../../src/engine/nets/magenta-multistyle.js';
import { CARTOON_VARIANTS } from '../../../src/engine/nets/gan-stylizer-models.js';
import { foreignModelFile, ImportedNetwork, importedImageNetwork } from '../../../src/engine/nets/imported-network.js';
import { axisTiles } from '../../../src/engine/nets/tiled-image-net.js';
import { methods } from '../../../src/methods/index.js';
import { installSharedModel, SHARED_WEIGHTS, sharedWeightsPresent, TEST_MODEL_HOME } from '../../helpers/shared-models.js';
import { tempDir } from '../../helpers/fixtures.js';
import { restoreHomeAfterAll } from '../../helpers/temporary-home.js';

/**
 * neural.multistyle, neural.arbitrary, neural.cartoon and neural.anime on the published files
 * (installed into a temporary model store from ../shared/weights), and their failure modes.
 */

const maxDiff = (a: Image, b: Image) => a.data.reduce((m, v, i) => Math.max(m, Math.abs(v - b.data[i]!)), 0);
const meanDiff = (a: Image, b: Image) => a.data.reduce((s, v, i) => s + Math.abs(v - b.data[i]!), 0) / a.data.length;

describe('style mixes and tiles (no weights needed)', () => {
  it('parses mixes into convex weights and refuses malformed ones with E_PARAM', () => {
    expect(parseStyleMix('3:0.5,17:1.5')).toEqual([
      { style: 3, weight: 0.25 },
      { style: 17, weight: 0.75 },
    ]);
    for (const bad of ['', '26:1', '3:-1', '3:0', 'a:1', '3;1']) {
      expect(() => parseStyleMix(bad), bad).toThrow(expect.objectContaining({ code: 'E_PARAM' }));
    }
  });
  it('cuts an axis into equal tiles whose cores partition it', () => {
    const t = axisTiles(1000, 256, 32);
    expect(t.every((x) => x.ext[1] - x.ext[0] === 256)).toBe(true);
    expect(t[0]!.core[0]).toBe(0);
    expect(t.at(-1)!.core[1]).toBe(1000);
    for (let i = 1; i < t.length; i++) {
      expect(t[i]!.core[0]).toBe(t[i - 1]!.core[1]);
      expect(t[i]!.core[0] - t[i]!.ext[0]).toBeGreaterThanOrEqual(32);
      expect(t[i - 1]!.ext[1] - t[i - 1]!.core[1]).toBeGreaterThanOrEqual(32);
    }
  });
});

describe('a missing model', () => {
  restoreHomeAfterAll();
  const t = tempDir('atelier-empty-');
  beforeAll(() => (process.env.ATELIER_HOME = t.dir));
  afterAll(() => t.cleanup());
  it.each(['neural.multistyle', 'neural.arbitrary', 'neural.cartoon', 'neural.anime'] as const)('%s says which model and how to pull it', async (id) => {
    const content = new Image(32, 32, 3);
    const style = new Image(32, 32, 3);
    const err = await runMethod(methods[id], { content, style, extra: {} }, {}).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(AtelierError);
    expect((err as AtelierError).code).toBe('E_WEIGHTS_MISSING');
    expect((err as AtelierError).message).toMatch(/atelier models pull (magenta-multistyle|magenta-arbitrary|whitebox-cartoon|animeganv2-hayao)/);
  });
});

describe.skipIf(!sharedWeightsPresent)('the imported networks on real photos (installed from ../shared/weights)', () => {
  restoreHomeAfterAll();
  let photo: Image;
  let style: Image;
  beforeAll(async () => {
    for (const name of ['magenta-multistyle', 'animeganv2-hayao']) await installSharedModel(name);
    for (const variant of ['dr', 'int8', 'fp16']) await installSharedModel('whitebox-cartoon', { variant });
    for (const variant of ['f16', 'int8', 'dynamic']) await installSharedModel('magenta-arbitrary', { variant });
    process.env.ATELIER_HOME = TEST_MODEL_HOME;
    photo = resizeImage(await readImage(path.join(SHARED_WEIGHTS, '../data/dev/content/stata.jpg')), 300, 200);
    style = await readImage(path.join(SHARED_WEIGHTS, '../data/dev/style/udnie.jpg'));
  }, 300_000);

  it('multistyle: a mix of one style at weight 1 is that style; a two-style mix lies between them', async () => {
    const run = (p: Record<string, unknown>) => runMethod(methods['neural.multistyle'], { content: photo, extra: {} }, p).then((r) => r.image);
    const s3 = await run({ style: 3 });
    expect([s3.width, s3.height]).toEqual([300, 200]);
    expect(maxDiff(await run({ mix: '3:1' }), s3)).toBe(0);
    const s17 = await run({ style: 17 });
    const mixed = await run({ mix: '3:0.5,17:0.5' });
    expect(meanDiff(s3, s17)).toBeGreaterThan(0.1);
    expect(meanDiff(mixed, s3)).toBeLessThan(meanDiff(s3, s17));
    expect(meanDiff(mixed, s17)).toBeLessThan(meanDiff(s3, s17));
    const thumbs = multistyleThumbnails();
    expect(thumbs).toHaveLength(26);
    expect(thumbs.every((t) => t.installed)).toBe(true);
  });

  it('arbitrary: one style at weight 1 equals that style; strength moves the result from the content-vector rendering to the style', async () => {
    const run = (p: Record<string, unknown>, styles: Image[] = [style], styleWeights?: number[]) =>
      runMethod(methods['neural.arbitrary'], { content: photo, style: styles.length === 1 ? styles[0]! : styles, ...(styleWeights && { styleWeights }), extra: {} }, p).then((r) => r.image);
    const full = await run({});
    const half = await run({ strength: 0.5 });
    const none = await run({ strength: 0 });
    expect(meanDiff(half, full)).toBeLessThan(meanDiff(none, full));
    expect(meanDiff(half, none)).toBeLessThan(meanDiff(none, full));
    // The content's own vector gives a photo-like rendering: closer to the photo than the stylised one.
    expect(meanDiff(none, photo)).toBeLessThan(meanDiff(full, photo));
    const thumb = await readImage(path.join(SHARED_WEIGHTS, 'magenta-multistyle/thumbnails/style17.jpg'));
    expect(maxDiff(await run({}, [style, thumb], [1, 0]), full)).toBeLessThan(1e-6);
    for (const variant of ['int8', 'dynamic']) {
      const v = await run({ variant });
      expect(meanDiff(v, full), variant).toBeLessThan(0.06);
    }
  });

  it('run at tiny sizes (padded up to what the networks need)', async () => {
    const tiny = resizeImage(photo, 9, 5);
    for (const id of ['neural.multistyle', 'neural.cartoon', 'neural.anime'] as const) {
      const r = await runMethod(methods[id], { content: tiny, extra: {} }, {});
      expect([r.image.width, r.image.height], id).toEqual([9, 5]);
    }
    const r = await runMethod(methods['neural.arbitrary'], { content: tiny, style: resizeImage(style, 7, 3), extra: {} }, {});
    expect([r.image.width, r.image.height]).toEqual([9, 5]);
  });

  it('cartoon (three variants) and anime keep the size, stay in [0, 1] and name their licence', async () => {
    const odd = resizeImage(photo, 203, 150);
    for (const [id, p] of [['neural.cartoon', { variant: 'dr' }], ['neural.cartoon', { variant: 'int8' }], ['neural.cartoon', { variant: 'fp16' }], ['neural.anime', {}]] as const) {
      const r = await runMethod(methods[id], { content: odd, extra: {} }, p);
      expect([r.image.width, r.image.height], id).toEqual([203, 150]);
      expect(JSON.stringify(r.meta), id).toMatch(/non-commercial/);
      expect(r.image.data.every((v) => v >= 0 && v <= 1)).toBe(true);
    }
  });

  it('a one-tile image run in stages (one session, values crossing the cuts fed back) gives the whole run', async () => {
    // White-box forced into 3 stages at 512² (left to itself it runs whole: its U-Net skips make
    // every cut dear): the skips cross both cuts, the guided filter's tail reads the input again.
    const file = foreignModelFile(CARTOON_VARIANTS.dr.model, CARTOON_VARIANTS.dr.file, 'installed', CARTOON_VARIANTS.dr.variant);
    const net = await ImportedNetwork.load(file, {}, 1);
    const io = { input: CARTOON_VARIANTS.dr.input, range: [-1, 1] as [number, number], multiple: 4 };
    const img = resizeImage(photo, 512, 512).data;
    const whole = await importedImageNetwork(net, { ...io, stages: 1 }).run(img, 512, 512);
    const steps: number[] = [];
    const staged = await importedImageNetwork(net, { ...io, stages: 3 }).run(img, 512, 512, { step: (done, total) => steps.push(done / total) });
    expect(steps).toHaveLength(3);
    steps.forEach((f, i) => expect(f).toBeGreaterThan(i > 0 ? steps[i - 1]! : 0));
    expect(steps.at(-1)).toBe(1);
    expect(staged.reduce((m, v, i) => Math.max(m, Math.abs(v - whole[i]!)), 0)).toBeLessThan(1e-5);
  }, 120_000);

  it('cartoon: tiles agree with the whole image away from tile borders, without a seam', async () => {
    // White-box's generator has no global statistics (no norm layers), so tiles can match exactly.
    const img = resizeImage(photo, 512, 256);
    const whole = (await runMethod(methods['neural.cartoon'], { content: img, extra: {} }, { tileSize: 512 })).image;
    const tiled = (await runMethod(methods['neural.cartoon'], { content: img, extra: {} }, { tileSize: 256 })).image;
    const xs = axisTiles(512, 256, 64);
    expect(xs.length).toBe(3);
    // Where a tile saw padding instead of its neighbour the network's receptive field (~50 px) differs.
    const borders = xs.flatMap((t) => [t.ext[0], t.ext[1]]).filter((b) => b > 0 && b < 512);
    let far = 0;
    let compared = 0;
    for (let c = 0; c < 3; c++)
      for (let y = 0; y < 256; y++)
        for (let x = 0; x < 512; x++) {
          if (borders.some((b) => Math.abs(x - b) < 56)) continue;
          const i = (c * 256 + y) * 512 + x;
          far = Math.max(far, Math.abs(whole.data[i]! - tiled.data[i]!));
          compared++;
        }
    expect(compared).toBeGreaterThan(3 * 256 * 100);
    expect(far).toBeLessThanOrEqual(2 / 255);
    // Seam check: horizontal gradient energy across the core boundaries (where tiles cross-fade),
    // against the same columns of the untiled result: a seam would add an edge there.
    const energy = (im: Image, cols: number[]) => {
      let s = 0;
      for (const x of cols) for (let c = 0; c < 3; c++) for (let y = 0; y < 256; y++) s += Math.abs(im.data[(c * 256 + y) * 512 + x]! - im.data[(c * 256 + y) * 512 + x - 1]!);
      return s / cols.length;
    };
    const seams = xs.slice(1).flatMap((t) => [t.core[0] - 1, t.core[0], t.core[0] + 1]);
    const [atSeams, sameColumnsWhole] = [energy(tiled, seams), energy(whole, seams)];
    expect(Math.abs(atSeams - sameColumnsWhole)).toBeLessThan(0.1 * sameColumnsWhole);
  });

  it('anime: 2×2 tiles at the default tile size leave no seam, and stay close to the whole image', async () => {
    // AnimeGAN's layer norms take statistics over their input, so each tile's differ a little from
    // the whole image's: no exact agreement, but no edge where the tiles cross-fade. The default
    // tileSize (576) cuts a 1024² image 2×2; here a 1024-wide strip, cut 2×1 at the same geometry.
    const img = resizeImage(await readImage(path.join(SHARED_WEIGHTS, '../data/dev/content/stata.jpg')), 1024, 128);
    const whole = (await runMethod(methods['neural.anime'], { content: img, extra: {} }, { tileSize: 1024 })).image;
    const tiled = (await runMethod(methods['neural.anime'], { content: img, extra: {} }, {})).image;
    const xs = axisTiles(1024, 576, 64);
    expect(xs.map((t) => t.ext)).toEqual([[0, 576], [448, 1024]]);
    expect(meanDiff(tiled, whole)).toBeLessThan(6 / 255); // measured 3.8/255 (each tile's own statistics)
    const W = 1024;
    const H = 128;
    const energy = (im: Image, cols: number[]) => {
      let s = 0;
      for (const x of cols) for (let c = 0; c < 3; c++) for (let y = 0; y < H; y++) s += Math.abs(im.data[(c * H + y) * W + x]! - im.data[(c * H + y) * W + x - 1]!);
      return s / cols.length;
    };
    const seams = xs.slice(1).flatMap((t) => [t.core[0] - 1, t.core[0], t.core[0] + 1]);
    const [atSeams, sameColumnsWhole] = [energy(tiled, seams), energy(whole, seams)];
    expect(Math.abs(atSeams - sameColumnsWhole)).toBeLessThan(0.1 * sameColumnsWhole);
  });
});
