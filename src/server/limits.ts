/** The server's default limits, apart from app.ts so the CLI can print them without loading the server. */
export const DEFAULT_MAX_UPLOAD_BYTES = 32 * 1024 * 1024;
export const DEFAULT_MAX_PIXELS = 40_000_000;
export const DEFAULT_PORT = 8420;
