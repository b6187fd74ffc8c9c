import { useState } from 'preact/hooks';
import type { MethodInfo, PropertySchema } from '../api';
import { humanise } from '../param-names';

/**
 * Params that name models made here (a method's `trainedModels`: CycleGAN's and StarGAN's
 * `model`, every `lora` stack, the 26-style network's added styles): the form offers the installed
 * ones by name, never a file, with
 * one click to the trainer that makes more. A chosen model can narrow another param (a StarGAN's
 * domains), and a LoRA adapter is offered only for the network it was trained on.
 */

type Values = Record<string, unknown>;
type Weights = MethodInfo['weights'][number];
export type TrainedParam = NonNullable<MethodInfo['trainedModels']>[string];

/** Open the trainer page on a recipe with some of its params set. */
export type OpenTrainer = (recipe: string, params: Record<string, unknown>) => void;

const valueOf = (method: MethodInfo, values: Values, k: string) => values[k] ?? method.params.properties[k]?.default;

/** The installed models made here that a param names (the server lists them among the method's weights). */
export function trainedFor(method: MethodInfo, param: string): Weights[] {
  return method.weights.filter((w) => w.trained && w.installed !== false && w.when?.[param]?.length === 1 && w.when[param]![0] === w.model);
}

/**
 * A model fits the form when the form params it was trained on (those the declaration's
 * `trainerParams` copy: a LoRA's base network) hold the values it was made for.
 */
function fits(method: MethodInfo, values: Values, spec: TrainedParam, w: Weights): boolean {
  const on = Object.values(spec.trainerParams ?? {}).flatMap((v) => (typeof v === 'string' ? [] : [v.param]));
  return on.every((k) => w.params?.[k] === undefined || valueOf(method, values, k) === w.params[k]);
}

/** What made it fit: the values of those params it was made for. */
function madeFor(spec: TrainedParam, w: Weights): string {
  return Object.values(spec.trainerParams ?? {})
    .flatMap((v) => (typeof v === 'string' || w.params?.[v.param] === undefined ? [] : [String(w.params[v.param])]))
    .join(', ');
}

/**
 * The values other params may take given the models chosen: a StarGAN trained on photo and look
 * takes those two domains; its 'random' stand-in a, b and c.
 */
export function dependentChoices(method: MethodInfo, values: Values): Record<string, { list: string[]; preferred?: string }> {
  const out: Record<string, { list: string[]; preferred?: string }> = {};
  for (const [k, spec] of Object.entries(method.trainedModels ?? {})) {
    if (spec.stack) continue;
    const v = valueOf(method, values, k);
    const word = spec.words?.find((w) => w.word === v);
    const model = trainedFor(method, k).find((w) => w.model === v);
    const choices = word?.choices ?? model?.choices ?? {};
    for (const [d, list] of Object.entries(choices)) {
      const preferred = model?.params?.[d];
      out[d] = { list: [...list], ...(typeof preferred === 'string' && { preferred }) };
    }
  }
  return out;
}

/** Values with each dependent param moved into its choices (the model's own default first). */
export function reconcile(method: MethodInfo, values: Values): Values {
  let next = values;
  for (const [d, { list, preferred }] of Object.entries(dependentChoices(method, values))) {
    const v = valueOf(method, next, d);
    if (typeof v === 'string' && list.includes(v)) continue;
    next = { ...next, [d]: preferred !== undefined && list.includes(preferred) ? preferred : list[0] };
  }
  return next;
}

/** The first installed model for a param that has none chosen and no default (the form then runs without a step). */
export function firstTrained(method: MethodInfo, values: Values): Values {
  let next = values;
  for (const [k, spec] of Object.entries(method.trainedModels ?? {})) {
    if (spec.stack || valueOf(method, next, k) !== undefined) continue;
    const first = trainedFor(method, k)[0];
    if (first) next = { ...next, [k]: first.model };
  }
  return reconcile(method, next);
}

/** The recipe's params a "train one" link sets: fixed values, or what this form holds. */
function trainerParamsOf(method: MethodInfo, values: Values, spec: TrainedParam): Record<string, unknown> {
  return Object.fromEntries(Object.entries(spec.trainerParams ?? {}).map(([k, v]) => [k, typeof v === 'string' ? v : valueOf(method, values, v.param)]));
}

function TrainLink({ method, values, spec, label, openTrainer }: { method: MethodInfo; values: Values; spec: TrainedParam; label: string; openTrainer?: OpenTrainer }) {
  if (!spec.trainer || !openTrainer) return null;
  return (
    <button type="button" class="link train-link" data-trainer={spec.trainer} onClick={() => openTrainer(spec.trainer!, trainerParamsOf(method, values, spec))}>
      {label}
    </button>
  );
}

/** The options of a param naming one trained model: the installed ones, then its words ('random'). */
export function trainedModelChoices(method: MethodInfo, name: string, value: unknown): { value: string; label: string; disabled?: boolean }[] {
  const spec = method.trainedModels![name]!;
  const models = trainedFor(method, name).map((w) => ({ value: w.model, label: w.model }));
  const words = (spec.words ?? []).map((w) => ({ value: w.word, label: w.label }));
  const out: { value: string; label: string; disabled?: boolean }[] = [...models, ...words];
  const current = value === undefined || value === '' ? undefined : String(value);
  if (current === undefined) out.unshift({ value: '', label: models.length === 0 ? 'none trained yet: choose one' : 'choose a model', disabled: true });
  else if (!out.some((o) => o.value === current)) out.unshift({ value: current, label: `${current} (not installed)` });
  return out;
}

