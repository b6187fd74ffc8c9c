import { useState } from 'preact/hooks';
import type { MethodInfo, ModelInfo } from '../api';

/**
 * Models in the page: the manager (every model the server's store knows, its licence, size and
 * state, installed from the server's configured source with progress) and, beside a method's
 * form, what the chosen settings need with one click to install it. A non-commercial licence is
 * accepted explicitly before its model installs.
 */

/** A size for people; `null` where the publisher gives none (CAP-VSTNet's checkpoints). */
export function bytes(n: number | null | undefined): string {
  if (n === null || n === undefined) return 'size not published';
  if (n < 1024 * 1024) return `${(n / 1024).toFixed(1)} KiB`;
  return `${(n / (1024 * 1024)).toFixed(n < 100 * 1024 * 1024 ? 1 : 0)} MiB`;
}

export type Install = (name: string, acceptLicence: boolean, variants?: string[]) => Promise<void>;

/** Bytes an install adds: the model's, or those of the variant chosen. */
export function installBytes(model: ModelInfo, variant: string | undefined): number | null {
  return variant !== undefined && model.variants ? variantBytes(model, variant) : model.size;
}

/** Bytes an install of `variant` adds: its own files, plus the common ones while none is installed. */
function variantBytes(model: ModelInfo, variant: string): number | null {
  const v = model.variants!;
  const own = v.choices.find((c) => c.name === variant)?.size ?? null;
  if (model.installed) return own;
  const def = v.choices.find((c) => c.name === v.default)?.size ?? null;
  return model.size === null || def === null || own === null ? null : model.size - def + own;
}

/**
 * A model's state and its install button, with the licence to accept first where needed. A model
 * with variants (precisions, sizes) installs the one chosen here; `variant` fixes it (the variant
 * a method's settings need). `compact` for a gallery cell.
 */
/** The variant an install adds: the one picked, if it is still missing, else the default or the first missing one. */
export function variantToAdd(model: ModelInfo, picked: string | undefined): string | undefined {
  const v = model.variants;
  if (!v) return undefined;
  const missing = v.choices.filter((c) => !v.installed.includes(c.name));
  return picked && missing.some((c) => c.name === picked) ? picked : (missing.find((c) => c.name === v.default) ?? missing[0])?.name;
}

export function InstallControl({
  model,
  install,
  cancel,
  compact = false,
  variant,
  picked: pickedOutside,
  onPick,
}: {
  model: ModelInfo;
  install: Install;
  cancel: (name: string) => void;
  compact?: boolean;
  variant?: string;
  /** The variant select's value, when the caller keeps it (the manager's Size column follows it). */
  picked?: string;
  onPick?: (variant: string) => void;
}) {
  const [accepted, setAccepted] = useState(false);
  const v = model.variants;
  const missing = v ? v.choices.filter((c) => !v.installed.includes(c.name)) : [];
  const [pickedHere, setPickedHere] = useState<string | undefined>(undefined);
  const picked = onPick ? pickedOutside : pickedHere;
  const setPicked = onPick ?? setPickedHere;
  const choice = variant ?? variantToAdd(model, picked);
  const has = variant !== undefined && v ? v.installed.includes(variant) : model.installed;
  if (model.install?.state === 'running') {
    const pct = Math.round(model.install.fraction * 100);
    return (
      <span class="install-progress">
        <progress max={100} value={pct} aria-label={`installing ${model.name}`} aria-valuetext={`${pct} %`} />
        <span>
          {pct} %{model.install.received !== undefined && ` · ${bytes(model.install.received)}`}
        </span>
        <button type="button" class="small" onClick={() => cancel(model.name)}>
          Cancel
        </button>
      </span>
    );
  }
  const badge = (
    <span class="badge ok">
      Installed{v && variant === undefined ? `: ${v.installed.join(', ')}` : variant !== undefined ? ` (${variant})` : ''}
    </span>
  );
  // Installed, and nothing more to choose here.
  if (has && (variant !== undefined || !v || missing.length === 0 || compact)) return badge;
  if (!model.downloadable) {
    return (
      <span class="muted small-text not-downloadable">
        {model.unavailable ?? 'No download address on this server'}: the administrator installs it (<a href={model.page} target="_blank" rel="noreferrer">source</a>)
      </span>
    );
  }
  const size = installBytes(model, choice);
  // A size only where the publisher gives one: "(size not published)" on a button reads as a fault.
  const label = model.install?.state === 'failed' ? 'Retry install' : `Install${choice ? ` ${choice}` : ''}${model.source === 'mirror' && !compact ? ' from mirror' : ''}${size === null ? '' : ` (${bytes(size)})`}`;
  return (
    <span class="install-actions">
      {has && badge}
      {model.install?.state === 'failed' && (
        <span class="error-text" role="alert">
          {model.install.error?.message ?? 'The install failed'}
        </span>
      )}
      {v && variant === undefined && (
        <label class="variant-choice">
          <span>{has ? 'Add' : 'Variant'}</span>
          <select aria-label={`variant of ${model.name} to install`} value={choice} onChange={(e) => setPicked((e.target as HTMLSelectElement).value)}>
            {missing.map((c) => (
              <option value={c.name}>
                {c.name}
                {c.name === v.default ? ' (default)' : ''} — {c.description}
              </option>
            ))}
          </select>
        </label>
      )}
      {model.nonCommercial && (
        <label class="accept">
          <input type="checkbox" checked={accepted} onChange={(e) => setAccepted((e.target as HTMLInputElement).checked)} />
          <span>
            I accept the <a href={model.page} target="_blank" rel="noreferrer">{model.terms === 'academic-only' ? 'academic-only' : 'non-commercial'} licence</a>
          </span>
        </label>
      )}
      <button
        type="button"
        class="small"
        disabled={model.nonCommercial && !accepted}
        // The visible words first (WCAG 2.5.3), then which model: many such buttons share a page.
        aria-label={`${label}: ${model.name}`}
        onClick={() => void install(model.name, accepted, choice !== undefined ? [choice] : undefined)}
      >
        {label}
      </button>
    </span>
  );
}

