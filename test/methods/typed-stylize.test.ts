import { describe, expect, expectTypeOf, it } from 'vitest';
import { Image } from '../../src/core/image.js';
import { getMethod, methods, stylize, type MethodId, type ParamsOf } from '../../src/methods/index.js';

/**
 * Compile-time checks, enforced by `npm run typecheck` (tsc over test/): each `@ts-expect-error`
 * below fails the typecheck if the line under it stops being an error. The functions are never
 * called; the runtime assertions check the same registry facts at run time.
 */
describe('typed stylize', () => {
  it('rejects a misspelled or mistyped param of a literal method id at compile time', () => {
    const content = new Image(4, 4, 3);
    const compileOnly = () => {
      // @ts-expect-error — "strenght" is not a param of color.mkl
      void stylize('color.mkl', { content }, { strenght: 0.5 });
      // @ts-expect-error — color.mkl's space is 'rgb' | 'lab', not 'hsv'
      void stylize('color.mkl', { content }, { space: 'hsv' });
      // @ts-expect-error — strength is a number
      void stylize('color.mkl', { content }, { strength: 'high' });
      // Correct params compile, shared controls included.
      void stylize('color.mkl', { content }, { space: 'lab', strength: 0.5, preserveColor: true });
      // An id known only at run time takes any params; they are validated when it runs.
      const id: string = 'color.mkl';
      void stylize(id, { content }, { anything: 1 });
    };
    expect(typeof compileOnly).toBe('function');
    expectTypeOf<ParamsOf<'color.mkl'>>().toHaveProperty('space');
    expectTypeOf<ParamsOf<'color.mkl'>>().toHaveProperty('strength');
  });

  it('keys every method by its own id', () => {
    expectTypeOf<(typeof methods)['color.mkl']['id']>().toEqualTypeOf<'color.mkl'>();
    expectTypeOf<'color.mkl'>().toExtend<MethodId>();
    // @ts-expect-error — not a registered id
    expectTypeOf<'color.mk1'>().toExtend<MethodId>();
    for (const [key, def] of Object.entries(methods)) expect(def.id).toBe(key);
    expect(getMethod('color.mkl')).toBe(methods['color.mkl']);
  });
});
