import { useEffect, useState } from 'preact/hooks';

/** Drag images here or click to choose; shows the first (and how many, for `multiple`). */
export function Dropzone({ name, label, hint, files, multiple = false, onFiles }: { name: string; label: string; hint?: string; files: File[]; multiple?: boolean; onFiles: (f: File[]) => void }) {
  const file = files[0] ?? null;
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
        const dropped = [...(e.dataTransfer?.files ?? [])].filter((f) => f.type.startsWith('image/') || f.type === '');
        if (dropped.length > 0) onFiles(multiple ? dropped : dropped.slice(0, 1));
      }}
    >
      <input type="file" accept="image/*" name={name} multiple={multiple} onChange={(e) => onFiles([...((e.target as HTMLInputElement).files ?? [])])} />
      {preview ? <img src={preview} alt={label} /> : <span class="dropzone-empty" aria-hidden="true">+</span>}
      <span class="dropzone-label">
        <strong>{label}</strong>
        <small>{file ? (files.length > 1 ? `${file.name} + ${files.length - 1} more` : file.name) : (hint ?? (multiple ? 'drop images or click' : 'drop an image or click'))}</small>
      </span>
    </label>
  );
}
