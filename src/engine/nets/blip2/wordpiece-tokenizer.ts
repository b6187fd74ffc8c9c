import { existsSync, readFileSync } from 'node:fs';
import { Tokenizer } from '@huggingface/tokenizers';
import { AtelierError, wrapError } from '../../../core/errors.js';

/**
 * BERT's WordPiece tokenizer (Devlin et al. 2019; Wu et al. 2016), run by Hugging Face's
 * tokenizers.js (`@huggingface/tokenizers`) from a vocabulary file: `vocab.txt`, one token per
 * line, the line number its id (bert-base-uncased's, which BLIP-2's Q-Former reads through
 * `BertTokenizer.from_pretrained("bert-base-uncased")`), assembled into the pipeline `transformers`
 * builds for an uncased BERT: clean the text, space out CJK characters, lowercase and strip accents
 * (BertNormalizer); split on whitespace and punctuation (BertPreTokenizer); greedy longest-match
 * WordPiece with the `##` continuation prefix and `[UNK]` for words of more than 100 characters or
 * with no match; `[CLS] … [SEP]` around the text (BertProcessing).
 */

export const BERT_SPECIAL_TOKENS = ['[PAD]', '[UNK]', '[CLS]', '[SEP]', '[MASK]'] as const;

export class WordPieceTokenizer {
  readonly clsId: number;
  readonly sepId: number;

  private constructor(
    private readonly tokenizer: Tokenizer,
    readonly vocabSize: number,
  ) {
    this.clsId = tokenizer.token_to_id('[CLS]')!;
    this.sepId = tokenizer.token_to_id('[SEP]')!;
  }

  /** From the tokens of vocab.txt in id order. */
  static fromVocabulary(tokens: readonly string[], subject = 'the WordPiece vocabulary'): WordPieceTokenizer {
    const vocab: Record<string, number> = {};
    tokens.forEach((t, i) => {
      if (!Object.hasOwn(vocab, t)) vocab[t] = i;
    });
    const missing = BERT_SPECIAL_TOKENS.filter((t) => vocab[t] === undefined);
    if (missing.length > 0 || tokens.length === 0) {
      throw new AtelierError('E_WEIGHTS_INVALID', "The vocabulary is not a BERT WordPiece vocabulary: it lacks BERT's special tokens", {
        subject,
        expected: `${BERT_SPECIAL_TOKENS.join(', ')} among the lines of vocab.txt (bert-base-uncased's)`,
        received: tokens.length === 0 ? 'an empty vocabulary' : `${tokens.length} tokens without ${missing.join(', ')}`,
        hint: 'give the vocab.txt of bert-base-uncased (atelier models pull bert-base-uncased)',
      });
    }
    const special = (content: string) => ({ id: vocab[content], content, single_word: false, lstrip: false, rstrip: false, normalized: false, special: true });
    const json = {
      version: '1.0',
      added_tokens: BERT_SPECIAL_TOKENS.map(special),
      normalizer: { type: 'BertNormalizer', clean_text: true, handle_chinese_chars: true, strip_accents: null, lowercase: true },
      pre_tokenizer: { type: 'BertPreTokenizer' },
      post_processor: { type: 'BertProcessing', sep: ['[SEP]', vocab['[SEP]']], cls: ['[CLS]', vocab['[CLS]']] },
      decoder: { type: 'WordPiece', prefix: '##', cleanup: true },
      model: { type: 'WordPiece', unk_token: '[UNK]', continuing_subword_prefix: '##', max_input_chars_per_word: 100, vocab },
    };
    return new WordPieceTokenizer(new Tokenizer(json, {}), tokens.length);
  }

  /** From a vocab.txt file. */
  static fromFile(file: string): WordPieceTokenizer {
    if (!existsSync(file)) {
      throw new AtelierError('E_FILE_NOT_FOUND', 'No WordPiece vocabulary there', {
        subject: file,
        expected: "bert-base-uncased's vocab.txt",
        hint: 'install it with `atelier models pull bert-base-uncased`, or put vocab.txt beside the checkpoint',
      });
    }
    let text: string;
    try {
      text = readFileSync(file, 'utf8');
    } catch (e) {
      throw wrapError(e, 'E_WEIGHTS_INVALID', 'The WordPiece vocabulary could not be read', { subject: file });
    }
    const lines = text.split('\n').map((l) => l.replace(/\r$/, ''));
    if (lines.at(-1) === '') lines.pop();
    return WordPieceTokenizer.fromVocabulary(lines, file);
  }

  /** The WordPiece pieces of `text` (no special tokens). */
  pieces(text: string): string[] {
    return this.tokenizer.tokenize(text);
  }

  /** `[CLS]`, the text's ids, `[SEP]` (no padding: one prompt at a time). */
  encode(text: string): number[] {
    return this.tokenizer.encode(text).ids;
  }
}
