import { useEffect, useState } from 'preact/hooks';
import type { Sample } from '../api';

/**
 * Drag images here or click to choose; shows the first (and how many, for `multiple`), the
 * browser-side check's complaint if any, and the shipped samples that fit this input.
 */
export function Dropzone({
  name,
  label,
  hint,
  files,
  multiple = false,
  error,
  samples = [],
  onFiles,
  onSample,
  accept = 'image/*',
}: {
  accept?: string;
  name: string;
  label: string;
  hint?: string;
  files: File[];
  multiple?: boolean;
  error?: string;
  samples?: Sample[];
  onFiles: (f: File[]) => void;
  onSample?: (s: Sample) => void;
}) {
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
    <div class="dropzone-wrap">
      <label
        class={`dropzone${over ? ' over' : ''}${file ? ' filled' : ''}${error ? ' invalid' : ''}`}
        data-input={name}
        onDragOver={(e) => {
          e.preventDefault();
          setOver(true);
        }}
        onDragLeave={() => setOver(false)}
        onDrop={(e) => {
          e.preventDefault();
          setOver(false);
          const dropped = [...(e.dataTransfer?.files ?? [])];
          if (dropped.length > 0) onFiles(multiple ? dropped : dropped.slice(0, 1));
        }}
      >
        <input type="file" accept={accept} name={name} multiple={multiple} aria-describedby={error ? `err-${name}` : undefined} onChange={(e) => onFiles([...((e.target as HTMLInputElement).files ?? [])])} />
        {preview ? accept.startsWith('video') ? <video src={preview} muted preload="metadata" aria-hidden="true" /> : <img src={preview} alt="" /> : <span class="dropzone-empty" aria-hidden="true">+</span>}
        <span class="dropzone-label">
          <strong>{label}</strong>
          <small>{file ? (files.length > 1 ? `${file.name} + ${files.length - 1} more` : file.name) : (hint ?? (multiple ? 'drop images or click' : accept.startsWith('video') ? 'drop a clip or click' : 'drop an image or click'))}</small>
        </span>
      </label>
      {files.length > 0 && (
        <button type="button" class="link clear" onClick={() => onFiles([])} aria-label={`clear ${label.toLowerCase()}`}>
          Clear
        </button>
      )}
      {error && (
        <small class="error-text" id={`err-${name}`} role="alert">
          {error}
        </small>
      )}
      {samples.length > 0 && onSample && (
        <div class="samples" role="group" aria-label={`sample ${name} images`}>
          {samples.map((s) => (
            <button type="button" class="sample" data-sample={s.id} onClick={() => onSample(s)} title={s.title} aria-label={`use sample: ${s.title}`}>
              <img src={s.url} alt="" />
            </button>
          ))}
        </div>
      )}
    </div>
  );
}
