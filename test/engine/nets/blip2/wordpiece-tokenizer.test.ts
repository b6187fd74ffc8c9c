import { writeFileSync } from 'node:fs';
import { afterAll, describe, expect, it } from 'vitest';
import { WordPieceTokenizer } from '../../../../src/engine/nets/blip2/wordpiece-tokenizer.js';
import { tempDir } from '../../../helpers/fixtures.js';

/**
 * BERT's uncased WordPiece pipeline through tokenizers.js, on a small vocabulary in BERT's order
 * ([PAD], [unused0], [UNK], [CLS], [SEP], [MASK], words, ##pieces). The expected pieces follow from
 * WordPiece's definition (Wu et al. 2016; BERT's tokenization.py): lowercase and strip accents,
 * split off punctuation, then the longest vocabulary prefix first, continuations with "##", and a
 * word with no full match becomes [UNK] as a whole.
 */

const VOCAB = ['[PAD]', '[unused0]', '[UNK]', '[CLS]', '[SEP]', '[MASK]', 'style', 'content', '##s', 'paint', '##ing', '##in', 'a', '!', 'cafe'];
const id = (t: string) => VOCAB.indexOf(t);
const work = tempDir('atelier-wordpiece-');
afterAll(() => work.cleanup());

describe('WordPieceTokenizer', () => {
  const tokenizer = WordPieceTokenizer.fromVocabulary(VOCAB);

  it("wraps DEADiff's subject words in [CLS] … [SEP], case-insensitively", () => {
    expect(tokenizer.encode('style')).toEqual([id('[CLS]'), id('style'), id('[SEP]')]);
    expect(tokenizer.encode('  Content ')).toEqual([id('[CLS]'), id('content'), id('[SEP]')]);
    expect([tokenizer.clsId, tokenizer.sepId, tokenizer.vocabSize]).toEqual([3, 4, VOCAB.length]);
  });

  it('splits words into the longest pieces first, punctuation apart, accents stripped, unknown words whole', () => {
    expect(tokenizer.pieces('Contents')).toEqual(['content', '##s']);
    // "##ing" is longer than "##in": the longest match wins
    expect(tokenizer.pieces('PAINTING!')).toEqual(['paint', '##ing', '!']);
    expect(tokenizer.pieces('Café')).toEqual(['cafe']);
    // "stylex" has no full segmentation: the whole word is [UNK]
    expect(tokenizer.encode('a stylex')).toEqual([id('[CLS]'), id('a'), id('[UNK]'), id('[SEP]')]);
  });

  it('reads vocab.txt (one token per line, CRLF too) and refuses one without the special tokens', () => {
    writeFileSync(work.file('vocab.txt'), `${VOCAB.join('\r\n')}\r\n`);
    expect(WordPieceTokenizer.fromFile(work.file('vocab.txt')).encode('paints')).toEqual([3, id('paint'), id('##s'), 4]);
    expect(() => WordPieceTokenizer.fromFile(work.file('missing.txt'))).toThrow(/No WordPiece vocabulary there/);
    writeFileSync(work.file('bad.txt'), 'style\ncontent\n');
    expect(() => WordPieceTokenizer.fromFile(work.file('bad.txt'))).toThrow(/lacks BERT's special tokens/);
  });
});
