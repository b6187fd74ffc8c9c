import { existsSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { gunzipSync } from 'node:zlib';
import { Tokenizer } from '@huggingface/tokenizers';
import { AtelierError, wrapError } from '../../../core/errors.js';
import { CLIP_END_OF_TEXT, CLIP_START_OF_TEXT } from './config.js';

/**
 * CLIP's byte-level BPE tokenizer, run by Hugging Face's tokenizers.js (`@huggingface/tokenizers`,
 * pure JavaScript, no network) from the checkpoint's own vocabulary files:
 * - `tokenizer.json` (Hugging Face's serialised pipeline, as in openai/clip-vit-* and Stable
 *   Diffusion's tokenizer/ folder), used as it is;
 * - `vocab.json` + `merges.txt` (the "slow" tokenizer files of the same folders), assembled into
 *   the same pipeline `transformers` builds for CLIP: NFC, whitespace runs to one space,
 *   lowercase; split into contractions, letter runs, single digits and other-symbol runs; GPT-2's
 *   byte-to-unicode map; BPE with the `</w>` end-of-word suffix; `<|startoftext|> … <|endoftext|>`;
 * - OpenAI's `bpe_simple_vocab_16e6.txt(.gz)` (the merges list shipped with the `clip` package),
 *   whose vocabulary is defined by rule from the merges: the 256 byte symbols, the same with
 *   `</w>`, one token per merge (the first 48 894), then the two special tokens.
 * OpenAI's own tokenizer also runs ftfy's text repair and HTML unescaping first; Hugging Face's
 * fast CLIP tokenizer does not, and neither does this one (they differ only on broken Unicode and
 * HTML entities).
 */

/** Merges OpenAI's vocabulary uses: 49 152 − 256 − 2 (OpenAI's `SimpleTokenizer`). */
const OPENAI_MERGES = 49152 - 256 - 2;

/** The pre-tokenizer pattern of transformers' CLIP converter (contractions, letters, digits, other). */
const CLIP_SPLIT_PATTERN = "'s|'t|'re|'ve|'m|'ll|'d|[\\p{L}]+|[\\p{N}]|[^\\s\\p{L}\\p{N}]+";

export interface ClipTokenizeOptions {
  /** Rows are padded or cut to this many ids (77 for every published CLIP). */
  contextLength?: number;
  /**
   * What fills a row after `<|endoftext|>`: the end-of-text id again (transformers' CLIP and
   * Stable Diffusion), or 0 (OpenAI's `clip.tokenize`). The pooled feature is the same either way;
   * the per-token hidden states after the end differ.
   */
  pad?: 'end-of-text' | 'zero';
}

export class ClipTokenizer {
  readonly startId: number;
  readonly endId: number;

  private constructor(private readonly tokenizer: Tokenizer) {
    const start = tokenizer.token_to_id(CLIP_START_OF_TEXT);
    const end = tokenizer.token_to_id(CLIP_END_OF_TEXT);
    if (start === undefined || end === undefined) {
      throw new AtelierError('E_WEIGHTS_INVALID', "The vocabulary lacks CLIP's special tokens", {
        expected: `${CLIP_START_OF_TEXT} and ${CLIP_END_OF_TEXT} in the vocabulary`,
        hint: 'give the tokenizer files of a CLIP checkpoint',
      });
    }
    this.startId = start;
    this.endId = end;
  }

  /** From a parsed `tokenizer.json`. */
  static fromTokenizerJson(json: object): ClipTokenizer {
    return new ClipTokenizer(new Tokenizer(json, {}));
  }

  /** From `vocab.json` (token → id) and the lines of `merges.txt`. */
  static fromVocabAndMerges(vocab: Record<string, number>, merges: readonly string[]): ClipTokenizer {
    const pairs = merges.filter((m) => m.length > 0 && !m.startsWith('#version'));
    return ClipTokenizer.fromTokenizerJson(clipPipeline(vocab, pairs));
  }

  /** From the text of OpenAI's `bpe_simple_vocab_16e6.txt` (the first line is a header). */
  static fromOpenAiMerges(text: string): ClipTokenizer {
    const lines = text.split('\n').slice(1);
    const merges = lines.slice(0, Math.min(OPENAI_MERGES, lines.length)).filter((l) => l.trim().length > 0);
    const symbols = [...byteSymbols().values()];
    const tokens = [...symbols, ...symbols.map((s) => `${s}</w>`), ...merges.map((m) => m.split(' ').join('')), CLIP_START_OF_TEXT, CLIP_END_OF_TEXT];
    const vocab: Record<string, number> = {};
    tokens.forEach((t, i) => {
      vocab[t] = i;
    });
    return ClipTokenizer.fromVocabAndMerges(vocab, merges);
  }

  /**
   * From files: a folder holding tokenizer.json, or vocab.json and merges.txt; or one file
   * (tokenizer.json, merges.txt beside vocab.json, or OpenAI's bpe_simple_vocab_16e6.txt[.gz]).
   */
  static fromFiles(where: string): ClipTokenizer {
    const isDir = existsSync(where) && statSync(where).isDirectory();
    const dir = isDir ? where : path.dirname(where);
    const base = isDir ? undefined : path.basename(where);
    try {
      if ((isDir && existsSync(path.join(dir, 'tokenizer.json'))) || base === 'tokenizer.json') {
        return ClipTokenizer.fromTokenizerJson(JSON.parse(readFileSync(path.join(dir, 'tokenizer.json'), 'utf8')) as object);
      }
      if ((isDir || base === 'merges.txt' || base === 'vocab.json') && existsSync(path.join(dir, 'vocab.json')) && existsSync(path.join(dir, 'merges.txt'))) {
        const vocab = JSON.parse(readFileSync(path.join(dir, 'vocab.json'), 'utf8')) as Record<string, number>;
        return ClipTokenizer.fromVocabAndMerges(vocab, readFileSync(path.join(dir, 'merges.txt'), 'utf8').split('\n'));
      }
      if (base && existsSync(where)) {
        const raw = readFileSync(where);
        return ClipTokenizer.fromOpenAiMerges((base.endsWith('.gz') ? gunzipSync(raw) : raw).toString('utf8'));
      }
    } catch (e) {
      if (e instanceof AtelierError) throw e;
      throw wrapError(e, 'E_WEIGHTS_INVALID', 'The CLIP tokenizer files could not be read', { subject: where, hint: 'check that they are the files of a CLIP checkpoint, complete and unedited' });
    }
    throw new AtelierError('E_FILE_NOT_FOUND', 'No CLIP tokenizer files were found', {
      subject: where,
      expected: "a folder with tokenizer.json, or vocab.json and merges.txt; or OpenAI's bpe_simple_vocab_16e6.txt.gz",
      hint: 'install the CLIP model (atelier models install …) or point at its tokenizer folder',
    });
  }

  /** The BPE pieces of `text` (no special tokens), for inspection. */
  pieces(text: string): string[] {
    return this.tokenizer.tokenize(text);
  }

  /** `<|startoftext|>`, the text's ids, `<|endoftext|>`, padded or cut to the context length. */
  encode(text: string, options: ClipTokenizeOptions = {}): number[] {
    const length = options.contextLength ?? 77;
    const ids = this.tokenizer.encode(text, { add_special_tokens: false }).ids.slice(0, length - 2);
    const row = [this.startId, ...ids, this.endId];
    const fill = options.pad === 'zero' ? 0 : this.endId;
    while (row.length < length) row.push(fill);
    return row;
  }

  /** The text of ids, without the special tokens. */
  decode(ids: readonly number[]): string {
    return this.tokenizer.decode([...ids], { skip_special_tokens: true });
  }

  get vocabSize(): number {
    return this.tokenizer.get_vocab(true).size;
  }

  /** Token → id, special tokens included (what vocab.json holds). */
  vocabulary(): Map<string, number> {
    return this.tokenizer.get_vocab(true);
  }
}

/**
 * GPT-2's reversible byte → printable-character map, in GPT-2's order (the order of CLIP's first
 * 256 ids): the printable bytes as themselves, then the others as code points 256, 257, ….
 */
function byteSymbols(): Map<number, string> {
  const direct = (a: number, b: number) => Array.from({ length: b - a + 1 }, (_, i) => a + i);
  const printable = [...direct(0x21, 0x7e), ...direct(0xa1, 0xac), ...direct(0xae, 0xff)];
  const map = new Map<number, string>(printable.map((b) => [b, String.fromCodePoint(b)]));
  let extra = 0;
  for (let b = 0; b < 256; b++) if (!map.has(b)) map.set(b, String.fromCodePoint(256 + extra++));
  return map;
}

/** The tokenizer.json pipeline transformers builds for CLIP from vocab.json and merges.txt. */
function clipPipeline(vocab: Record<string, number>, merges: string[]): object {
  const special = (content: string) => ({ id: vocab[content], content, single_word: false, lstrip: false, rstrip: false, normalized: true, special: true });
  if (vocab[CLIP_START_OF_TEXT] === undefined || vocab[CLIP_END_OF_TEXT] === undefined) {
    throw new AtelierError('E_WEIGHTS_INVALID', "vocab.json lacks CLIP's special tokens", { expected: `${CLIP_START_OF_TEXT} and ${CLIP_END_OF_TEXT}` });
  }
  return {
    version: '1.0',
    added_tokens: [special(CLIP_START_OF_TEXT), special(CLIP_END_OF_TEXT)],
    normalizer: {
      type: 'Sequence',
      normalizers: [{ type: 'NFC' }, { type: 'Replace', pattern: { Regex: '\\s+' }, content: ' ' }, { type: 'Lowercase' }],
    },
    pre_tokenizer: {
      type: 'Sequence',
      pretokenizers: [
        { type: 'Split', pattern: { Regex: CLIP_SPLIT_PATTERN }, behavior: 'Removed', invert: true },
        { type: 'ByteLevel', add_prefix_space: false, trim_offsets: true, use_regex: true },
      ],
    },
    post_processor: {
      type: 'RobertaProcessing',
      sep: [CLIP_END_OF_TEXT, vocab[CLIP_END_OF_TEXT]],
      cls: [CLIP_START_OF_TEXT, vocab[CLIP_START_OF_TEXT]],
      trim_offsets: false,
      add_prefix_space: false,
    },
    decoder: { type: 'ByteLevel', add_prefix_space: true, trim_offsets: true, use_regex: true },
    model: {
      type: 'BPE',
      dropout: null,
      unk_token: CLIP_END_OF_TEXT,
      continuing_subword_prefix: '',
      end_of_word_suffix: '</w>',
      fuse_unk: false,
      byte_fallback: false,
      vocab,
      merges,
    },
  };
}
