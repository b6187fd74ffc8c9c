import { spawnSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { getMetric } from '../../src/metrics/index.js';
import { computeMetric } from '../../src/metrics/metric.js';
import { gradientImage, noiseImage, tempDir } from '../helpers/fixtures.js';
import { describeWithSharedWeights, installSharedModel, TEST_MODEL_HOME } from '../helpers/shared-models.js';
import { restoreHomeAfterAll } from '../helpers/temporary-home.js';
import { torchPython } from '../helpers/torch-reference.js';

/**
 * lpips-squeeze on the real files (LPIPS squeeze heads + the Keras SqueezeNet 1.1), against a
 * PyTorch reference of the same computation written from the architecture, which applies the Caffe
 * preprocessing to the input instead of folding it into conv1 as Atelier does, and pools with
 * ceil rounding as Caffe and torchvision do.
 */

const REFERENCE = fileURLToPath(new URL('../helpers/lpips_squeeze_reference.py', import.meta.url));
const dir = tempDir('atelier-lpips-squeeze-');
restoreHomeAfterAll();

describeWithSharedWeights('lpips-squeeze (heads + Keras SqueezeNet 1.1)', () => {
  let files: Awaited<ReturnType<typeof installSharedModel>>;
  beforeAll(async () => {
    files = await installSharedModel('lpips-squeeze');
    process.env.ATELIER_HOME = TEST_MODEL_HOME;
  });
  afterAll(() => dir.cleanup());

  // The reference reads the Keras trunk with h5py (Debian's python3-h5py, which scripts/system-deps.sh installs).
  const referencePython = torchPython && spawnSync(torchPython, ['-c', 'import h5py'], { encoding: 'utf8' }).status === 0 ? torchPython : undefined;
  it.skipIf(!referencePython)('equals the PyTorch reference, term by term, on odd-sized images', async () => {
    // 67×53: every ceil-rounded pool keeps a partial last window
    const content = gradientImage(67, 53);
    const output = noiseImage(67, 53, 5, [0.4, 0.5, 0.6], 0.25);
    const ours = await computeMetric(getMetric('lpips-squeeze'), { output, content }, { threads: 1 });
    writeFileSync(dir.file('a.f32'), output.data);
    writeFileSync(dir.file('b.f32'), content.data);
    const r = spawnSync(referencePython!, [REFERENCE, files.fileOf('hdf5'), files.file('v0.1/squeeze.pth'), dir.file('a.f32'), dir.file('b.f32'), '53', '67'], { encoding: 'utf8' });
    expect(r.status, r.stderr).toBe(0);
    const ref = JSON.parse(r.stdout) as { total: number; layers: number[] };
    expect(Math.abs(ours.value - ref.total)).toBeLessThanOrEqual(1e-4 * ref.total);
    const parts = Object.values(ours.parts!);
    expect(parts).toHaveLength(7);
    parts.forEach((p, k) => expect(Math.abs(p - ref.layers[k]!), `tap ${k}`).toBeLessThanOrEqual(1e-4 * Math.abs(ref.layers[k]!) + 1e-7));
    expect(ref.total).toBeGreaterThan(0.01);
  });

  it('is 0 for identical images, grows with damage, and says it is not the published LPIPS', async () => {
    const content = gradientImage(64, 64);
    const same = await computeMetric(getMetric('lpips-squeeze'), { output: content, content }, { threads: 1 });
    expect(same.value).toBeLessThan(1e-6);
    expect(same.notes!.join(' ')).toMatch(/not the published LPIPS-squeeze/);
    const slight = await computeMetric(getMetric('lpips-squeeze'), { output: noiseImage(64, 64, 1, [0.5, 0.5, 0.5], 0.02), content }, { threads: 1 });
    const heavy = await computeMetric(getMetric('lpips-squeeze'), { output: noiseImage(64, 64, 1, [0.5, 0.5, 0.5], 0.4), content }, { threads: 1 });
    expect(heavy.value).toBeGreaterThan(slight.value);
  });
});
