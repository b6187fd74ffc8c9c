import type { ServerConfig } from './api';

/**
 * Check a chosen file against the server's limits before uploading it: its type, its bytes and
 * its pixels (decoded here, so a 200-megapixel PNG is refused in the browser, not after a long
 * upload). The server checks again; this only saves the user a wait and says what to fix.
 */
export async function checkImageFile(file: File, limits: ServerConfig['limits'] | undefined): Promise<string | undefined> {
  if (!limits) return undefined;
  if (file.type && !limits.imageTypes.includes(file.type)) {
    return `${file.name} is ${file.type}; the server takes ${limits.imageTypes.map((t) => t.replace('image/', '').toUpperCase()).join(', ')} images`;
  }
  if (file.size > limits.maxFileBytes) {
    return `${file.name} is ${mb(file.size)}; the server takes at most ${mb(limits.maxFileBytes)} per file: shrink or recompress it`;
  }
  let size: { width: number; height: number };
  try {
    const bitmap = await createImageBitmap(file);
    size = { width: bitmap.width, height: bitmap.height };
    bitmap.close();
  } catch {
    return `${file.name} cannot be read as an image (corrupt, or a format this browser cannot open)`;
  }
  const pixels = size.width * size.height;
  if (pixels > limits.maxPixels) {
    return `${file.name} is ${size.width}×${size.height} = ${(pixels / 1e6).toFixed(1)} MP; the server takes at most ${(limits.maxPixels / 1e6).toFixed(1)} MP: shrink it first`;
  }
  return undefined;
}

function mb(bytes: number): string {
  return `${(bytes / (1024 * 1024)).toFixed(bytes < 10 * 1024 * 1024 ? 1 : 0)} MiB`;
}
