import { mkdirSync, writeFileSync, truncateSync, rmSync } from 'node:fs';
import { afterAll, describe, expect, it } from 'vitest';
import { AtelierError } from '../../../src/core/errors.js';
import { readDeeplearnCheckpoint } from '../../../src/engine/weights/deeplearnjs.js';
import { tempDir } from '../../helpers/fixtures.js';
import { sharedWeights as SHARED_WEIGHTS } from '../../helpers/torch-reference.js';

const tmp = tempDir('atelier-dljs-');
afterAll(() => tmp.cleanup());

/** A small checkpoint: a [2, 3] kernel and a [3] vector, written as deeplearn.js does. */
function writeCheckpoint(name: string): string {
  const dir = tmp.file(name);
  mkdirSync(dir, { recursive: true });
  writeFileSync(`${dir}/manifest.json`, JSON.stringify({ Variable: { filename: 'Variable', shape: [2, 3] }, Variable_1: { filename: 'Variable_1', shape: [3] } }));
  writeFileSync(`${dir}/Variable`, Buffer.from(Float32Array.from([1, -2, 3.5, 0.25, 5, -6]).buffer));
  writeFileSync(`${dir}/Variable_1`, Buffer.from(Float32Array.from([7, 8, 9]).buffer));
  return dir;
}

async function failure(p: Promise<unknown>): Promise<AtelierError> {
  const e = await p.then(() => undefined, (x: unknown) => x);
  expect(e).toBeInstanceOf(AtelierError);
  return e as AtelierError;
}

