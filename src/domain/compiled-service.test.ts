import { describe, expect, it } from 'vitest';
import { treeService } from '../../test/support/domain-fixtures.js';
import { ancestorsOf, compileService } from './compiled-service.js';

const svc = treeService;

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
