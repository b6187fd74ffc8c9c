import type { Command } from 'commander';
import { compareCommand } from './compare.js';
import { evalCommand } from './eval.js';
import { info } from './info.js';
import { methodsCommand } from './methods.js';
import { modelsCommand } from './models.js';
import { serve } from './serve.js';
import { texture } from './texture.js';
import { train } from './train.js';
import { transfer } from './transfer.js';
import { video } from './video.js';
import { worker } from './worker.js';

/** A CLI command: one file each under cli/, registered here. `argv` lets a command shape its flags. */
export interface CliCommand {
  register(program: Command, argv: readonly string[]): void;
}

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
];
