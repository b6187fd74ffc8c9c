import type { MethodInfo } from '../api';

/** Methods grouped by family, with the chosen one's summary, source and weights status. */
export function MethodPicker({ methods, value, onChange }: { methods: MethodInfo[]; value: string | undefined; onChange: (id: string) => void }) {
  const families = [...new Set(methods.map((m) => m.family))];
  const chosen = methods.find((m) => m.id === value);
  const missingWeights = chosen?.weights.filter((w) => w.installed === false) ?? [];
  return (
    <div class="picker">
      <select aria-label="method" value={value} onChange={(e) => onChange((e.target as HTMLSelectElement).value)}>
        {families.map((f) => {
          const inFamily = methods.filter((m) => m.family === f);
          return (
            <optgroup label={inFamily[0]!.familyTitle}>
              {inFamily.map((m) => (
                <option value={m.id}>{m.title}</option>
              ))}
            </optgroup>
          );
        })}
      </select>
      {chosen && (
        <div class="method-info">
          <p>{chosen.summary}</p>
          <small class="muted">
            <code>{chosen.id}</code>
            {chosen.weights.length === 0 ? ' · no weights needed' : ''}
          </small>
          <br />
          {chosen.reference && <small class="muted">{chosen.reference}</small>}
          {missingWeights.length > 0 && (
            <p class="warn">
              Needs weights: {missingWeights.map((w) => w.model).join(', ')} — install with <code>atelier models pull {missingWeights.map((w) => w.model).join(' ')}</code>
            </p>
          )}
        </div>
      )}
    </div>
  );
}
