import { spawnSync } from 'node:child_process';
import { afterAll, describe, expect, it } from 'vitest';
import { Graph } from '../../src/engine/graph/graph.js';
import { activeDevice, compile, setDevice } from '../../src/engine/runtime.js';
import { gradientImage, tempDir } from '../helpers/fixtures.js';
import { writeImage } from '../../src/core/io.js';

/**
 * `--device cuda`: sessions ask ONNX Runtime for its CUDA provider; where it cannot be loaded (this
 * machine has no GPU, and the npm build ships the CPU provider only) the run goes on on the CPU,
 * with one message saying why. On a machine where CUDA loads, the same test checks the result
 * on the GPU instead and expects no message.
 */

const work = tempDir('atelier-device-');
afterAll(() => {
  setDevice('cpu');
  work.cleanup();
});

describe('device selection', () => {
  it('cuda falls back to the CPU with a message when the provider cannot be loaded, and computes the same', async () => {
    const messages: string[] = [];
    setDevice('cuda', (m) => messages.push(m));
    const g = new Graph();
    const x = g.input('x', [2, 3]);
    g.output('y', g.mul(g.add(x, g.scalar(1)), x));
    const runner = await compile(g, { cache: false });
    const { y } = await runner.run({ x: { data: Float32Array.from([1, 2, 3, -2, 0, 0.5]), shape: [2, 3] } });
    expect(Array.from(y!.data as Float32Array)).toEqual([2, 6, 12, 2, 0, 0.75]);
    if (activeDevice() === 'cpu') {
      expect(messages).toHaveLength(1);
      expect(messages[0]).toMatch(/--device cuda: ONNX Runtime's CUDA provider could not be used .*running on the CPU/);
    } else {
      expect(messages).toEqual([]);
    }
    await runner.release();
    setDevice('cpu');
  });

  it('the CLI takes --device cuda (message, result written) and refuses an unknown device with a usage error', async () => {
    const content = work.file('content.png');
    await writeImage(gradientImage(32, 24), content);
    const cli = (args: string[]) => spawnSync(process.execPath, ['bin/atelier.js', 'transfer', content, ...args], { encoding: 'utf8' });
    const ok = cli(['-m', 'diffusion.img2img', '--weights', 'random', '--steps', '2', '--size', '64', '--device', 'cuda', '-o', work.file('out.png')]);
    expect(ok.status, ok.stderr).toBe(0);
    expect(ok.stderr).toMatch(/CUDA provider could not be used|^(?![\s\S]*CUDA)/);
    const bad = cli(['-m', 'color.reinhard', '--device', 'tpu', '-o', work.file('bad.png')]);
    expect(bad.status).toBe(2);
    expect(bad.stderr).toMatch(/Unknown --device "tpu".*cpu or cuda/);
  }, 120_000);
});
