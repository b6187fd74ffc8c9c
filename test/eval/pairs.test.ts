import { writeFileSync } from 'node:fs';
import { afterAll, describe, expect, it } from 'vitest';
import { readPairsFile } from '../../src/eval/pairs.js';
import { tempDir } from '../helpers/fixtures.js';

const tmp = tempDir();
afterAll(() => tmp.cleanup());

describe('pairs file', () => {
  it('reads groups, resolves paths against the file, names pairs uniquely and keeps masks', async () => {
    const file = tmp.file('pairs.json');
    writeFileSync(
      file,
      JSON.stringify({
        about: 'ignored',
        artistic: [{ content: 'c/a.jpg', style: 's/b.jpg' }, { content: 'c/a.jpg', style: 'other/b.jpg' }],
        photoreal: [{ content: 'in1.png', style: 'tar1.png', content_mask: 'm/in1.png', style_mask: 'm/tar1.png' }],
        video: [{ content_video: 'v.mp4', style: 's/b.jpg' }],
      }),
    );
    const { pairs } = await readPairsFile(file);
    expect(pairs.map((p) => p.id)).toEqual(['artistic/a-b', 'artistic/a-b-2', 'photoreal/in1-tar1', 'video/v-b']);
    expect(pairs[0]!.content).toBe(tmp.file('c/a.jpg'));
    expect(pairs[2]!.contentMask).toBe(tmp.file('m/in1.png'));
    expect(pairs[3]!.kind).toBe('video');
  });

  it('accepts a bare list of pairs', async () => {
    const file = tmp.file('list.json');
    writeFileSync(file, JSON.stringify([{ content: 'a.png', style: 'b.png' }]));
    expect((await readPairsFile(file)).pairs[0]!.group).toBe('pairs');
  });

  it('says which pair is malformed, and what a missing file or bad JSON is', async () => {
    const file = tmp.file('bad.json');
    writeFileSync(file, JSON.stringify({ artistic: [{ content: 'a.png' }, { style: 'b.png' }] }));
    await expect(readPairsFile(file)).rejects.toThrow(/Pair 2 of "artistic"/);
    writeFileSync(file, '{ nope');
    await expect(readPairsFile(file)).rejects.toMatchObject({ code: 'E_PARAM' });
    await expect(readPairsFile(tmp.file('missing.json'))).rejects.toMatchObject({ code: 'E_FILE_NOT_FOUND' });
  });
});
