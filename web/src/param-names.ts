/** A param's key as a form shows it: `tileSize` → "Tile size". */
export function humanise(key: string): string {
  const words = key.replace(/([A-Z])/g, ' $1').toLowerCase();
  return words.charAt(0).toUpperCase() + words.slice(1);
}
