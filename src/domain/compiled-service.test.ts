import { describe, expect, it } from 'vitest';
import { ancestorsOf, compileService } from './compiled-service.js';
import type { ServiceView } from './model.js';

const svc: ServiceView = {
  id: 's1',
  tenantId: 't1',
  providerKey: 'pk',
  state: 'active',
  authMode: 'app_id',
  referrerFiltersRequired: false,
  authorization: { mode: 'strict', onStoreFailure: 'deny' },
  metrics: [
    { id: 'h', systemName: 'hits', parentId: null },
    { id: 'l', systemName: 'list', parentId: 'h' },
    { id: 'g', systemName: 'get', parentId: 'h' },
    { id: 'd', systemName: 'get_detail', parentId: 'g' },
    { id: 'x', systemName: 'loop_a', parentId: 'y' },
    { id: 'y', systemName: 'loop_b', parentId: 'x' },
    { id: 'z', systemName: 'orphan', parentId: 'missing' },
  ],
};

describe('compileService', () => {
  it('maps names and ids, ancestors nearest first, direct children', () => {
    const c = compileService(svc);
    expect(c.idByName.get('get_detail')).toBe('d');
    expect(c.nameById.get('g')).toBe('get');
    expect(ancestorsOf(c, 'd')).toEqual(['g', 'h']);
    expect(ancestorsOf(c, 'h')).toEqual([]);
    expect(c.childrenByName.get('hits')).toBe('list get');
    expect(c.childrenByName.get('get_detail')).toBe('');
  });

  it('cuts cycles and dangling parents', () => {
    const c = compileService(svc);
    expect(ancestorsOf(c, 'x')).toEqual(['y']);
    expect(ancestorsOf(c, 'z')).toEqual([]);
  });

  it('is cached per ServiceView object', () => {
    expect(compileService(svc)).toBe(compileService(svc));
    expect(compileService({ ...svc })).not.toBe(compileService(svc));
  });
});
