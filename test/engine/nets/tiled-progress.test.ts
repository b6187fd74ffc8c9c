import { describe, expect, it } from 'vitest';
import { Image } from '../../../src/core/image.js';
import { runTiled, type ImageNetwork } from '../../../src/engine/nets/tiled-image-net.js';

/**
 * runTiled's progress: setup (the network's compile for the tile size) before step 0, then the
 * stages a network reports inside each tile, in order across tiles; a cancel lands between stages.
 */
function stagedIdentity(stages: number, log: string[], onStage?: (tile: number, stage: number) => void): ImageNetwork {
  let tile = 0;
  return {
    multiple: 4,
    minSide: 4,
    async ready(w, h, inTile) {
      log.push(`ready ${w}x${h}${inTile ? ' in tile' : ''}`);
    },
    async run(data, _w, _h, progress) {
      const t = tile++;
      // Stages only when asked for progress within the tile.
      for (let k = 1; k <= stages && progress; k++) {
        progress.signal?.throwIfAborted();
        progress.step(k, stages);
        onStage?.(t, k);
      }
      return data.slice();
    },
  };
}

describe('runTiled progress', () => {
  const image = new Image(40, 24, 3, Float32Array.from({ length: 40 * 24 * 3 }, (_, i) => (i % 97) / 97));
  const square = new Image(24, 24, 3, image.data.slice(0, 24 * 24 * 3));

  it('one tile: step 0 after setup, then each stage of the network, never backwards', async () => {
    const log: string[] = [];
    const steps: [number, number][] = [];
    const out = await runTiled(stagedIdentity(3, log), square, { tile: 24, margin: 4, onProgress: (d, t) => steps.push([d, t]) });
    expect(log).toEqual(['ready 24x24 in tile']);
    expect(steps[0]).toEqual([0, 1]);
    expect(steps.slice(1).map(([d, t]) => d / t)).toEqual([1 / 3, 2 / 3, 1]);
    let diff = 0;
    for (let i = 0; i < out.data.length; i++) diff = Math.max(diff, Math.abs(out.data[i]! - square.data[i]!));
    expect(diff).toBeLessThan(1e-6);
  });

  it('several tiles: step 0 after setup, then one report per tile (tiles run whole)', async () => {
    const log: string[] = [];
    const steps: [number, number][] = [];
    let staged = 0;
    await runTiled(stagedIdentity(3, log, () => staged++), image, { tile: 24, margin: 4, onProgress: (d, t) => steps.push([d, t]) });
    expect(log).toEqual(['ready 24x24']);
    expect(steps).toEqual([
      [0, 2],
      [1, 2],
      [2, 2],
    ]);
    expect(staged).toBe(0);
  });

  it('stops between stages of a tile when cancelled', async () => {
    const abort = new AbortController();
    let reached: [number, number] | undefined;
    const net = stagedIdentity(3, [], (tile, stage) => {
      reached = [tile, stage];
      if (tile === 0 && stage === 2) abort.abort(new Error('stop'));
    });
    const err = await runTiled(net, square, { tile: 24, margin: 4, signal: abort.signal, onProgress: () => {} }).catch((e: unknown) => e);
    expect((err as Error).message).toBe('stop');
    expect(reached).toEqual([0, 2]);
  });
});
