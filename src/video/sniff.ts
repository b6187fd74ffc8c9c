/**
 * Whether bytes start like a video container, so a clip given where a still image belongs (a style
 * image) is named as such instead of "could not decode". AVIF and HEIF share MP4's `ftyp` box; their
 * brands are still images.
 */
const STILL_BRANDS = new Set(['avif', 'avis', 'heic', 'heix', 'hevc', 'mif1', 'msf1']);

export function looksLikeVideo(bytes: Uint8Array): boolean {
  const ascii = (from: number, to: number) => String.fromCharCode(...bytes.subarray(from, to));
  if (bytes.length >= 12 && ascii(4, 8) === 'ftyp') return !STILL_BRANDS.has(ascii(8, 12));
  if (bytes.length >= 4 && bytes[0] === 0x1a && bytes[1] === 0x45 && bytes[2] === 0xdf && bytes[3] === 0xa3) return true; // Matroska / WebM
  if (bytes.length >= 12 && ascii(0, 4) === 'RIFF' && ascii(8, 12) === 'AVI ') return true;
  if (bytes.length >= 3 && ascii(0, 3) === 'FLV') return true;
  if (bytes.length >= 4 && ascii(0, 4) === 'OggS') return true;
  if (bytes.length >= 377 && bytes[0] === 0x47 && bytes[188] === 0x47 && bytes[376] === 0x47) return true; // MPEG-TS
  return false;
}
