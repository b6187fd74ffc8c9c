import type { ComponentChildren } from 'preact';
import type { MethodInfo, ModelInfo, PropertySchema } from '../api';
import { humanise } from '../param-names';
import { InstallControl, type Install } from './Models';
import { dependentChoices, firstTrained, ModelStack, reconcile, TrainedModelNote, trainedModelChoices, type OpenTrainer } from './TrainedModels';

/**
 * A method's parameter form, generated from its JSON Schema: sliders for bounded numbers, selects
 * for enums, toggles for booleans, number and text fields for the rest. Shared controls (strength,
 * colour, size, seed) are folded into their own group. Only values the user changed are sent.
 */

export type ParamValues = Record<string, unknown>;

export function typeOf(p: PropertySchema): string | undefined {
  if (Array.isArray(p.type)) return p.type.find((t) => t !== 'null');
  return p.type ?? p.anyOf?.find((a) => a.type)?.type as string | undefined;
}


function bounds(p: PropertySchema): [number, number] | undefined {
  const lo = p.minimum ?? p.exclusiveMinimum;
  const hi = p.maximum ?? p.exclusiveMaximum;
  // A range a slider can show: seeds and pixel sizes go in a number field instead.
  if (lo === undefined || hi === undefined || hi - lo > 10_000) return undefined;
  return [lo, hi];
}

/** A positive range over three or more orders of magnitude (a threshold, a learning rate) slides in log10. */
function isLogScale(p: PropertySchema, range: [number, number]): boolean {
  return typeOf(p) === 'number' && range[0] > 0 && range[1] / range[0] >= 1000;
}

/** Decimal places a number needs (1e-4 → 4, 0.25 → 2, 3 → 0). */
function decimalsOf(v: number): number {
  const [mantissa, exponent] = v.toExponential().split('e');
  return Math.max(0, (mantissa!.split('.')[1] ?? '').length - Number(exponent));
}

function stepOf(p: PropertySchema, range: [number, number]): number {
  if (typeOf(p) === 'integer') return 1;
  let step = 10 ** Math.floor(Math.log10((range[1] - range[0]) / 100));
  // Fine enough to land on the default exactly.
  if (typeof p.default === 'number' && p.default !== 0) step = Math.min(step, 10 ** -decimalsOf(p.default));
  return step;
}

function format(v: unknown): string {
  if (typeof v !== 'number') return String(v);
  if (Number.isInteger(v)) return String(v);
  return Math.abs(v) < 0.01 ? v.toPrecision(2) : v.toFixed(Math.abs(v) < 1 ? 2 : 1);
}

/** An option of a select the form makes itself (model names, weight keywords). */
export interface Choice {
  value: string;
  label: string;
  /** A placeholder shown while nothing is chosen (not a value the form sends). */
  disabled?: boolean;
}

