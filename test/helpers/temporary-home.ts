import path from 'node:path';
import { afterAll } from 'vitest';
import { tempDir } from './fixtures.js';

/**
 * A test file's own Atelier home in a fresh temporary folder (`<dir>/home`: the models its
 * trainings install land there, not in the user's), with ATELIER_HOME put back and the folder
 * removed once the file's tests are done. Call at the top level of a test file.
 */
export function temporaryHome(prefix: string): ReturnType<typeof tempDir> {
  const tmp = tempDir(prefix);
  const saved = process.env.ATELIER_HOME;
  process.env.ATELIER_HOME = path.join(tmp.dir, 'home');
  afterAll(() => {
    if (saved === undefined) delete process.env.ATELIER_HOME;
    else process.env.ATELIER_HOME = saved;
    tmp.cleanup();
  });
  return tmp;
}
