import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { rgbToLab } from '../../src/core/color.js';
import { AtelierError } from '../../src/core/errors.js';
import { Image, blendImages } from '../../src/core/image.js';
import { progressStream, type ProgressEvent } from '../../src/core/progress.js';
import { defineMethod } from '../../src/core/registry.js';
import { runMethod } from '../../src/core/stylize.js';
import { flatImage, gradientImage } from '../helpers/fixtures.js';

/** A method whose answer is known: every pixel becomes the style's mean colour. */
const meanFill = defineMethod({
  id: 'color.test-mean-fill',
  family: 'color',
  title: 'Mean fill (test)',
  summary: "Paint every pixel with the style's mean colour",
  inputs: { style: 'required', multiStyle: true },
  params: z.object({}),
  async run(ctx, { content, styles }) {
    const out = content.emptyLike();
    for (let c = 0; c < 3; c++) {
      let m = 0;
      for (const { image, weight } of styles!) {
        const p = image.plane(c);
        let s = 0;
        for (const v of p) s += v;
        m += (weight * s) / p.length;
      }
      out.plane(c).fill(m);
      ctx.progress.step(c + 1, 3);
    }
    return out;
  },
});

const broken = defineMethod({
  id: 'color.test-broken',
  family: 'color',
  title: 'Broken (test)',
  summary: 'Returns NaN everywhere, as a numerically broken method would',
  inputs: { style: 'none' },
  params: z.object({}),
  async run(_ctx, { content }) {
    const out = content.emptyLike();
    out.data.fill(Number.NaN);
    return out;
  },
});

const content = gradientImage(20, 10);
const red = flatImage(6, 6, [0.8, 0.1, 0.1]);
const blue = flatImage(6, 6, [0.1, 0.2, 0.9]);

describe('runMethod: the shared controls', () => {
  it('strength blends linearly with the content', async () => {
    const full = await runMethod(meanFill, { content, style: red });
    const half = await runMethod(meanFill, { content, style: red }, { strength: 0.5 });
    for (let i = 0; i < content.data.length; i += 37) {
      expect(half.image.data[i]).toBeCloseTo((content.data[i]! + full.image.data[i]!) / 2, 5);
    }
    expect(half.params).toMatchObject({ strength: 0.5, preserveColor: false, seed: 1 });
  });

  it("preserve colour keeps the content's chrominance and takes the result's lightness", async () => {
    // A mid-grey style keeps lightness in the middle, so content chroma stays inside the gamut.
    // and a muted content (gradient pulled towards grey) likewise.
    const grey = flatImage(4, 4, [0.5, 0.48, 0.45]);
    const muted = blendImages(flatImage(20, 10, [0.5, 0.5, 0.5]), content, 0.3);
    const r = await runMethod(meanFill, { content: muted, style: grey }, { preserveColor: true });
    const full = await runMethod(meanFill, { content: muted, style: grey });
    const [lo, lc, lf] = [rgbToLab(r.image), rgbToLab(muted), rgbToLab(full.image)];
    // Away from gamut clipping the lightness is the result's and a*, b* are the content's.
    for (const i of [0, 55, 120, 199]) {
      expect(Math.abs(lo.plane(0)[i]! - lf.plane(0)[i]!)).toBeLessThan(0.05);
      expect(Math.abs(lo.plane(1)[i]! - lc.plane(1)[i]!)).toBeLessThan(0.05);
      expect(Math.abs(lo.plane(2)[i]! - lc.plane(2)[i]!)).toBeLessThan(0.05);
    }
  });

  it('a greyscale mask applies the effect only where it is white', async () => {
    const mask = new Image(20, 10, 1);
    for (let y = 0; y < 10; y++) for (let x = 10; x < 20; x++) mask.data[y * 20 + x] = 1;
    const r = await runMethod(meanFill, { content, style: red, mask });
    expect(r.image.plane(0)[0]).toBeCloseTo(content.plane(0)[0]!, 6);
    expect(r.image.plane(0)[15]).toBeCloseTo(0.8, 5);
  });

  it('a mask of the same aspect ratio is resized; another aspect ratio is refused', async () => {
    const small = new Image(10, 5, 1, new Float32Array(50).fill(1));
    const r = await runMethod(meanFill, { content, style: red, mask: small });
    expect(r.image.plane(0)[0]).toBeCloseTo(0.8, 5);
    const square = new Image(10, 10, 1, new Float32Array(100).fill(1));
    const e = await runMethod(meanFill, { content, style: red, mask: square }).catch((err: AtelierError) => err);
    expect((e as AtelierError).code).toBe('E_MASK_MISMATCH');
    expect((e as AtelierError).message).toContain('10×10');
  });

  it('label maps pair regions: each content region takes its own style region', async () => {
    // Content: left half green label, right half magenta. Style: top half magenta (red pixels), bottom green (blue pixels).
    const labels = (w: number, h: number, f: (x: number, y: number) => boolean) => {
      const m = new Image(w, h, 3);
      for (let y = 0; y < h; y++)
        for (let x = 0; x < w; x++) {
          const i = y * w + x;
          const green = f(x, y);
          m.plane(0)[i] = green ? 0 : 1;
          m.plane(1)[i] = green ? 1 : 0;
          m.plane(2)[i] = green ? 0 : 1;
        }
      return m;
    };
    const style = new Image(6, 6, 3);
    for (let y = 0; y < 6; y++)
      for (let x = 0; x < 6; x++) {
        const src = y < 3 ? red : blue;
        for (let c = 0; c < 3; c++) style.plane(c)[y * 6 + x] = src.plane(c)[0]!;
      }
    const r = await runMethod(meanFill, {
      content,
      style,
      mask: labels(20, 10, (x) => x < 10),
      styleMask: labels(6, 6, (_x, y) => y >= 3),
    });
    expect(r.meta.regions).toBe(2);
    expect(r.image.plane(2)[0]).toBeCloseTo(0.9, 5); // left: green label → blue style region
    expect(r.image.plane(0)[19]).toBeCloseTo(0.8, 5); // right: magenta label → red style region
  });

  it('max size shrinks the working image; alpha comes back on the output', async () => {
    const withAlpha = content.clone();
    withAlpha.alpha = new Float32Array(200).fill(0.5);
    const r = await runMethod(meanFill, { content: withAlpha, style: red }, { maxSize: 10 });
    expect([r.image.width, r.image.height]).toEqual([10, 5]);
    expect(r.image.alpha?.[3]).toBeCloseTo(0.5, 5);
  });

  it('blends several styles by weight', async () => {
    const r = await runMethod(meanFill, { content, style: [red, blue], styleWeights: [3, 1] });
    expect(r.image.plane(0)[0]).toBeCloseTo(0.75 * 0.8 + 0.25 * 0.1, 5);
    const e = await runMethod(meanFill, { content, style: [red, blue], styleWeights: [1, Number.NaN] }).catch((x: AtelierError) => x);
    expect((e as AtelierError).code).toBe('E_PARAM');
  });
});

