import { writeFileSync, mkdirSync } from 'node:fs';
import { gzipSync } from 'node:zlib';
import { afterAll, describe, expect, it } from 'vitest';
import { AtelierError } from '../../../../src/core/errors.js';
import { ClipTokenizer } from '../../../../src/engine/nets/clip/tokenizer.js';
import { tempDir } from '../../../helpers/fixtures.js';

/**
 * CLIP's tokenizer from its vocabulary files, through tokenizers.js. A small vocabulary in
 * OpenAI's merges-file form is built here (the byte symbols, then a few merges); the ids it must
 * give follow from CLIP's vocabulary rule by hand: the 256 byte symbols in GPT-2's order
 * ('!'…'~' first, so 'a' is 64), the same with '</w>' from 256, one id per merge from 512, then
 * <|startoftext|> and <|endoftext|>. The same vocabulary written as vocab.json + merges.txt must
 * tokenize identically.
 *
 * With ATELIER_CLIP_BPE pointing at OpenAI's bpe_simple_vocab_16e6.txt.gz (from the `clip`
 * package), the published ids of "a photo of a cat" are checked too.
 */

const MERGES = ['c a', 'ca t</w>', 'd o', 'do g</w>'].join('\n');
const OPENAI_TEXT = `"bpe_simple_vocab_16e6.txt#version: 0.2\n${MERGES}\n`;
const work = tempDir('atelier-clip-tok-');
afterAll(() => work.cleanup());

const A = 64; // 'a' is the 65th printable byte after '!'
const WORD = 256; // + '</w>'
const MERGE = 512; // first merge

describe('ClipTokenizer', () => {
  const tok = ClipTokenizer.fromOpenAiMerges(OPENAI_TEXT);

  it('builds the vocabulary by CLIP\'s rule and applies the merges', () => {
    expect(tok.startId).toBe(MERGE + 4);
    expect(tok.endId).toBe(MERGE + 5);
    // "a cat, dog!": a</w> is a byte symbol with the suffix, cat</w> = merge 1, ','</w>, dog</w> = merge 3, '!'</w>
    expect(tok.pieces('A  Cat, dog!')).toEqual(['a</w>', 'cat</w>', ',</w>', 'dog</w>', '!</w>']);
    const ids = tok.encode('A  Cat, dog!', { contextLength: 9 });
    expect(ids).toEqual([516, WORD + A, MERGE + 1, WORD + (','.charCodeAt(0) - 0x21), MERGE + 3, WORD + 0, 517, 517, 517]);
    // an unmerged word falls back to its byte symbols: "ab" → a, b</w>
    expect(tok.encode('ab', { contextLength: 4, pad: 'zero' })).toEqual([516, A, WORD + A + 1, 517]);
    expect(tok.decode(ids)).toBe('a cat, dog!');
  });

  it('pads to the context length with end-of-text or zeros, and cuts long text keeping end-of-text last', () => {
    expect(tok.encode('cat', { contextLength: 5 })).toEqual([516, MERGE + 1, 517, 517, 517]);
    expect(tok.encode('cat', { contextLength: 5, pad: 'zero' })).toEqual([516, MERGE + 1, 517, 0, 0]);
    const long = tok.encode('cat '.repeat(100));
    expect(long).toHaveLength(77);
    expect(long[0]).toBe(516);
    expect(long[76]).toBe(517);
    expect(long.slice(1, 76).every((i) => i === MERGE + 1)).toBe(true);
  });

  it('reads the same vocabulary from vocab.json + merges.txt, a folder, and OpenAI\'s .txt.gz', () => {
    const dir = work.file('hf');
    mkdirSync(dir);
    const vocab: Record<string, number> = {};
    for (let i = 0; i < tok.vocabSize; i++) vocab[(tok as unknown as { tokenizer: { id_to_token(i: number): string } }).tokenizer.id_to_token(i)] = i;
    writeFileSync(`${dir}/vocab.json`, JSON.stringify(vocab));
    writeFileSync(`${dir}/merges.txt`, `#version: 0.2\n${MERGES}\n`);
    const gz = work.file('bpe.txt.gz');
    writeFileSync(gz, gzipSync(OPENAI_TEXT));
    const text = 'a dog,  A CAT ab';
    for (const other of [ClipTokenizer.fromFiles(dir), ClipTokenizer.fromFiles(`${dir}/merges.txt`), ClipTokenizer.fromFiles(gz)]) {
      expect(other.encode(text)).toEqual(tok.encode(text));
    }
  });

  it('refuses a folder without tokenizer files, and a vocabulary without the special tokens', () => {
    expect(() => ClipTokenizer.fromFiles(work.dir)).toThrow(AtelierError);
    expect(() => ClipTokenizer.fromVocabAndMerges({ a: 0 }, [])).toThrow(/special tokens/);
  });

  it.skipIf(!process.env.ATELIER_CLIP_BPE)("OpenAI's published vocabulary gives the published ids (ATELIER_CLIP_BPE)", () => {
    const real = ClipTokenizer.fromFiles(process.env.ATELIER_CLIP_BPE!);
    expect(real.vocabSize).toBe(49408);
    expect(real.encode('a photo of a cat').slice(0, 8)).toEqual([49406, 320, 1125, 539, 320, 2368, 49407, 49407]);
    expect(real.encode('a diagram', { pad: 'zero' }).slice(0, 5)).toEqual([49406, 320, 22697, 49407, 0]);
  });
});