describe('deeplearn.js checkpoint reader', () => {
  it('reads every variable with its shape and values (folder or manifest path)', async () => {
    const dir = writeCheckpoint('ok');
    for (const where of [dir, `${dir}/manifest.json`]) {
      const m = await readDeeplearnCheckpoint(where);
      expect([...m.keys()].sort()).toEqual(['Variable', 'Variable_1']);
      expect(m.get('Variable')!.shape).toEqual([2, 3]);
      expect(Array.from(m.get('Variable')!.data)).toEqual([1, -2, 3.5, 0.25, 5, -6]);
      expect(Array.from(m.get('Variable_1')!.data)).toEqual([7, 8, 9]);
    }
  });

  it('names the manifest and the missing variable file', async () => {
    const dir = writeCheckpoint('missing');
    rmSync(`${dir}/Variable_1`);
    const e = await failure(readDeeplearnCheckpoint(dir));
    expect(e.code).toBe('E_WEIGHTS_CORRUPT');
    expect(e.subject).toBe(`${dir}/Variable_1`);
    expect(e.message).toMatch(/Variable_1.*missing/);
    expect(e.message).toContain('12 bytes');
  });

  it('refuses a truncated variable, saying where it ends and what was expected', async () => {
    const dir = writeCheckpoint('short');
    truncateSync(`${dir}/Variable`, 10);
    const e = await failure(readDeeplearnCheckpoint(dir));
    expect(e.code).toBe('E_WEIGHTS_CORRUPT');
    expect(e.subject).toBe(`${dir}/Variable`);
    expect(e.expected).toContain('24 bytes');
    expect(e.received).toContain('truncated at byte 10');
  });

  it('refuses a malformed manifest, a path outside the folder and a NaN weight', async () => {
    const bad = writeCheckpoint('bad-json');
    writeFileSync(`${bad}/manifest.json`, '{"Variable": {"filename": "Variable", "shape": [2, 3]');
    expect((await failure(readDeeplearnCheckpoint(bad))).code).toBe('E_WEIGHTS_CORRUPT');
    const escape = writeCheckpoint('escape');
    writeFileSync(`${escape}/manifest.json`, JSON.stringify({ Variable: { filename: '../ok/Variable', shape: [2, 3] } }));
    expect((await failure(readDeeplearnCheckpoint(escape))).message).toMatch(/unusable filename/);
    const shape = writeCheckpoint('shape');
    writeFileSync(`${shape}/manifest.json`, JSON.stringify({ Variable: { filename: 'Variable', shape: [2, -3] } }));
    expect((await failure(readDeeplearnCheckpoint(shape))).message).toMatch(/malformed shape/);
    const nan = writeCheckpoint('nan');
    writeFileSync(`${nan}/Variable_1`, Buffer.from(Float32Array.from([7, NaN, 9]).buffer));
    const e = await failure(readDeeplearnCheckpoint(nan));
    expect(e.code).toBe('E_WEIGHTS_CORRUPT');
    expect(e.received).toContain('byte offset 4');
    expect((await failure(readDeeplearnCheckpoint(tmp.file('nowhere')))).code).toBe('E_FILE_NOT_FOUND');
  });

  it('fuzz: every truncation and single-bit flip of the manifest, and truncations of a variable, read or are refused as E_WEIGHTS_CORRUPT naming the file', async () => {
    const dir = writeCheckpoint('fuzz');
    const manifest = Buffer.from(JSON.stringify({ Variable: { filename: 'Variable', shape: [2, 3] }, Variable_1: { filename: 'Variable_1', shape: [3] } }));
    const variable = Buffer.from(Float32Array.from([1, -2, 3.5, 0.25, 5, -6]).buffer);
    const outcomes = { read: 0, refused: 0 };
    const attempt = async (what: string) => {
      try {
        await readDeeplearnCheckpoint(dir);
        outcomes.read++;
      } catch (e) {
        expect(e, what).toBeInstanceOf(AtelierError);
        // A flipped file name may point at a file that is not there: that is the one other answer.
        const code = (e as AtelierError).code;
        expect(['E_WEIGHTS_CORRUPT', 'E_FILE_NOT_FOUND'], `${what}: ${(e as Error).message}`).toContain(code);
        expect((e as AtelierError).subject, what).toMatch(new RegExp(`^${dir}/`));
        outcomes.refused++;
      }
    };
    for (let cut = 0; cut < manifest.length; cut++) {
      writeFileSync(`${dir}/manifest.json`, manifest.subarray(0, cut));
      await attempt(`manifest cut at ${cut}`);
    }
    for (let i = 0; i < manifest.length; i++) {
      for (const bit of [0, 5, 7]) {
        const flipped = Buffer.from(manifest);
        flipped[i] ^= 1 << bit;
        writeFileSync(`${dir}/manifest.json`, flipped);
        await attempt(`manifest byte ${i} bit ${bit}`);
      }
    }
    writeFileSync(`${dir}/manifest.json`, manifest);
    for (let cut = 0; cut < variable.length; cut++) {
      writeFileSync(`${dir}/Variable`, variable.subarray(0, cut));
      await attempt(`Variable cut at ${cut}`);
    }
    for (let i = 0; i < variable.length; i++) {
      const flipped = Buffer.from(variable);
      flipped[i] ^= 0x80; // the sign bit of a byte: exponent bits may turn a weight into NaN or Inf
      writeFileSync(`${dir}/Variable`, flipped);
      await attempt(`Variable byte ${i} flipped`);
    }
    expect(outcomes.refused).toBeGreaterThan(manifest.length);
    expect(outcomes.read).toBeGreaterThan(0);
  });

  it.skipIf(!SHARED_WEIGHTS)(`reads the published Engstrom checkpoints (${SHARED_WEIGHTS ? 'shared weights present' : '../shared/weights is absent: skipped'})`, async () => {
    const m = await readDeeplearnCheckpoint(`${SHARED_WEIGHTS}/fst-engstrom/udnie`);
    expect(m.size).toBe(48);
    expect(m.get('Variable')!.shape).toEqual([9, 9, 3, 32]);
    expect(m.get('Variable_45')!.shape).toEqual([9, 9, 32, 3]);
    let params = 0;
    for (const t of m.values()) params += t.data.length;
    expect(params).toBe(1_677_638);
  });
});
