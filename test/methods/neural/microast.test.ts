import { describe, expect, it } from 'vitest';
import { AtelierError } from '../../../src/core/errors.js';
import { runMethod } from '../../../src/core/stylize.js';
import { microast } from '../../../src/methods/neural/microast.js';
import { gradientImage, noiseImage, tempDir } from '../../helpers/fixtures.js';

describe('neural.microast', () => {
  it('fails with E_WEIGHTS_MISSING and the pull command when microast is not installed', async () => {
    const saved = process.env.ATELIER_HOME;
    const empty = tempDir('atelier-empty-home-');
    process.env.ATELIER_HOME = empty.dir;
    try {
      const err = await runMethod(microast, { content: gradientImage(32, 32), style: noiseImage(32, 32), extra: {} }).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(AtelierError);
      expect((err as AtelierError).code).toBe('E_WEIGHTS_MISSING');
      expect((err as AtelierError).hint).toContain('atelier models pull microast');
    } finally {
      empty.cleanup();
      if (saved === undefined) delete process.env.ATELIER_HOME;
      else process.env.ATELIER_HOME = saved;
    }
  });
});
