import { readFileSync } from 'node:fs';
import { open } from 'node:fs/promises';
import { afterAll, describe, expect, it } from 'vitest';
import { Rng } from '../../../../src/core/rng.js';
import { loadClipWeights, planClipCheckpoint, type TensorInfo } from '../../../../src/engine/nets/clip/checkpoint.js';
import { CLIP_PRESETS } from '../../../../src/engine/nets/clip/config.js';
import { ClipImageEncoder } from '../../../../src/engine/nets/clip/image-encoder.js';
import { ClipTextEncoder } from '../../../../src/engine/nets/clip/text-encoder.js';
import { float32ToFloat16Bits } from '../../../../src/engine/weights/dtype.js';
import { readSafetensors } from '../../../../src/engine/weights/safetensors.js';
import { tempDir } from '../../../helpers/fixtures.js';

/**
 * Tensor-name coverage of the published CLIP checkpoints. fixtures/*.tsv list every tensor name
 * and shape of ViT-B/32 and ViT-L/14 in OpenAI's layout (the state_dict of OpenAI's own clip/model.py
 * CLIP module at the published sizes, plus the three ints of the TorchScript files) and in Hugging
 * Face transformers' layout (modeling_clip.py's module tree at the published config.json sizes);
 * fixtures/make_clip_names.py says how they were made. Every name must be read or knowingly
 * skipped, none missing, and the sizes found must be the published configuration.
 *
 * With ATELIER_SLOW=1 a ViT-L/14 file of random values (float16 safetensors, 0.86 GB) is written
 * from each list and loaded for real, and both towers run once at full size.
 */

const FIXTURES = new URL('./fixtures/', import.meta.url);
const slow = process.env.ATELIER_SLOW === '1';
const work = tempDir('atelier-clip-names-');
afterAll(() => work.cleanup());

function names(file: string): TensorInfo[] {
  return readFileSync(new URL(file, FIXTURES), 'utf8')
    .trim()
    .split('\n')
    .map((line) => {
      const [name, dims] = line.split('\t') as [string, string | undefined];
      return { name, shape: dims ? dims.split(',').map(Number) : [] };
    });
}

const BUFFERS = ['input_resolution', 'context_length', 'vocab_size'];

describe('published CLIP tensor names', () => {
  for (const [tag, preset] of [['vit-b32', 'ViT-B/32'], ['vit-l14', 'ViT-L/14']] as const) {
    for (const layout of ['openai', 'transformers'] as const) {
      it(`${preset}, ${layout} layout: every name used, none missing, the published sizes`, () => {
        const infos = names(`clip-${tag}.${layout}.tsv`);
        const plan = planClipCheckpoint(infos);
        expect(plan.layout).toBe(layout);
        expect(plan.text!.config).toEqual(CLIP_PRESETS[preset].text);
        expect(plan.vision!.config).toEqual(CLIP_PRESETS[preset].vision);
        expect([...plan.used, ...plan.skipped].sort()).toEqual(infos.map((i) => i.name).sort());
        expect(plan.skipped.sort()).toEqual(layout === 'openai' ? [...BUFFERS].sort() : []);
      });
    }
  }

  it("Stable Diffusion's text encoder: the transformers text tower under a prefix, beside other models' names", () => {
    const text = names('clip-vit-l14.transformers.tsv').filter((i) => i.name.startsWith('text_model.'));
    const infos = [...text.map((i) => ({ ...i, name: `cond_stage_model.transformer.${i.name}` })), { name: 'model.diffusion_model.out.2.weight', shape: [4, 320, 3, 3] }];
    const plan = planClipCheckpoint(infos, { towers: ['text'] });
    expect(plan.prefix).toBe('cond_stage_model.transformer.');
    expect(plan.text!.config).toEqual({ ...CLIP_PRESETS['ViT-L/14'].text, embedDim: undefined });
    expect(plan.used).toHaveLength(text.length);
  });

  it('a list with one name dropped fails, naming it', () => {
    const infos = names('clip-vit-l14.transformers.tsv').filter((i) => i.name !== 'vision_model.encoder.layers.23.mlp.fc2.bias');
    expect(() => planClipCheckpoint(infos)).toThrow(/missing \(vision_model\.encoder\.layers\.23\.mlp\.fc2\.bias\)/);
  });
});

/** Write a safetensors file of random float16 values, tensor by tensor (never the whole file in memory). */
async function writeRandomSafetensors(file: string, infos: TensorInfo[]): Promise<void> {
  const header: Record<string, unknown> = {};
  let offset = 0;
  for (const { name, shape } of infos) {
    const bytes = shape.reduce((a, b) => a * b, 1) * 2;
    header[name] = { dtype: 'F16', shape, data_offsets: [offset, offset + bytes] };
    offset += bytes;
  }
  let json = JSON.stringify(header);
  json += ' '.repeat((8 - ((Buffer.byteLength(json) + 8) % 8)) % 8);
  const fh = await open(file, 'w');
  const write = async (buf: Buffer) => {
    await fh.write(buf);
  };
  const head = Buffer.alloc(8);
  head.writeBigUInt64LE(BigInt(Buffer.byteLength(json)));
  await write(head);
  await write(Buffer.from(json));
  // a table of 4096 small float16 values indexed by a xorshift stream: random enough to make every
  // tensor distinct, fast enough for 428 M values
  const rng = new Rng(5);
  const table = Uint16Array.from({ length: 4096 }, () => float32ToFloat16Bits(0.02 * (rng.next() - 0.5)));
  let state = 0x9e3779b9;
  for (const { shape } of infos) {
    const n = shape.reduce((a, b) => a * b, 1);
    const values = new Uint16Array(n);
    for (let i = 0; i < n; i++) {
      state ^= state << 13;
      state ^= state >>> 17;
      state ^= state << 5;
      values[i] = table[state & 4095]!;
    }
    await write(Buffer.from(values.buffer, values.byteOffset, values.byteLength));
  }
  await fh.close();
}

describe.skipIf(!slow)('published-size CLIP files of random values (ATELIER_SLOW=1)', () => {
  for (const layout of ['openai', 'transformers'] as const) {
    it(`ViT-L/14 in the ${layout} layout loads with no name missing or unused, and both towers run`, async () => {
      const infos = names(`clip-vit-l14.${layout}.tsv`);
      const file = work.file(`vit-l14.${layout}.safetensors`);
      await writeRandomSafetensors(file, infos);
      const weights = loadClipWeights(await readSafetensors(file), { subject: file });
      expect(weights.used.length + weights.skipped.length).toBe(infos.length);
      const text = await ClipTextEncoder.create(weights.text!, { threads: 2 });
      const t = await text.encode([[49406, 320, 1125, 539, 320, 2368, 49407, ...Array<number>(70).fill(49407)]]);
      expect(t.embeds).toHaveLength(768);
      await text.release();
      const image = await ClipImageEncoder.create(weights.vision!, { threads: 2 });
      const i = await image.encode(new Float32Array(3 * 224 * 224).fill(0.1));
      expect(i.embeds).toHaveLength(768);
      expect(i.hidden).toHaveLength(257 * 1024);
      await image.release();
    }, 1_200_000);
  }
});
