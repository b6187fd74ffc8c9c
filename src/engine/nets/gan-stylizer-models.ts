/**
 * The published GAN stylisers Atelier runs (TFLite generators, imported into engine graphs): which
 * model-store entry and file each variant is, its graph input, value range and licence, as read
 * from the files (input and output both in [-1, 1]; output of a tanh, or of White-box's guided
 * filter, which may overshoot slightly and is clipped). Kept apart from the code that runs them
 * (gan-stylizers.ts), so a method's description names its model without loading the engine.
 */

export interface GanStylizer {
  model: string;
  file: string;
  input: string;
  /** The resolution the file was exported at (it runs at any multiple of 4). */
  native: number;
  licence: string;
  /** The model's variant the file belongs to (models/manifest.json), when it has variants. */
  variant?: string;
}

const CARTOON_LICENCE = 'CC BY-NC-SA 4.0 (White-box Cartoonization weights): non-commercial use only';

export const CARTOON_VARIANTS = {
  dr: { model: 'whitebox-cartoon', variant: 'dr', file: 'whitebox_cartoon_gan_dr.tflite', input: 'input_photo', native: 512, licence: CARTOON_LICENCE },
  int8: { model: 'whitebox-cartoon', variant: 'int8', file: 'whitebox_cartoon_gan_int8.tflite', input: 'input_photo', native: 512, licence: CARTOON_LICENCE },
  fp16: { model: 'whitebox-cartoon', variant: 'fp16', file: 'whitebox_cartoon_gan_fp16.tflite', input: 'input_photo', native: 224, licence: CARTOON_LICENCE },
} as const satisfies Record<string, GanStylizer>;

export const ANIME_HAYAO: GanStylizer = {
  model: 'animeganv2-hayao',
  file: 'animeganv2_hayao_256x256_integer_quant.tflite',
  input: 'input',
  native: 256,
  licence: 'AnimeGANv2 terms: non-commercial use only (contact the authors for commercial use)',
};

/** The kind of an AnimeGAN generator made here (`atelier lora merge --base animeganv2-hayao`). */
export const ANIME_MERGED_KIND = 'anime';
