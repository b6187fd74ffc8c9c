import { readFileSync } from 'node:fs';
import { afterAll, describe, expect, it } from 'vitest';
import { writeImage } from '../../../src/core/io.js';
import { runCli } from '../../helpers/cli.js';
import { gradientImage, tempDir } from '../../helpers/fixtures.js';

/**
 * The built CLI runs filter strips on worker threads (the test runner itself runs them inline):
 * the pixels must not depend on the thread count.
 */
describe('NPR filters on worker threads', () => {
  const tmp = tempDir();
  afterAll(() => tmp.cleanup());

  it('gives the same image with 1 and 2 threads', async () => {
    // 1600×1400 is above the size at which images are cut into two strips.
    await writeImage(gradientImage(1600, 1400), tmp.file('in.png'));
    for (const method of ['filter.xdog']) {
      const outs = [1, 2].map((threads) => {
        const out = tmp.file(`${method}-${threads}.png`);
        const r = runCli(['transfer', tmp.file('in.png'), '-m', method, '-o', out, '--threads', String(threads), '-q']);
        expect(r.status, r.stderr).toBe(0);
        return readFileSync(out);
      });
      expect(outs[0]!.equals(outs[1]!), method).toBe(true);
    }
    // Two CLI runs at 2.2 MP: about 10 s on a quiet machine, far more on a shared one.
  }, 240_000);
});
