import type { Command } from 'commander';
import { info } from './info.js';
import { methodsCommand } from './methods.js';
import { modelsCommand } from './models.js';
import { train } from './train.js';
import { transfer } from './transfer.js';

/** A CLI command: one file each under cli/, registered here. `argv` lets a command shape its flags. */
export interface CliCommand {
  register(program: Command, argv: readonly string[]): void;
}

export const commands: CliCommand[] = [transfer, methodsCommand, info, modelsCommand, train];
