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
    async ready(w, h) {
      log.push(`ready ${w}x${h}`);
    },
    async run(data, _w, _h, progress) {
      const t = tile++;
      for (let k = 1; k <= stages; k++) {
        progress?.signal?.throwIfAborted();
        progress?.step(k, stages);
        onStage?.(t, k);
      }
      return data.slice();
    },
  };
}

describe('runTiled progress', () => {
  const image = new Image(40, 24, 3, Float32Array.from({ length: 40 * 24 * 3 }, (_, i) => (i % 97) / 97));

  it('reports step 0 after setup, then each stage of each tile, never backwards', async () => {
    const log: string[] = [];
    const steps: [number, number][] = [];
    const out = await runTiled(stagedIdentity(3, log), image, { tile: 24, margin: 4, onProgress: (d, t) => steps.push([d, t]) });
    expect(log).toEqual(['ready 24x24']);
    expect(steps[0]).toEqual([0, 2]);
    // Two tiles of three stages: 1..6 of 6.
    expect(steps.slice(1).map(([d, t]) => d / t)).toEqual([1, 2, 3, 4, 5, 6].map((k) => k / 6));
    let diff = 0;
    for (let i = 0; i < out.data.length; i++) diff = Math.max(diff, Math.abs(out.data[i]! - image.data[i]!));
    expect(diff).toBeLessThan(1e-6);
  });

  it('stops between stages of a tile when cancelled', async () => {
    const abort = new AbortController();
    let reached: [number, number] | undefined;
    const net = stagedIdentity(3, [], (tile, stage) => {
      reached = [tile, stage];
      if (tile === 0 && stage === 2) abort.abort(new Error('stop'));
    });
    const err = await runTiled(net, image, { tile: 24, margin: 4, signal: abort.signal }).catch((e: unknown) => e);
    expect((err as Error).message).toBe('stop');
    expect(reached).toEqual([0, 2]);
  });
});
