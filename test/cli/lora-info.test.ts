import { afterAll, describe, expect, it } from 'vitest';
import { writeSafetensors } from '../../src/engine/weights/safetensors.js';
import { runCli } from '../helpers/cli.js';
import { tempDir } from '../helpers/fixtures.js';

/** `atelier lora info` on Stable Diffusion LoRA files (kohya / diffusers keys), beside Atelier's own adapters. */

const tmp = tempDir('atelier-lora-info-');
afterAll(() => tmp.cleanup());
const K = 'lora_unet_down_blocks_0_attentions_0_transformer_blocks_0_attn2_to_k';
const t = (name: string, shape: number[]) => ({ name, shape, data: new Float32Array(shape.reduce((p, q) => p * q, 1)).fill(0.01) });

describe('atelier lora info', () => {
  it('describes a kohya file layer by layer, and names another adapter kind', async () => {
    const file = tmp.file('k.safetensors');
    await writeSafetensors(file, [t(`${K}.lora_down.weight`, [4, 768]), t(`${K}.lora_up.weight`, [320, 4]), { name: `${K}.alpha`, shape: [], data: Float32Array.of(2) }]);
    const r = runCli(['lora', 'info', file, '--json']);
    expect(r.status, r.stderr).toBe(0);
    const facts = JSON.parse(r.stdout) as { layouts: string[]; parameters: number; layers: { module: string; rank: number; alpha: number }[] };
    expect(facts).toMatchObject({ layouts: ['kohya'], parameters: 4 * 768 + 320 * 4, layers: [{ module: K.slice('lora_unet_'.length), rank: 4, alpha: 2 }] });
    const loha = tmp.file('loha.safetensors');
    await writeSafetensors(loha, [t(`${K}.hada_w1_a`, [4, 4])]);
    const bad = runCli(['lora', 'info', loha]);
    expect(bad.status).not.toBe(0);
    expect(bad.stderr).toMatch(/LoHa.*E_WEIGHTS_INVALID/s);
  }, 60_000);
});
