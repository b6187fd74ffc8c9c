import { useState } from 'preact/hooks';
import type { MethodInfo, ModelInfo } from '../api';

/**
 * Models in the page: the manager (every model the server's store knows, its licence, size and
 * state, installed from the server's configured source with progress) and, beside a method's
 * form, what the chosen settings need with one click to install it. A non-commercial licence is
 * accepted explicitly before its model installs.
 */

export function bytes(n: number | null | undefined): string {
  if (n === null || n === undefined) return 'size unknown';
  if (n < 1024 * 1024) return `${(n / 1024).toFixed(1)} KiB`;
  return `${(n / (1024 * 1024)).toFixed(n < 100 * 1024 * 1024 ? 1 : 0)} MiB`;
}

export type Install = (name: string, acceptLicence: boolean) => Promise<void>;

function InstallControl({ model, install, cancel }: { model: ModelInfo; install: Install; cancel: (name: string) => void }) {
  const [accepted, setAccepted] = useState(false);
  if (model.installed) return <span class="badge ok">Installed</span>;
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
  if (!model.downloadable) {
    return (
      <span class="muted small-text">
        No download address on this server: the administrator installs it (<a href={model.page} target="_blank" rel="noreferrer">source</a>)
      </span>
    );
  }
  return (
    <span class="install-actions">
      {model.install?.state === 'failed' && (
        <span class="error-text" role="alert">
          {model.install.error?.message ?? 'The install failed'}
        </span>
      )}
      {model.nonCommercial && (
        <label class="accept">
          <input type="checkbox" checked={accepted} onChange={(e) => setAccepted((e.target as HTMLInputElement).checked)} />
          <span>
            I accept the <a href={model.page} target="_blank" rel="noreferrer">{model.terms === 'academic-only' ? 'academic-only' : 'non-commercial'} licence</a>
          </span>
        </label>
      )}
      <button type="button" class="small" disabled={model.nonCommercial && !accepted} onClick={() => void install(model.name, accepted)}>
        {model.install?.state === 'failed' ? 'Retry install' : `Install${model.source === 'mirror' ? ' from mirror' : ''} (${bytes(model.size)})`}
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
              <tr key={m.name} data-model={m.name}>
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
                <td class="num">{bytes(m.size)}</td>
                <td>
                  <InstallControl model={m} install={install} cancel={cancel} />
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      </div>
    </div>
  );
}

/** Beside the form: the models these settings need, and their state. */
export function ModelNeeds({ needed, models, install, cancel, onManage }: { needed: MethodInfo['weights']; models: ModelInfo[]; install: Install; cancel: (n: string) => void; onManage: () => void }) {
  if (needed.length === 0) return null;
  return (
    <div class="needs" aria-label="models these settings need">
      {needed.length > 1 && needed.every((w) => w.anyOf && w.anyOf === needed[0]!.anyOf) && <small>Any one of these:</small>}
      {needed.map((w) => {
        const m = models.find((x) => x.name === w.model);
        return (
          <div class="need" key={w.model} data-need={w.model}>
            <span>
              <strong>{w.model}</strong> <small>{w.description}</small>
            </span>
            {m ? <InstallControl model={m} install={install} cancel={cancel} /> : <span class="badge">{w.installed ? 'Installed' : 'Not installed'}</span>}
          </div>
        );
      })}
      <button type="button" class="link" onClick={onManage}>
        All models…
      </button>
    </div>
  );
}
