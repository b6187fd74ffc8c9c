import { useEffect, useState } from 'preact/hooks';

/** Drag an image here or click to choose one; shows what was chosen. */
export function Dropzone({ name, label, hint, file, onFile }: { name: string; label: string; hint?: string; file: File | null; onFile: (f: File | null) => void }) {
  const [over, setOver] = useState(false);
  const [preview, setPreview] = useState<string>();
  useEffect(() => {
    if (!file) return setPreview(undefined);
    const url = URL.createObjectURL(file);
    setPreview(url);
    return () => URL.revokeObjectURL(url);
  }, [file]);
  return (
    <label
      class={`dropzone${over ? ' over' : ''}${file ? ' filled' : ''}`}
      data-input={name}
      onDragOver={(e) => {
        e.preventDefault();
        setOver(true);
      }}
      onDragLeave={() => setOver(false)}
      onDrop={(e) => {
        e.preventDefault();
        setOver(false);
        const f = e.dataTransfer?.files[0];
        if (f) onFile(f);
      }}
    >
      <input type="file" accept="image/*" name={name} onChange={(e) => onFile((e.target as HTMLInputElement).files?.[0] ?? null)} />
      {preview ? <img src={preview} alt={label} /> : <span class="dropzone-empty" aria-hidden="true">+</span>}
      <span class="dropzone-label">
        <strong>{label}</strong>
        <small>{file ? file.name : (hint ?? 'drop an image or click')}</small>
      </span>
    </label>
  );
}
