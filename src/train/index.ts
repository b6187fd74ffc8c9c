import { AtelierError } from '../core/errors.js';
import { nearest } from '../core/params.js';
import type { AnyTrainer } from './definition.js';
import { runTraining, type TrainOptions, type TrainResult } from './loop.js';
import { capvst } from './recipes/capvst.js';
import { cyclegan } from './recipes/cyclegan.js';
import { diffusionLora } from './recipes/diffusion-lora.js';
import { fast } from './recipes/fast.js';
import { multistyleStyle } from './recipes/multistyle-style.js';
import { lora } from './recipes/lora.js';
import { stargan } from './recipes/stargan.js';

/**
 * Every trainer Atelier ships, in listing order: the registry is built from this list by each
 * trainer's own id, like the method registry. A new trainer (a GAN, a fast network, a LoRA
 * adapter) is one file under `train/recipes/` plus one line here; the CLI's `atelier train <id>`
 * and the library's `train(id, …)` find it there.
 */
const registered = [capvst, fast, multistyleStyle, cyclegan, stargan, lora, diffusionLora] as const satisfies readonly AnyTrainer[];

export type TrainerId = (typeof registered)[number]['id'];

export const trainers: Readonly<Record<TrainerId, AnyTrainer>> = Object.fromEntries(registered.map((t) => [t.id, t])) as Record<TrainerId, AnyTrainer>;

/**
 * Recipes an application adds at run time (`registerTrainer`), after the shipped ones. They are
 * known to this process only: a server runs them when its jobs run in this process (`execution:
 * 'inline'`), since job threads load the shipped registry alone.
 */
const added = new Map<string, AnyTrainer>();

export function registerTrainer(def: AnyTrainer): void {
  if (def.id in trainers || added.has(def.id)) throw new AtelierError('E_PARAM', `A trainer with the id ${JSON.stringify(def.id)} is registered already`, { subject: def.id });
  added.set(def.id, def);
}

/** Look a trainer up by id; an unknown id fails with the nearest known one suggested. */
export function getTrainer(id: string): AnyTrainer {
  const def = (trainers as Record<string, AnyTrainer>)[id] ?? added.get(id);
  if (def) return def;
  const ids = [...Object.keys(trainers), ...added.keys()];
  const near = nearest(id, ids);
  throw new AtelierError('E_PARAM', `Unknown trainer ${JSON.stringify(id)}`, {
    expected: `one of ${ids.join(', ')}`,
    received: JSON.stringify(id),
    hint: near ? `did you mean ${near}?` : 'run `atelier train --help` to list them',
  });
}

export function listTrainers(): AnyTrainer[] {
  return [...Object.values(trainers), ...added.values()];
}

/** Train by id: the library entry point the CLI and tests call (the loop is train/loop.ts). */
export function train(id: string, options: TrainOptions): Promise<TrainResult> {
  return runTraining(getTrainer(id), options);
}

export type { TrainOptions, TrainResult, LossRecord } from './loop.js';
