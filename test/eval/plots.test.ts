import { describe, expect, it } from 'vitest';
import { barPlot, niceTicks, scatterPlot } from '../../src/eval/plots.js';
import { defaultMetrics } from '../../src/eval/run-evaluation.js';

describe('report plots', () => {
  it('chooses round ticks that cover the data', () => {
    expect(niceTicks(0.21, 0.97)).toEqual([0.2, 0.4, 0.6, 0.8, 1]);
    expect(niceTicks(0, 37)).toEqual([0, 10, 20, 30, 40]);
    const flat = niceTicks(5, 5);
    expect(flat[0]).toBeLessThan(5);
    expect(flat[flat.length - 1]).toBeGreaterThan(5);
  });

  it('draws one dot per point plus the means, escapes labels, and says when there is no data', () => {
    const svg = scatterPlot(
      [{ label: 'a<b', color: '#f00', points: [{ x: 0.5, y: 2, title: 'p1' }, { x: 0.7, y: 3, title: 'p2' }], centre: { x: 0.6, y: 2.5 } }],
      { label: 'x' },
      { label: 'y' },
      't',
    );
    expect(svg.match(/<circle/g)).toHaveLength(3);
    expect(svg).toContain('a&lt;b');
    expect(scatterPlot([], { label: 'x' }, { label: 'y' }, 'empty')).toContain('no data');
    expect(barPlot([{ label: 'm', color: '#00f', value: 2, points: [1, 3] }], { label: 's' }, 't').match(/<rect/g)).toHaveLength(1);
  });
});

describe('default metrics', () => {
  it('leave out neural metrics without weights, include them (labelled later) with random weights, temporal only with video pairs', () => {
    const none = defaultMetrics('installed', () => false).map((m) => m.id);
    expect(none).toEqual(['ssim', 'ms-ssim', 'psnr', 'edge-ssim', 'histogram', 'swd-patches']);
    const random = defaultMetrics('random', () => false).map((m) => m.id);
    expect(random).toEqual(expect.arrayContaining(['gram', 'content-loss', 'lpips']));
    expect(random).not.toContain('temporal');
    expect(defaultMetrics('installed', () => false, true).map((m) => m.id)).toContain('temporal');
    expect(defaultMetrics('installed', (m) => m === 'vgg_normalised').map((m) => m.id)).toContain('gram');
  });
});