function Field({ name, schema, value, onChange, choices, after }: { name: string; schema: PropertySchema; value: unknown; onChange: (v: unknown) => void; choices?: Choice[]; after?: ComponentChildren }) {
  const type = typeOf(schema);
  const id = `param-${name}`;
  const slider = (type === 'number' || type === 'integer') && !schema.enum && bounds(schema) !== undefined;
  // Only a slider hides its value; every other control shows it itself.
  const label = (
    <label for={id} class="param-label">
      {humanise(name)}
      {slider && value !== undefined && <output>{format(value)}</output>}
    </label>
  );
  let control;
  if (choices) {
    control = (
      <select id={id} name={name} value={String(value ?? schema.default ?? '')} onChange={(e) => onChange((e.target as HTMLSelectElement).value)}>
        {choices.map((o) => (
          <option value={o.value} disabled={o.disabled}>
            {o.label}
          </option>
        ))}
      </select>
    );
  } else if (schema.enum) {
    control = (
      <select id={id} name={name} value={String(value ?? schema.default ?? '')} onChange={(e) => onChange((e.target as HTMLSelectElement).value)}>
        {schema.enum.map((o) => (
          <option value={String(o)}>{String(o)}</option>
        ))}
      </select>
    );
  } else if (type === 'boolean') {
    return (
      <div class="param param-toggle" title={schema.description}>
        <label class="switch">
          <input id={id} name={name} type="checkbox" checked={Boolean(value ?? schema.default)} onChange={(e) => onChange((e.target as HTMLInputElement).checked)} />
          <span class="switch-track" aria-hidden="true" />
          <span>{humanise(name)}</span>
        </label>
        {schema.description && <small>{schema.description}</small>}
      </div>
    );
  } else if (slider) {
    const range = bounds(schema)!;
    const current = Number(value ?? schema.default ?? range[0]);
    control = isLogScale(schema, range) ? (
      <input
        id={id}
        name={name}
        type="range"
        data-scale="log"
        min={Math.log10(range[0])}
        max={Math.log10(range[1])}
        step={0.01}
        value={Math.log10(current)}
        aria-valuetext={format(current)}
        onInput={(e) => onChange(Number((10 ** Number((e.target as HTMLInputElement).value)).toPrecision(3)))}
      />
    ) : (
      <input
        id={id}
        name={name}
        type="range"
        min={range[0]}
        max={range[1]}
        step={stepOf(schema, range)}
        value={current}
        aria-valuetext={format(current)}
        onInput={(e) => onChange(Number((e.target as HTMLInputElement).value))}
      />
    );
  } else if (type === 'number' || type === 'integer') {
    control = (
      <input
        id={id}
        name={name}
        type="number"
        min={schema.minimum}
        max={schema.maximum}
        step={type === 'integer' ? 1 : 'any'}
        placeholder={schema.default === undefined ? 'default' : String(schema.default)}
        value={value === undefined ? '' : String(value)}
        onInput={(e) => {
          const s = (e.target as HTMLInputElement).value;
          onChange(s === '' ? undefined : Number(s));
        }}
      />
    );
  } else if (type === 'array' && schema.items?.enum) {
    // A list of fixed words (a loss's VGG layers): one checkbox each, in the schema's order, at least one kept.
    const options = schema.items.enum.map(String);
    const chosen = Array.isArray(value) ? value.map(String) : [];
    return (
      <fieldset class="param param-multi" data-param={name} title={schema.description}>
        <legend class="param-label">{humanise(name)}</legend>
        <div class="multi-choices">
          {options.map((o) => (
            <label class="multi-choice" key={o}>
              <input
                type="checkbox"
                name={name}
                value={o}
                checked={chosen.includes(o)}
                disabled={chosen.length === 1 && chosen[0] === o}
                onChange={(e) => {
                  const on = (e.target as HTMLInputElement).checked;
                  onChange(options.filter((x) => (x === o ? on : chosen.includes(x))));
                }}
              />
              {o}
            </label>
          ))}
        </div>
        {schema.description && <small>{schema.description}</small>}
      </fieldset>
    );
  } else if (type === 'array') {
    control = (
      <input
        id={id}
        name={name}
        type="text"
        placeholder="comma-separated"
        value={Array.isArray(value) ? value.join(', ') : ''}
        onInput={(e) => {
          const s = (e.target as HTMLInputElement).value;
          const itemType = schema.items ? typeOf(schema.items) : undefined;
          const items = s.split(',').map((x) => x.trim()).filter(Boolean);
          onChange(s.trim() === '' ? undefined : itemType === 'number' || itemType === 'integer' ? items.map(Number) : items);
        }}
      />
    );
  } else {
    control = <input id={id} name={name} type="text" value={value === undefined ? '' : String(value)} onInput={(e) => onChange((e.target as HTMLInputElement).value || undefined)} />;
  }
  return (
    <div class="param" title={schema.description}>
      {label}
      {control}
      {schema.description && <small>{schema.description}</small>}
      {after}
    </div>
  );
}

/** Models a method needs for these values (the `when` of each weights entry, defaults applied). */
export function neededModels(method: MethodInfo, values: ParamValues): MethodInfo['weights'] {
  const value = (k: string) => values[k] ?? method.params.properties[k]?.default;
  const needed = method.weights.filter((w) => !w.when || Object.entries(w.when).every(([k, allowed]) => allowed.includes(value(k))));
  // Alternatives: one installed member of a group stands for the group.
  return needed.filter((w) => {
    if (!w.anyOf) return true;
    const group = needed.filter((x) => x.anyOf === w.anyOf);
    const chosen = group.find((x) => x.installed);
    return chosen ? chosen === w : true;
  });
}

/**
 * Weights are chosen by name from what the server has: a free-text `weights` param becomes a
 * select of the store's keywords and the method's installed models (never a path).
 */
function weightChoices(method: MethodInfo, name: string, schema: PropertySchema): Choice[] | undefined {
  if (schema.enum) return undefined;
  if (name === 'weights' && method.weights.length > 0) {
    return ['installed', 'random', ...method.weights.filter((w) => w.installed).map((w) => w.model)].map((v) => ({ value: v, label: v }));
  }
  // Any other free-text weights param (a trainer's loss network `vgg`, img2img's `adapter`) takes
  // the same two words: the store's model, or seeded random weights. A file is the CLI's.
  if (typeOf(schema) === 'string' && schema.default === 'installed') return ['installed', 'random'].map((v) => ({ value: v, label: v }));
  return undefined;
}

/**
 * The models a param names: the method's weights needed exactly when the param holds the model's
 * own name (neural.fast's `model`: each per-style network; models trained here join them). Only
 * a param that names published models counts: one that names trained models alone (CycleGAN's
 * `model`) is the method's `trainedModels` (TrainedModels.tsx), with its words ('random').
 */
export function modelsNamedBy(method: MethodInfo, name: string): MethodInfo['weights'] {
  const named = method.weights.filter((w) => w.when?.[name]?.length === 1 && w.when[name]![0] === w.model);
  return named.some((w) => !w.trained) ? named : [];
}

/** Installed, as the model list says (it follows installs live) or else as the method said. */
const installedNow = (w: MethodInfo['weights'][number], models: ModelInfo[]) => models.find((m) => m.name === w.model)?.installed ?? w.installed === true;

