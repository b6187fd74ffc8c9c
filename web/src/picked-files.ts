/**
 * Files the user picked from disk and has not run yet, kept in this browser (IndexedDB, which
 * stores File objects as they are) so that a reload before the first Run does not lose them. The
 * workspace (workspace.ts) remembers inputs by reference once a job has stored them; this covers
 * the time before. Files over MAX_BYTES are not kept (a reload asks for them again).
 */
const DB = 'atelier';
const STORE = 'picked-files';
const MAX_BYTES = 64 * 1024 * 1024;

function open(): Promise<IDBDatabase> {
  return new Promise((resolve, reject) => {
    const r = indexedDB.open(DB, 1);
    r.onupgradeneeded = () => r.result.createObjectStore(STORE);
    r.onsuccess = () => resolve(r.result);
    r.onerror = () => reject(r.error);
  });
}

async function tx<T>(mode: IDBTransactionMode, act: (s: IDBObjectStore) => IDBRequest<T>): Promise<T> {
  const db = await open();
  try {
    return await new Promise<T>((resolve, reject) => {
      const r = act(db.transaction(STORE, mode).objectStore(STORE));
      r.onsuccess = () => resolve(r.result);
      r.onerror = () => reject(r.error);
    });
  } finally {
    db.close();
  }
}

export const pickedFiles = {
  /** Keep the files picked for a field (or forget them: an empty list). */
  async put(field: string, files: File[]): Promise<void> {
    const kept = files.filter((f) => f.size <= MAX_BYTES);
    await (kept.length > 0 ? tx('readwrite', (s) => s.put(kept, field)) : tx('readwrite', (s) => s.delete(field))).catch(() => undefined);
  },
  /** Every field's kept files. */
  async all(): Promise<Record<string, File[]>> {
    try {
      const keys = (await tx('readonly', (s) => s.getAllKeys())) as string[];
      const out: Record<string, File[]> = {};
      for (const k of keys) out[k] = ((await tx('readonly', (s) => s.get(k))) as File[] | undefined) ?? [];
      return out;
    } catch {
      return {};
    }
  },
};
