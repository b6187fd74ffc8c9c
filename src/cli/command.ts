import type { Command } from 'commander';

/**
 * A CLI command: one file each under cli/, listed in `commands.ts`. `argv` lets a command shape
 * its flags (e.g. the method's params). Its own module so that commands import this type and
 * never `commands.ts`, which imports them.
 */
export interface CliCommand {
  register(program: Command, argv: readonly string[]): void;
}
