import { describe, expect, it } from 'vitest';
import { planUnetCheckpoint } from '../../../src/engine/diffusion/unet.js';
import { diffusersVaeName, planVaeCheckpoint } from '../../../src/engine/diffusion/vae.js';
import { fixtureTensorNames } from './fixture-tensor-names.js';

/**
 * Tensor-name coverage of Stable Diffusion 1.5's VAE. fixtures/sd15-vae.ldm.tsv lists every name
 * and shape of first_stage_model.* in the original single-file checkpoint, made by running
 * CompVis/stable-diffusion's own Encoder/Decoder at v1-inference.yaml's sizes
 * (fixtures/make_sd15_names.py). Every name must be read, none missing, and the sizes found must
 * be SD 1.5's. The diffusers vae/ layout is the same list renamed by diffusers' conversion rules
 * (`diffusersVaeName`), so it is checked for having no name collision and the same coverage.
 */

describe('SD 1.5 VAE tensor names', () => {
  it('the single-file list (first_stage_model.*) is read whole, at SD 1.5 sizes', () => {
    const infos = [...fixtureTensorNames('sd15-vae.ldm.tsv'), { name: 'model.diffusion_model.input_blocks.0.0.weight', shape: [320, 4, 3, 3] }];
    const plan = planVaeCheckpoint(infos);
    expect(plan.layout).toBe('ldm');
    expect(plan.prefix).toBe('first_stage_model.');
    expect(plan.config).toEqual({ channels: 128, multipliers: [1, 2, 4, 4], resBlocks: 2, latentChannels: 4, groups: 32, eps: 1e-6, scalingFactor: 0.18215 });
    expect(plan.used.sort()).toEqual(infos.filter((i) => i.name.startsWith('first_stage_model.')).map((i) => i.name).sort());
  });

  it('the same list in the diffusers layout (attention as linear weights) is read whole', () => {
    const infos = fixtureTensorNames('sd15-vae.ldm.tsv').map(({ name, shape }) => {
      const renamed = diffusersVaeName(name.slice('first_stage_model.'.length), 4, false);
      const linear = /attentions\.0\.to_.*weight$/.test(renamed);
      return { name: renamed, shape: linear ? shape.slice(0, 2) : shape };
    });
    expect(new Set(infos.map((i) => i.name)).size).toBe(infos.length);
    const plan = planVaeCheckpoint(infos);
    expect(plan.layout).toBe('diffusers');
    expect(plan.used).toHaveLength(infos.length);
  });
});

describe('SD 1.5 UNet tensor names', () => {
  it('the single-file list (model.diffusion_model.*, from CompVis\'s UNetModel) is read whole, at SD 1.5 sizes', () => {
    const infos = [...fixtureTensorNames('sd15-unet.ldm.tsv'), ...fixtureTensorNames('sd15-vae.ldm.tsv')];
    const plan = planUnetCheckpoint(infos);
    expect(plan.layout).toBe('ldm');
    expect(plan.prefix).toBe('model.diffusion_model.');
    expect(plan.config).toEqual({
      channels: 320,
      multipliers: [1, 2, 4, 4],
      resBlocks: 2,
      attentionLevels: [true, true, true, false],
      heads: 8,
      contextDim: 768,
      inChannels: 4,
      outChannels: 4,
      groups: 32,
      depth: 1,
    });
    expect(plan.used.sort()).toEqual(fixtureTensorNames('sd15-unet.ldm.tsv').map((i) => i.name).sort());
  });
});
