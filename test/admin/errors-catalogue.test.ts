// Every admin API error code is documented in docs/admin-api.md and the OpenAPI document, with its status.
import { readdirSync, readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { ADMIN_ERRORS } from '../../src/admin/errors.js';
import { buildOpenApi } from '../../src/admin/openapi.js';
import { ADMIN_ROUTES } from '../../src/admin/routes/index.js';

describe('admin error catalogue', () => {
  const docsDir = new URL('../../docs/admin-api/', import.meta.url);
  const doc = [
    readFileSync(new URL('../../docs/admin-api.md', import.meta.url), 'utf8'),
    ...readdirSync(docsDir).map((f) => readFileSync(new URL(f, docsDir), 'utf8')),
  ].join('\n');
  for (const [code, { status }] of Object.entries(ADMIN_ERRORS)) {
    it(`documents ${code} with status ${status}`, () => {
      expect(doc).toMatch(new RegExp(`\\| \`${code}\`\\s*\\| ${status}\\s*\\|`));
    });
  }
  it('lists every code in the OpenAPI Problem schema', () => {
    const api = buildOpenApi(ADMIN_ROUTES, 'test') as {
      components: { schemas: { Problem: { properties: { code: { enum: string[] } } } } };
    };
    expect(api.components.schemas.Problem.properties.code.enum.sort()).toEqual(
      Object.keys(ADMIN_ERRORS).sort(),
    );
  });
  it('documents every route in the OpenAPI document and docs/admin-api*.md', () => {
    const api = buildOpenApi(ADMIN_ROUTES, 'test') as { paths: Record<string, Record<string, unknown>> };
    for (const r of ADMIN_ROUTES) {
      const path = `/admin/api${r.path.replace(/:([A-Za-z_]+)/g, '{$1}')}`;
      expect(api.paths[path]?.[r.method.toLowerCase()], `${r.method} ${path}`).toBeDefined();
      expect(doc).toContain(`${r.method} ${path}`);
    }
  });
});
