import { describe, expect, it } from 'vitest';
import type { ProgressEvent } from '../../src/core/progress.js';
import { ProgressReporter } from '../../src/core/progress.js';
import { domainTransformSmooth, domainTransformSmoothPaced } from '../../src/imaging/domain-transform.js';
import { noiseImage } from '../helpers/fixtures.js';

/** The paced domain transform (row blocks, turns of the event loop) is the same filter. */
describe('domainTransformSmoothPaced', () => {
  const img = noiseImage(300, 700, 4, [0.5, 0.4, 0.3], 0.3);
  const planes = () => [img.plane(0).slice(), img.plane(1).slice(), img.plane(2).slice()];

  it('gives the same pixels as the one-call filter, with progress rising to 1', async () => {
    const whole = domainTransformSmooth(planes(), 300, 700, 20, 0.3, 3);
    const paced = planes();
    const events: ProgressEvent[] = [];
    const reporter = new ProgressReporter((e) => events.push(e), 'dt');
    await domainTransformSmoothPaced(paced, 300, 700, 20, 0.3, 3, { progress: reporter });
    for (let c = 0; c < 3; c++) expect(Buffer.from(paced[c]!.buffer).equals(Buffer.from(whole[c]!.buffer))).toBe(true);
    // The filter did something: it is not the identity.
    expect(Buffer.from(whole[0]!.buffer).equals(Buffer.from(img.plane(0).slice().buffer))).toBe(false);
    expect(events.at(-1)!.fraction).toBe(1);
    for (let i = 1; i < events.length; i++) expect(events[i]!.fraction).toBeGreaterThanOrEqual(events[i - 1]!.fraction);
  });

  it('stops with E_ABORTED when cancelled', async () => {
    const abort = new AbortController();
    abort.abort();
    await expect(domainTransformSmoothPaced(planes(), 300, 700, 20, 0.3, 3, { signal: abort.signal })).rejects.toMatchObject({ code: 'E_ABORTED' });
  });
});
