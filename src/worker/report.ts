import { withTimeout } from '../deadline.js';
import type { EngineName } from '../engines/types.js';
import type { PodDescription, UsedCache } from './cache-slot.js';

// Worker side: formats what a failed test's output says about its caches.

const DESCRIBE_TIMEOUT_MS = 5_000;
const MAX_EVENTS = 5;

/** Attached to a failed test: names its cache pods and shows their last log lines. */
export class CachePodReport extends Error {
  override readonly name = 'KubecachePodReport';

  constructor(message: string) {
    super(message);
    // No stack frames: they would point into kubecache, not at the test.
    this.stack = `${this.name}: ${message}`;
  }
}

interface Reportable {
  readonly engine: EngineName;
  readonly opened: boolean;
  describe(): Promise<PodDescription>;
}

/**
 * Builds the report for the caches a failed test used, or undefined when it
 * used none. Never throws and never waits long: a broker that is gone must
 * not turn one failure into two or hang the run.
 */
export async function cachePodReport(
  caches: Iterable<Reportable & Pick<UsedCache, 'podName' | 'host' | 'port' | 'lease'>>,
): Promise<CachePodReport | undefined> {
  const open = [...new Set(caches)].filter((c) => c.opened);
  if (open.length === 0) return undefined;
  const sections = await Promise.all(
    open.map(async (cache) => {
      const where = `${cache.engine} cache pod ${cache.podName} (namespace ${cache.lease.namespace}, ${cache.host}:${cache.port})`;
      let about: PodDescription | string;
      try {
        about = await withTimeout(
          cache.describe(),
          DESCRIBE_TIMEOUT_MS,
          () => new Error(`no answer from the broker within ${DESCRIBE_TIMEOUT_MS} ms`),
        );
      } catch (err) {
        about = `(could not read the pod's logs: ${(err as Error).message})`;
      }
      if (typeof about === 'string') return `${where}\n  ${about}`;
      const logs = about.logs.trimEnd();
      const lines = [where, `  last log lines of ${about.podName}:`];
      lines.push(logs === '' ? '    (empty)' : indent(logs, '    | '));
      const events = about.events.slice(-MAX_EVENTS);
      if (events.length > 0) lines.push(`  events:`, indent(events.join('\n'), '    '));
      return lines.join('\n');
    }),
  );
  const noun = open.length === 1 ? 'this cache' : 'these caches';
  return new CachePodReport(
    `kubecache: the test failed while using ${noun}:\n${sections.join('\n')}`,
  );
}

function indent(text: string, prefix: string): string {
  return text
    .split('\n')
    .map((l) => `${prefix}${l}`)
    .join('\n');
}