/**
 * A param that names a model is a select of the INSTALLED ones; the value on screen stays visible
 * when it is not installed (the form's list of needed models then offers its install).
 */
function modelChoices(method: MethodInfo, name: string, value: unknown, models: ModelInfo[]): Choice[] | undefined {
  const named = modelsNamedBy(method, name);
  if (named.length === 0) return undefined;
  const choices = named.filter((w) => installedNow(w, models)).map((w) => ({ value: w.model, label: w.trained ? `${w.model} (trained here)` : w.model }));
  const current = value === undefined ? undefined : String(value);
  if (current !== undefined && !choices.some((c) => c.value === current)) choices.unshift({ value: current, label: `${current} (not installed)` });
  return choices;
}

/** The models a param could name that are not installed, each one click from installing. */
function InstallMore({ method, name, models, install, cancel }: { method: MethodInfo; name: string; models: ModelInfo[]; install: Install; cancel: (n: string) => void }) {
  const missing = modelsNamedBy(method, name)
    .filter((w) => !installedNow(w, models))
    .map((w) => ({ w, m: models.find((m) => m.name === w.model) }))
    .filter((x): x is { w: MethodInfo['weights'][number]; m: ModelInfo } => x.m !== undefined);
  if (missing.length === 0) return null;
  return (
    <details class="install-more" data-param={name}>
      <summary>
        Install another ({missing.length} not installed)
      </summary>
      <ul>
        {missing.map(({ w, m }) => (
          <li key={w.model} data-model={w.model}>
            <span>
              <strong>{w.model}</strong> <small>{w.description}</small>
            </span>
            <InstallControl model={m} install={install} cancel={cancel} compact />
          </li>
        ))}
      </ul>
    </details>
  );
}

/** What the form needs to offer installs: the server's models and the install actions (the trainer's form has none). */
export interface FormModels {
  models: ModelInfo[];
  install: Install;
  cancel: (name: string) => void;
  /** Open the trainer page on a recipe (a missing trained model is one click from training). */
  openTrainer?: OpenTrainer;
}

export function ParamForm({ method, values, onChange, models }: { method: MethodInfo; values: ParamValues; onChange: (v: ParamValues) => void; models?: FormModels }) {
  const entries = Object.entries(method.params.properties);
  const advanced = new Set(method.advanced ?? []);
  const basic = entries.filter(([k]) => !advanced.has(k));
  const folded = entries.filter(([k]) => advanced.has(k));
  // A param another's chosen model narrows (a StarGAN's domains) follows it.
  const change = (next: ParamValues) => onChange(reconcile(method, next));
  const narrowed = dependentChoices(method, values);
  const field = ([k, p]: [string, PropertySchema]) => {
    const value = values[k] ?? p.default;
    const trained = method.trainedModels?.[k];
    if (trained?.stack) return <ModelStack key={`${method.id}.${k}`} method={method} name={k} schema={p} values={values} onChange={(v) => change({ ...values, [k]: v })} {...(models?.openTrainer && { openTrainer: models.openTrainer })} />;
    // `weights` keeps its keywords (installed, random) beside the models it names.
    const keywords = trained ? undefined : weightChoices(method, k, p);
    const named = models && !keywords && !trained ? modelChoices(method, k, value, models.models) : undefined;
    const madeHere = trained ? trainedModelChoices(method, k, value) : undefined;
    const narrowedTo = narrowed[k]?.list.map((v) => ({ value: v, label: v }));
    return (
      <Field
        key={`${method.id}.${k}`}
        name={k}
        schema={p}
        value={value}
        choices={madeHere ?? narrowedTo ?? keywords ?? named}
        after={
          trained ? <TrainedModelNote method={method} name={k} values={values} {...(models?.openTrainer && { openTrainer: models.openTrainer })} /> : named && models && <InstallMore method={method} name={k} {...models} />
        }
        onChange={(v) => change({ ...values, [k]: v })}
      />
    );
  };
  const presets = method.presets ?? [];
  const activePreset = presets.find((pr) => Object.entries(pr.params).every(([k, v]) => JSON.stringify(values[k]) === JSON.stringify(v)) && Object.keys(values).every((k) => k in pr.params));
  return (
    <div class="params">
      {presets.length > 0 && (
        <div class="presets" role="group" aria-label="presets">
          {presets.map((pr) => (
            <button type="button" class="chip" aria-pressed={pr === activePreset} title={Object.entries(pr.params).map(([k, v]) => `${humanise(k)}: ${String(v)}`).join(', ')} onClick={() => change({ ...pr.params })}>
              {pr.name}
            </button>
          ))}
        </div>
      )}
      {basic.map(field)}
      {folded.length > 0 && (
        <details class="advanced">
          <summary>Advanced ({folded.length})</summary>
          <div class="params">{folded.map(field)}</div>
        </details>
      )}
      {Object.keys(values).length > 0 && (
        <button type="button" class="link" onClick={() => change(firstTrained(method, {}))}>
          Reset to defaults
        </button>
      )}
    </div>
  );
}
