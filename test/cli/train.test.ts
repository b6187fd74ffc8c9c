import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { writeImage } from '../../src/core/io.js';
import { Rng } from '../../src/core/rng.js';
import { lossCurveSvg } from '../../src/train/loss-curve.js';
import { listTrainingImages, TrainingImages } from '../../src/train/training-images.js';
import { runCli } from '../helpers/cli.js';
import { gradientImage, noiseImage, tempDir } from '../helpers/fixtures.js';

const dir = tempDir('atelier-cli-train-');
beforeAll(async () => {
  mkdirSync(dir.file('content/sub'), { recursive: true });
  mkdirSync(dir.file('style'), { recursive: true });
  await writeImage(gradientImage(80, 60), dir.file('content/a.png'));
  await writeImage(noiseImage(70, 90, 2), dir.file('content/sub/b.png'));
  await writeImage(noiseImage(64, 64, 3, [0.8, 0.3, 0.1], 0.2), dir.file('style/s.png'));
  writeFileSync(dir.file('pairs.json'), JSON.stringify({ photoreal: [{ content: 'content/a.png', style: 'style/s.png' }, { content: 'content/a.png', style: 'style/s.png' }] }));
});
afterAll(() => dir.cleanup());

describe('training images', () => {
  it('lists folders recursively and pairs.json sides without duplicates', () => {
    expect(listTrainingImages(dir.file('content'), 'content', 'photoreal').map((f) => path.basename(f))).toEqual(['a.png', 'b.png']);
    expect(listTrainingImages(dir.file('pairs.json'), 'style', 'photoreal')).toEqual([dir.file('style/s.png')]);
    expect(() => listTrainingImages(dir.file('pairs.json'), 'content', 'artistic')).toThrow(/artistic/);
  });

  it('samples square crops of images scaled to twice the crop on their short side', async () => {
    const set = await TrainingImages.load(listTrainingImages(dir.file('content'), 'content', 'photoreal'), 32);
    const crop = set.sample(new Rng(1), 16);
    expect(crop.length).toBe(3 * 16 * 16);
    expect(crop.every((v) => v >= 0 && v <= 1)).toBe(true);
  });
});

describe('loss curve', () => {
  it('draws one line per loss with first and last values', () => {
    const svg = lossCurveSvg([{ name: 'style', values: [4, 3, 2, 1] }, { name: 'rec', values: [0.1, 0.05, 0.02, 0.01] }], 'test');
    expect(svg.match(/<polyline/g)).toHaveLength(2);
    expect(svg).toContain('4.00 → 1.00');
  });
});

describe('atelier train capvst', () => {
  it('refuses bad flags before any work', () => {
    const r = runCli(['train', 'capvst', '--content', dir.file('content'), '--mode', 'watercolour']);
    expect(r.status).toBe(2);
    expect(r.stderr).toContain('--mode');
    const s = runCli(['train', 'capvst', '--content', dir.file('content'), '--size', '30']);
    expect(s.status).toBe(2);
    expect(s.stderr).toContain('multiple of 4');
    const m = runCli(['train', 'capvst', '--content', dir.file('nothing-here')]);
    expect(m.status).toBe(1);
    expect(m.stderr).toContain('E_FILE_NOT_FOUND');
  });

  // Loading the full network's training graphs into ONNX Runtime takes minutes: opt-in.
  it.runIf(process.env.ATELIER_SLOW === '1')('trains, saves, resumes and plots (ATELIER_SLOW=1)', () => {
    const out = dir.file('run');
    const base = ['train', 'capvst', '--content', dir.file('content'), '--style', dir.file('style'), '--size', '32', '--vgg', 'random', '--out', out, '--save-every', '2', '--log-every', '1'];
    const first = runCli([...base, '--iterations', '2']);
    expect(first.status, first.stderr).toBe(0);
    const second = runCli([...base, '--iterations', '3', '--resume', '--json']);
    expect(second.status, second.stderr).toBe(0);
    const summary = JSON.parse(second.stdout) as { iterations: number };
    expect(summary.iterations).toBe(3);
    const losses = JSON.parse(readFileSync(path.join(out, 'losses.json'), 'utf8')) as { records: { iteration: number }[] };
    expect(losses.records.map((r) => r.iteration)).toEqual([0, 1, 2]);
    for (const f of ['last.safetensors', 'capvst-photoreal.safetensors', 'loss-curve.png', 'loss-curve.svg']) expect(existsSync(path.join(out, f))).toBe(true);
  }, 900_000);
});
