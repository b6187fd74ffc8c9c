import { expect, it } from 'vitest';
import { runCli } from '../helpers/cli.js';

/** `atelier serve` and `atelier worker` refuse bad flags and an unreachable Redis with a sentence. */

it('serve and worker report usage errors (exit 2) and a missing Redis (exit 1)', () => {
  const port = runCli(['serve', '--port', 'http']);
  expect(port.status).toBe(2);
  expect(port.stderr).toMatch(/Invalid value for --port.*\[E_USAGE\]/);
  const noRedis = runCli(['worker']);
  expect(noRedis.status).toBe(2);
  expect(noRedis.stderr).toContain('--redis');
  // Port 1 on loopback: nothing listens there.
  const down = runCli(['worker', '--redis', 'redis://127.0.0.1:1']);
  expect(down.status).toBe(1);
  expect(down.stderr).toMatch(/Cannot reach Redis at redis:\/\/127\.0\.0\.1:1.*\[E_DEPENDENCY\]/);
});
