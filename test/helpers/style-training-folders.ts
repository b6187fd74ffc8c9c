import { mkdirSync } from 'node:fs';
import path from 'node:path';
import { writeImage } from '../../src/core/io.js';
import { noiseImage, stripesImage } from './fixtures.js';

/**
 * The folders a style trainer reads, made under `dir`: `style/` with two unlike style images
 * (stripes.png, a warm noise.png) and `content/` with `photos` small noise images (photo0.png, …).
 */
export async function styleTrainingFolders(dir: string, photos: number): Promise<{ styleDir: string; contentDir: string }> {
  const styleDir = path.join(dir, 'style');
  const contentDir = path.join(dir, 'content');
  mkdirSync(styleDir);
  mkdirSync(contentDir);
  await writeImage(stripesImage(48, 40, 6), path.join(styleDir, 'stripes.png'));
  await writeImage(noiseImage(40, 48, 3, [0.8, 0.3, 0.2]), path.join(styleDir, 'noise.png'));
  for (let i = 0; i < photos; i++) await writeImage(noiseImage(40, 40, 10 + i), path.join(contentDir, `photo${i}.png`));
  return { styleDir, contentDir };
}