describe('runMethod: refusals', () => {
  it('a missing style image is E_INPUT_MISSING with the command that fixes it', async () => {
    const e = await runMethod(meanFill, { content }).catch((x: AtelierError) => x);
    expect((e as AtelierError).code).toBe('E_INPUT_MISSING');
    expect((e as AtelierError).message).toContain('atelier transfer');
  });

  it("enforces a method's cross-field rules, which merging with the shared controls would drop", async () => {
    const ranged = defineMethod({
      id: 'color.test-ranged',
      family: 'color',
      title: 'Ranged (test)',
      summary: 'Needs low ≤ high, a rule across two parameters',
      inputs: { style: 'none' },
      params: z
        .object({ low: z.number().default(0), high: z.number().default(1) })
        .refine((p) => p.low <= p.high, { message: 'low must not exceed high' }),
      async run(_ctx, { content }) {
        return content.clone();
      },
    });
    await expect(runMethod(ranged, { content }, { low: 0.2, high: 0.8 })).resolves.toBeDefined();
    const e = await runMethod(ranged, { content }, { low: 0.9, high: 0.1 }).catch((x: AtelierError) => x);
    expect((e as AtelierError).code).toBe('E_PARAM');
    expect((e as AtelierError).message).toContain('low must not exceed high');
  });

  it('non-finite output is E_NUMERIC, never written', async () => {
    const e = await runMethod(broken, { content }).catch((x: AtelierError) => x);
    expect((e as AtelierError).code).toBe('E_NUMERIC');
  });

  it('parameter errors name the parameter, the expectation and the value', async () => {
    const e = await runMethod(meanFill, { content, style: red }, { strength: Number.NaN }, { flagStyle: true }).catch((x: AtelierError) => x);
    expect((e as AtelierError).message).toBe(
      'Invalid value for --strength of color.test-mean-fill: expected a number in [0, 1], received NaN.',
    );
    const typo = await runMethod(meanFill, { content, style: red }, { strenght: 1 }).catch((x: AtelierError) => x);
    expect((typo as AtelierError).message).toContain('Did you mean strength?');
  });
});

describe('progress', () => {
  it('streams events as an async iterator, ending in done, then yields the result', async () => {
    const events: ProgressEvent[] = [];
    const it = progressStream((listener) => runMethod(meanFill, { content, style: red }, {}, { onProgress: listener }));
    let next = await it.next();
    while (!next.done) {
      events.push(next.value);
      next = await it.next();
    }
    expect(events.map((e) => e.type)).toEqual(['start', 'step', 'step', 'step', 'done']);
    expect(next.value.image.width).toBe(20);
  });

  it('emits an error event when the run fails', async () => {
    const events: ProgressEvent[] = [];
    await runMethod(broken, { content }, {}, { onProgress: (e) => events.push(e) }).catch(() => undefined);
    expect(events.at(-1)).toMatchObject({ type: 'error', code: 'E_NUMERIC' });
  });
});
