import path from 'node:path';
import { afterAll } from 'vitest';
import { tempDir } from './fixtures.js';

/**
 * Puts ATELIER_HOME back, once the tests around the call are done, to what it is at the call
 * (unset again if it was unset), so the homes a test file points it at don't outlive the file.
 * Call at the top level of a test file (or of a describe, for that describe's tests), before
 * anything changes ATELIER_HOME: the value is taken at the call, and the `afterAll` it
 * registers runs after the file's own (vitest runs after-hooks in reverse order).
 */
export function restoreHomeAfterAll(): void {
  const saved = process.env.ATELIER_HOME;
  afterAll(() => {
    if (saved === undefined) delete process.env.ATELIER_HOME;
    else process.env.ATELIER_HOME = saved;
  });
}

/**
 * A test file's own Atelier home in a fresh temporary folder (`<dir>/home`: the models its
 * trainings install land there, not in the user's), with ATELIER_HOME put back and the folder
 * removed once the file's tests are done. Call at the top level of a test file.
 */
export function temporaryHome(prefix: string): ReturnType<typeof tempDir> {
  const tmp = tempDir(prefix);
  restoreHomeAfterAll();
  process.env.ATELIER_HOME = path.join(tmp.dir, 'home');
  afterAll(() => tmp.cleanup());
  return tmp;
}
