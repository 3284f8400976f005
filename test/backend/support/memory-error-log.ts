/** Test-only ErrorLog: newest first, capped at 1000 per service (until a shared memory ErrorLog exists). */
import type { ErrorLog, IntegrationError } from '../../../src/store/ports.js';

export class TestErrorLog implements ErrorLog {
  private readonly byService = new Map<string, IntegrationError[]>();

  async add(serviceId: string, errors: readonly IntegrationError[]): Promise<void> {
    const list = this.byService.get(serviceId) ?? [];
    for (const e of errors) list.unshift(e);
    list.length = Math.min(list.length, 1000);
    this.byService.set(serviceId, list);
  }

  async list(
    serviceId: string,
    offset: number,
    limit: number,
  ): Promise<{ errors: IntegrationError[]; count: number }> {
    const list = this.byService.get(serviceId) ?? [];
    return { errors: list.slice(offset, offset + limit), count: list.length };
  }

  async clear(serviceId: string): Promise<void> {
    this.byService.delete(serviceId);
  }
}