export function ModelManager({ models, install, cancel, onClose }: { models: ModelInfo[]; install: Install; cancel: (n: string) => void; onClose: () => void }) {
  return (
    <div class="modal-backdrop" onClick={(e) => e.target === e.currentTarget && onClose()}>
      <div class="modal" role="dialog" aria-modal="true" aria-labelledby="h-models" onKeyDown={(e) => e.key === 'Escape' && onClose()}>
        <div class="modal-head">
          <h2 id="h-models">Models</h2>
          <button type="button" class="small" onClick={onClose} autoFocus>
            Close
          </button>
        </div>
        <p class="muted">
          Weights the neural methods use. Installs run on the server, {models[0]?.source === 'mirror' ? "from the server's model mirror" : "from each model's publisher"}, and are checked (size, checksum) before use. {models.filter((m) => m.installed).length} of {models.length} installed.
        </p>
        <table class="models">
          <thead>
            <tr>
              <th scope="col">Model</th>
              <th scope="col">Licence</th>
              <th scope="col">Size</th>
              <th scope="col">State</th>
            </tr>
          </thead>
          <tbody>
            {models.map((m) => (
              <ModelRow key={m.name} model={m} install={install} cancel={cancel} />
            ))}
          </tbody>
        </table>
      </div>
    </div>
  );
}

/**
 * One model in the manager. Its Size follows the variant chosen in its row: what is installed,
 * and what installing the chosen variant adds.
 */
function ModelRow({ model: m, install, cancel }: { model: ModelInfo; install: Install; cancel: (n: string) => void }) {
  const [picked, setPicked] = useState<string>();
  const adding = variantToAdd(m, picked);
  const installedBytes = m.installed ? m.size : null;
  const addBytes = adding !== undefined ? installBytes(m, adding) : null;
  return (
              <tr data-model={m.name}>
                <td>
                  <strong>{m.name}</strong>
                  <br />
                  <small>{m.description}</small>
                  {m.usedBy.length > 0 && (
                    <>
                      <br />
                      <small>used by {m.usedBy.join(', ')}</small>
                    </>
                  )}
                </td>
                <td>
                  {m.licence}
                  {m.nonCommercial && <span class="badge warn">{m.terms}</span>}
                  {m.terms === 'unstated' && <span class="badge">terms unstated</span>}
                </td>
                <td class="num model-size">
                  {!m.variants ? (
                    bytes(m.size)
                  ) : m.installed ? (
                    <>
                      {bytes(installedBytes)} installed
                      {adding !== undefined && (
                        <>
                          <br />
                          <small>
                            +{bytes(addBytes)} for {adding}
                          </small>
                        </>
                      )}
                    </>
                  ) : (
                    <>
                      {bytes(addBytes)} <small>({adding})</small>
                    </>
                  )}
                </td>
                <td>
                  <InstallControl model={m} install={install} cancel={cancel} picked={picked} onPick={setPicked} />
                </td>
              </tr>
  );
}

/** Beside the form: the models these settings need (the variant the settings choose, where the model has variants), and their state. */
export function ModelNeeds({
  needed,
  models,
  install,
  cancel,
  onManage,
  paramValue,
}: {
  needed: MethodInfo['weights'];
  models: ModelInfo[];
  install: Install;
  cancel: (n: string) => void;
  onManage: () => void;
  paramValue: (name: string) => unknown;
}) {
  if (needed.length === 0) return null;
  return (
    <div class="needs" aria-label="models these settings need">
      {needed.length > 1 && needed.every((w) => w.anyOf && w.anyOf === needed[0]!.anyOf) && <small>Any one of these:</small>}
      {needed.map((w) => {
        const m = models.find((x) => x.name === w.model);
        const chosen = w.variantParam !== undefined ? String(paramValue(w.variantParam)) : undefined;
        const variant = chosen !== undefined && m?.variants?.choices.some((c) => c.name === chosen) ? chosen : undefined;
        return (
          <div class="need" key={w.model} data-need={w.model}>
            <span>
              <strong>{w.model}</strong> <small>{w.description}</small>
            </span>
            {m ? <InstallControl model={m} install={install} cancel={cancel} {...(variant !== undefined && { variant })} /> : <span class="badge">{w.installed ? 'Installed' : 'Not installed'}</span>}
          </div>
        );
      })}
      <button type="button" class="link" onClick={onManage}>
        All models…
      </button>
    </div>
  );
}
