import { afterAll, describe, expect, it } from 'vitest';
import { imageInfo, writeImage } from '../../src/core/io.js';
import { runCli } from '../helpers/cli.js';
import { stripesImage, tempDir } from '../helpers/fixtures.js';

const tmp = tempDir();
afterAll(() => tmp.cleanup());

describe('atelier texture', () => {
  it('grows a sample to the requested size', async () => {
    await writeImage(stripesImage(32, 32, 8), tmp.file('sample.png'));
    const r = runCli(['texture', tmp.file('sample.png'), '-o', tmp.file('big.png'), '--size', '96x64', '-q']);
    expect(r.status, r.stderr).toBe(0);
    const info = await imageInfo(tmp.file('big.png'));
    expect([info.width, info.height]).toEqual([96, 64]);
  });

  it('refuses a malformed size with a usage error', async () => {
    await writeImage(stripesImage(16, 16, 4), tmp.file('s.png'));
    const r = runCli(['texture', tmp.file('s.png'), '-o', tmp.file('x.png'), '--size', 'big']);
    expect(r.status).toBe(2);
    expect(r.stderr).toContain('--size');
  });

  it('transfers with the default method (patch.synthesis) when none is named', async () => {
    await writeImage(stripesImage(40, 30, 6), tmp.file('c.png'));
    await writeImage(stripesImage(30, 30, 10, [0.2, 0.8, 0.2], [0.9, 0.9, 0.1]), tmp.file('st.png'));
    const r = runCli(['transfer', tmp.file('c.png'), tmp.file('st.png'), '-o', tmp.file('o.png'), '--json', '--levels', '2', '--iterations', '1']);
    expect(r.status, r.stderr).toBe(0);
    expect(JSON.parse(r.stdout).meta.method).toBe('patch.synthesis');
  });
});
