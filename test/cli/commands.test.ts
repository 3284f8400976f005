// Every resource command of the CLI calls an admin API route that exists, with the same method.
import { describe, expect, it } from 'vitest';
import { ADMIN_ROUTES } from '../../src/admin/routes/index.js';
import { COMMANDS } from '../../src/cli/admin/commands.js';

const shape = (path: string) => path.replace(/\{[a-z_-]+\}/g, ':').replace(/:[a-z_]+/g, ':');

describe('CLI resource commands', () => {
  const routes = new Set(ADMIN_ROUTES.map((r) => `${r.method} ${shape(r.path)}`));
  for (const c of COMMANDS) {
    it(`${c.name} → ${c.method} ${c.path} exists`, () => {
      expect(routes.has(`${c.method} ${shape(c.path)}`)).toBe(true);
    });
  }
});
