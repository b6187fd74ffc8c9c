import { describe, expect, it } from 'vitest';
import { AtelierError } from '../../../src/core/errors.js';
import { runMethod } from '../../../src/core/stylize.js';
import { importModel } from '../../../src/engine/store.js';
import { capvst } from '../../../src/methods/neural/capvst.js';
import { writeCapVstCheckpoint } from '../../helpers/capvst-checkpoint.js';
import { gradientImage, noiseImage } from '../../helpers/fixtures.js';
import { temporaryHome } from '../../helpers/temporary-home.js';

const dir = temporaryHome('atelier-capvst-');

const content = gradientImage(36, 28);
const style = noiseImage(32, 32, 5, [0.8, 0.4, 0.1], 0.2);

async function failure(p: Promise<unknown>): Promise<AtelierError> {
  const e = await p.then(() => undefined, (err: unknown) => err);
  expect(e).toBeInstanceOf(AtelierError);
  return e as AtelierError;
}

describe('neural.capvst weights', () => {
  it('fails with E_WEIGHTS_MISSING and the commands that fix it when nothing is installed', async () => {
    const e = await failure(runMethod(capvst, { content, style }, {}));
    expect(e.code).toBe('E_WEIGHTS_MISSING');
    expect(e.message).toContain('atelier models pull capvstnet_photo_image');
    expect(e.message).toContain('--weights random');
  });

  it('runs a checkpoint with the published layout, from a file and from the model store', async () => {
    const file = dir.file('photo_image.pt');
    await writeCapVstCheckpoint(file, 'photoreal', 3);
    const fromFile = await runMethod(capvst, { content, style }, { weights: file });
    expect(fromFile.meta.weights).toBe(file);
    await importModel('capvstnet_photo_image', file);
    const installed = await runMethod(capvst, { content, style }, {});
    expect(installed.meta.weights).toBe('capvstnet_photo_image');
    expect(Buffer.from(installed.image.data.buffer).equals(Buffer.from(fromFile.image.data.buffer))).toBe(true);
    // alpha 0 gives the content back through the loaded network.
    const same = await runMethod(capvst, { content, style }, { weights: file, alpha: 0 });
    let err = 0;
    for (let i = 0; i < content.data.length; i++) err = Math.max(err, Math.abs(same.image.data[i]! - content.data[i]!));
    expect(err).toBeLessThan(1e-4);
  });

  it('names a missing or mis-shaped tensor', async () => {
    const missing = dir.file('missing.pt');
    await writeCapVstCheckpoint(missing, 'artistic', 1, { drop: 'stack.12.conv.7.bias' });
    const e1 = await failure(runMethod(capvst, { content, style }, { weights: missing, mode: 'artistic' }));
    expect(e1.code).toBe('E_WEIGHTS_INVALID');
    expect(e1.message).toContain('stack.12.conv.7.bias');
    const misshaped = dir.file('misshaped.pt');
    await writeCapVstCheckpoint(misshaped, 'photoreal', 1, { reshape: { name: 'channel_reduction.block_list.0.conv.1.weight', shape: [64, 128, 3, 3] } });
    const e2 = await failure(runMethod(capvst, { content, style }, { weights: misshaped }));
    expect(e2.code).toBe('E_WEIGHTS_INVALID');
    expect(e2.message).toContain('channel_reduction.block_list.0.conv.1.weight');
    expect(e2.message).toContain('[64, 256, 3, 3]');
  });

  it('works at its published 1280 px by default', async () => {
    const big = gradientImage(1300, 13);
    const r = await runMethod(capvst, { content: big, style }, { weights: 'random' });
    expect(r.params.maxSize).toBe(1280);
    expect(r.image.width).toBe(1280);
  });
});
