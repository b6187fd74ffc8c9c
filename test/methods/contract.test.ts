import { describe, expect, it } from 'vitest';
import { AtelierError } from '../../src/core/errors.js';
import type { ProgressEvent } from '../../src/core/progress.js';
import { paramsJsonSchema } from '../../src/core/params.js';
import type { AnyMethod } from '../../src/core/registry.js';
import { methodParamsSchema, runMethod, type StylizeInputs } from '../../src/core/stylize.js';
import { listMethods } from '../../src/index.js';
import { gradientImage, noiseImage } from '../helpers/fixtures.js';

/**
 * The contract every registered method keeps, run over the whole registry: a method added later is
 * covered without touching this file.
 */

const RESERVED_FLAGS = ['output', 'method', 'mask', 'styleMask', 'styleWeights', 'force', 'quiet', 'json', 'threads', 'maxPixels', 'bitDepth', 'quality'];

/**
 * Methods whose strength 0 is, by design, not the content. Every other method must return the
 * content at strength 0, whether the pipeline blends strength afterwards or the method folds it in
 * (controls.strength false, as neural.gatys does).
 */
const STRENGTH_0_IS_NOT_CONTENT: Record<string, string> = {
  // Magenta's mixing: strength interpolates the style vector toward the content's own, so 0 is the
  // content re-rendered through the transfer network, not the content itself.
  'neural.arbitrary': "strength mixes the style vector with the content's own",
};

function inputsFor(def: AnyMethod): StylizeInputs {
  const content = gradientImage(40, 32);
  const extra: Record<string, ReturnType<typeof gradientImage>> = {};
  for (const [name] of Object.entries(def.inputs.extra ?? {})) extra[name] = noiseImage(40, 32, name.length);
  return {
    content,
    ...(def.inputs.style !== 'none' && { style: noiseImage(36, 36, 7, [0.6, 0.3, 0.2]) }),
    extra,
  };
}

function firstNumericParam(def: AnyMethod): [string, { minimum?: number; maximum?: number }] | undefined {
  const props = paramsJsonSchema(def.params).properties;
  return Object.entries(props).find(([, p]) => p.type === 'number' || p.type === 'integer') as never;
}

describe('method contract exceptions', () => {
  it('name registered methods only', () => {
    const ids = listMethods().map((m) => m.id);
    for (const id of Object.keys(STRENGTH_0_IS_NOT_CONTENT)) expect(ids).toContain(id);
  });
});

describe.each(listMethods().map((m) => [m.id, m] as const))('method contract: %s', (_id, def) => {
  const quick = def.quickParams ?? {};

  it('has a well-formed description and no flag clashing with the CLI', () => {
    expect(def.title.length).toBeGreaterThan(3);
    expect(def.summary.length).toBeGreaterThan(10);
    for (const key of Object.keys(def.params.shape)) expect(RESERVED_FLAGS).not.toContain(key);
    // The JSON schema (CLI flags, HTTP, studio) can be generated.
    expect(paramsJsonSchema(methodParamsSchema(def)).type).toBe('object');
  });

  it("names real params as advanced, and every preset is valid params", () => {
    for (const key of def.advanced ?? []) expect(Object.keys(def.params.shape)).toContain(key);
    for (const [name, preset] of Object.entries(def.presets ?? {})) {
      expect(name.length).toBeGreaterThan(1);
      expect(() => methodParamsSchema(def).parse(preset), name).not.toThrow();
    }
  });

  it('runs with its defaults: output has the content size and values in [0, 1]', async () => {
    const inputs = inputsFor(def);
    const r = await runMethod(def, inputs, { ...quick });
    expect(r.image.width).toBe(40);
    expect(r.image.height).toBe(32);
    expect(r.image.channels).toBe(3);
    for (const v of r.image.data) {
      expect(v).toBeGreaterThanOrEqual(0);
      expect(v).toBeLessThanOrEqual(1);
    }
    expect(r.meta.method).toBe(def.id);
    expect(r.params.seed).toBe(1);
  });

  it('is deterministic under a seed', async () => {
    const a = await runMethod(def, inputsFor(def), { ...quick, seed: 42 });
    const b = await runMethod(def, inputsFor(def), { ...quick, seed: 42 });
    expect(Buffer.from(a.image.data.buffer).equals(Buffer.from(b.image.data.buffer))).toBe(true);
  });

  it('rejects bad parameters with E_PARAM', async () => {
    const bad: Record<string, unknown>[] = [{ strength: Number.NaN }, { strength: 2 }, { notAParam: 1 }, { seed: -1 }];
    const numeric = firstNumericParam(def);
    if (numeric) bad.push({ [numeric[0]]: 'abc' });
    for (const params of bad) {
      const err = await runMethod(def, inputsFor(def), { ...quick, ...params }).catch((e: unknown) => e);
      expect(err, JSON.stringify(params)).toBeInstanceOf(AtelierError);
      expect((err as AtelierError).code).toBe('E_PARAM');
    }
  });

  it('reports monotonic progress from start to done', async () => {
    const events: ProgressEvent[] = [];
    await runMethod(def, inputsFor(def), quick, { onProgress: (e) => events.push(e) });
    expect(events[0]!.type).toBe('start');
    expect(events.at(-1)!.type).toBe('done');
    expect(events.at(-1)!.fraction).toBe(1);
    for (let i = 1; i < events.length; i++) expect(events[i]!.fraction).toBeGreaterThanOrEqual(events[i - 1]!.fraction);
  });

  it('honours its AbortSignal', async () => {
    const before = new AbortController();
    before.abort();
    const e1 = await runMethod(def, inputsFor(def), quick, { signal: before.signal }).catch((e: unknown) => e);
    expect((e1 as AtelierError).code).toBe('E_ABORTED');
    const during = new AbortController();
    const e2 = await runMethod(def, inputsFor(def), quick, {
      signal: during.signal,
      onProgress: (e) => e.type === 'step' && during.abort(),
    }).catch((e: unknown) => e);
    expect((e2 as AtelierError).code).toBe('E_ABORTED');
  });

  it.skipIf(def.id in STRENGTH_0_IS_NOT_CONTENT)('honours strength 0 (returns the content)', async () => {
    const inputs = inputsFor(def);
    const r = await runMethod(def, inputs, { ...quick, strength: 0 });
    const content = inputs.content as ReturnType<typeof gradientImage>;
    let maxDiff = 0;
    for (let i = 0; i < content.data.length; i++) maxDiff = Math.max(maxDiff, Math.abs(r.image.data[i]! - content.data[i]!));
    expect(maxDiff).toBeLessThan(1e-6);
  });
});
