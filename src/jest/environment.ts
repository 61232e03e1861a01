import type { Circus } from '@jest/types';
import { TestEnvironment } from 'jest-environment-node';
import { cachePodReport } from '../worker/report.js';
import { ACTIVE_CACHES, activeCaches } from './active.js';

/**
 * jest-environment-node plus failure reports: when a test fails, its error
 * list gets one more entry naming the file's cache pods with their last log
 * lines. Part of `preset: 'kubecache'`; with another environment, subclass
 * it the same way (see docs/jest.md).
 */
export class KubecacheEnvironment extends TestEnvironment {
  async handleTestEvent(event: Circus.AsyncEvent | Circus.SyncEvent): Promise<void> {
    if (event.name !== 'test_done' || event.test.errors.length === 0) return;
    if (!(ACTIVE_CACHES in this.global)) return;
    const report = await cachePodReport(activeCaches(this.global));
    if (report) event.test.errors.push(report);
  }
}

export { KubecacheEnvironment as TestEnvironment };
export default KubecacheEnvironment;