/** Under a trained-model select: how many there are, and the trainer one click away. */
export function TrainedModelNote({ method, name, values, openTrainer }: { method: MethodInfo; name: string; values: Values; openTrainer?: OpenTrainer }) {
  const spec = method.trainedModels![name]!;
  const n = trainedFor(method, name).length;
  return (
    <div class="trained-note" data-param={name}>
      <span class="muted">{n === 0 ? 'None trained on this server yet.' : `${n} trained on this server.`}</span>{' '}
      <TrainLink method={method} values={values} spec={spec} label={n === 0 ? 'Train one' : 'Train another'} openTrainer={openTrainer} />
    </div>
  );
}

/** `NAME` or `NAME:WEIGHT` (weight 1 when left out); a list without weights takes names whole. */
function parseEntry(s: string, weighted: boolean): { name: string; weight: number } {
  const at = weighted ? s.lastIndexOf(':') : -1;
  const tail = at > 0 ? Number(s.slice(at + 1)) : NaN;
  return Number.isFinite(tail) ? { name: s.slice(0, at), weight: tail } : { name: s, weight: 1 };
}

const entryOf = (name: string, weight: number) => (weight === 1 ? name : `${name}:${weight}`);

/**
 * A list of models made here (LoRA adapters, styles added to a network): each installed one made
 * for the network the form holds can be added (once), given a weight where the list takes them,
 * and removed; they apply in order. Ones made for other networks are named with their base, so
 * choosing that base offers them.
 */
export function ModelStack({ method, name, schema, values, onChange, openTrainer }: { method: MethodInfo; name: string; schema: PropertySchema; values: Values; onChange: (v: unknown) => void; openTrainer?: OpenTrainer }) {
  const spec = method.trainedModels![name]!;
  const stack = (Array.isArray(values[name]) ? (values[name] as unknown[]) : []).map((s) => parseEntry(String(s), spec.weighted === true));
  const all = trainedFor(method, name);
  const fitting = all.filter((w) => fits(method, values, spec, w));
  const others = all.filter((w) => !fits(method, values, spec, w));
  const noun = spec.weighted ? 'adapter' : 'model';
  const addable = fitting.filter((w) => !stack.some((s) => s.name === w.model));
  const [picked, setPicked] = useState('');
  const chosen = addable.some((w) => w.model === picked) ? picked : (addable[0]?.model ?? '');
  const max = (schema as { maxItems?: number }).maxItems ?? 8;
  const set = (next: { name: string; weight: number }[]) => onChange(next.length === 0 ? undefined : next.map((s) => entryOf(s.name, s.weight)));
  const id = `param-${name}`;
  return (
    <fieldset class="param lora-stack" data-param={name} title={schema.description}>
      <legend class="param-label">
        {spec.weighted ? 'LoRA adapters' : humanise(name)}
        {stack.length > 0 && <output>{stack.length}</output>}
      </legend>
      {stack.length > 0 && (
        <ol class="lora-list">
          {stack.map((s, i) => {
            const known = all.find((w) => w.model === s.name);
            const problem = !known ? 'not installed' : !fits(method, values, spec, known) ? `made for ${madeFor(spec, known)}` : undefined;
            return (
              <li key={s.name} data-adapter={s.name}>
                <span class="lora-name">
                  {s.name}
                  {problem && <small class="lora-problem"> ({problem})</small>}
                </span>
                {spec.weighted && (
                <label class="lora-weight">
                  <span>Weight</span>
                  <input
                    type="number"
                    step={0.05}
                    min={-4}
                    max={4}
                    value={s.weight}
                    aria-label={`weight of ${s.name}`}
                    onInput={(e) => {
                      const w = Number((e.target as HTMLInputElement).value);
                      if (Number.isFinite(w) && (e.target as HTMLInputElement).value !== '') set(stack.map((x, j) => (j === i ? { ...x, weight: w } : x)));
                    }}
                  />
                </label>
                )}
                <button type="button" class="small" aria-label={`remove ${s.name}`} onClick={() => set(stack.filter((_, j) => j !== i))}>
                  Remove
                </button>
              </li>
            );
          })}
        </ol>
      )}
      {addable.length > 0 && stack.length < max && (
        <div class="lora-add">
          <label for={id} class="visually-hidden">
            {noun} to add
          </label>
          <select id={id} value={chosen} onChange={(e) => setPicked((e.target as HTMLSelectElement).value)}>
            {addable.map((w) => (
              <option value={w.model}>{w.model}</option>
            ))}
          </select>
          <button type="button" class="small" onClick={() => chosen && set([...stack, { name: chosen, weight: 1 }])}>
            Add
          </button>
        </div>
      )}
      {schema.description && <small>{schema.description}</small>}
      <small class="stack-status">
        {fitting.length === 0 ? `No ${noun} for this network is installed. ` : stack.length === 0 ? 'None applied: the network as published. ' : spec.weighted ? 'Applied in this order, each scaled by its weight. ' : 'In this order. '}
        {others.length > 0 && `${others.length} more made for other networks (${others.map((w) => `${w.model}: ${madeFor(spec, w)}`).join('; ')}). `}
        <TrainLink method={method} values={values} spec={spec} label={spec.trainerParams && Object.keys(spec.trainerParams).length > 0 ? `Train ${spec.weighted ? 'an adapter' : 'one'} for ${Object.values(trainerParamsOf(method, values, spec)).map(String).join(', ')}` : `Train ${spec.weighted ? 'an adapter' : 'one'}`} openTrainer={openTrainer} />
      </small>
    </fieldset>
  );
}
