/** A metric tree shared by the domain's unit tests: hits → {list, get → get_detail}, plus a cycle and an orphan. */
import type { ServiceView } from '../../src/domain/model.js';

export const treeService: ServiceView = {
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
