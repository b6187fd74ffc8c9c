import type { CliCommand } from './command.js';
import { compareCommand } from './compare.js';
import { evalCommand } from './eval.js';
import { info } from './info.js';
import { loraCommand } from './lora.js';
import { methodsCommand } from './methods.js';
import { modelsCommand } from './models.js';
import { serve } from './serve.js';
import { texture } from './texture.js';
import { train } from './train.js';
import { transfer } from './transfer.js';
import { video } from './video.js';
import { worker } from './worker.js';

/** Every `atelier` command, in the order `--help` lists them. */
export const commands: CliCommand[] = [
  transfer,
  video,
  methodsCommand,
  info,
  modelsCommand,
  texture,
  evalCommand,
  compareCommand,
  serve,
  worker,
  train,
  loraCommand,
];
