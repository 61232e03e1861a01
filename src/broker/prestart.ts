import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import createDebug from 'debug';
import type { PrestartOption } from '../config/options.js';
import { ENGINE_NAMES, type EngineName } from '../engines/types.js';
import { stableStringify } from '../names.js';
import type { AcquireRequest, SeedRequest } from './types.js';

// Pods started in global setup, before any worker asks, so pod start overlaps
// worker boot and test collection. A worker's first acquire adopts a pool pod
// with the same settings instead of creating one; what no worker took is
// deleted at teardown.

const debug = createDebug('kubecache:prestart');

/** An acquire request without the worker: what makes pool pods interchangeable. */
export type PrestartShape = Omit<AcquireRequest, 'worker'>;

export interface PrestartItem {
  shape: PrestartShape;
  count: number;
}

/** What a run asked for, kept for the next run's default prestart. */
export interface RunRecord {
  version: 1;
  /** Each request shape with the number of distinct workers that asked for it. */
  shapes: { shape: PrestartShape; workers: number }[];
}

/**
 * Which pods to start. An explicit `prestart` option gives the counts per
 * engine ('workers' = one per test worker), shaped like the previous run's
 * requests for that engine when there are any (so seeds and options match
 * and the pods are adoptable). Without the option, the previous run's
 * requests are repeated, capped at the worker count.
 */
export function planPrestart(input: {
  option: PrestartOption | false | undefined;
  workers: number;
  previous: RunRecord | undefined;
  /** The config's default seeds: what a worker sends when its useCache names none. */
  seeds?: Partial<Record<EngineName, SeedRequest>>;
}): PrestartItem[] {
  const { option, workers, previous } = input;
  if (option === false || workers < 1) return [];
  const shapes = previous?.shapes ?? [];
  if (option === undefined) {
    return shapes
      .map(({ shape, workers: used }) => ({ shape, count: Math.min(used, workers) }))
      .filter((item) => item.count > 0);
  }
  const out: PrestartItem[] = [];
  for (const engine of ENGINE_NAMES) {
    const wanted = option[engine];
    if (wanted === undefined) continue;
    const count = wanted === 'workers' ? workers : wanted;
    if (count <= 0) continue;
    const known = shapes.filter((s) => s.shape.engine === engine).map((s) => s.shape);
    const seed = input.seeds?.[engine];
    const plain: PrestartShape = seed ? { engine, seed } : { engine };
    for (const shape of known.length > 0 ? known : [plain]) out.push({ shape, count });
  }
  return out;
}

/** Summarises a run's acquire requests into the record the next run starts from. */
export function recordOf(requests: Iterable<AcquireRequest>): RunRecord {
  const byShape = new Map<string, { shape: PrestartShape; workers: Set<string> }>();
  for (const req of requests) {
    const { worker, ...shape } = req;
    // A function seed is identified by a hash of its source: the next run's
    // workers send the same id, so the shape stays adoptable.
    const key = stableStringify(shape);
    let entry = byShape.get(key);
    if (!entry) {
      entry = { shape, workers: new Set() };
      byShape.set(key, entry);
    }
    entry.workers.add(worker);
  }
  return {
    version: 1,
    shapes: [...byShape.values()].map((e) => ({ shape: e.shape, workers: e.workers.size })),
  };
}

/**
 * Where the record of a project's last run lives: the project's
 * node_modules/.cache (where tools keep such state, and what CI caches), or
 * the OS temp directory when the project has no node_modules.
 */
export function recordPath(root: string, configKey: string): string {
  const id = createHash('sha256').update(`${root}\0${configKey}`).digest('hex').slice(0, 12);
  const modules = join(root, 'node_modules');
  if (existsSync(modules)) return join(modules, '.cache', 'kubecache', `last-run-${id}.json`);
  return join(tmpdir(), `kubecache-last-run-${id}.json`);
}

/** The previous run's record; anything unreadable or malformed counts as none. */
export function readRecord(path: string): RunRecord | undefined {
  try {
    const data = JSON.parse(readFileSync(path, 'utf8')) as RunRecord;
    if (data?.version !== 1 || !Array.isArray(data.shapes)) return undefined;
    const valid = data.shapes.filter(
      (s) =>
        s &&
        typeof s.workers === 'number' &&
        Number.isSafeInteger(s.workers) &&
        s.workers > 0 &&
        (ENGINE_NAMES as readonly string[]).includes(s.shape?.engine),
    );
    return { version: 1, shapes: valid };
  } catch {
    return undefined;
  }
}

/** Written atomically (temp file + rename): concurrent runs of one project never see half a file. */
export function writeRecord(path: string, record: RunRecord): void {
  try {
    mkdirSync(join(path, '..'), { recursive: true });
    const tmp = `${path}.${process.pid}.tmp`;
    writeFileSync(tmp, `${JSON.stringify(record)}\n`);
    renameSync(tmp, path);
  } catch (err) {
    // Only a default for the next run: failing to write it must not fail this one.
    debug('could not write %s: %s', path, (err as Error).message);
  }
}

/**
 * Started pods waiting for a worker, by pool key (engine, name and resolved
 * settings, without the worker). Entries are promises: a worker that asks
 * while its pod is still starting waits for that start instead of a new one.
 */
export class PrestartPool<T> {
  private readonly waiting = new Map<string, Promise<T | undefined>[]>();
  /** Every counted start, taken or not, until reset. */
  private readonly all: Promise<T | undefined>[] = [];
  /** Pods a worker got (counted by the caller: a taken start may still fail). */
  adopted = 0;

  /** `counted: false`: a pod that was not started for this run (a daemon's warm pod). */
  add(key: string, pending: Promise<T | undefined>, opts: { counted?: boolean } = {}): void {
    let list = this.waiting.get(key);
    if (!list) {
      list = [];
      this.waiting.set(key, list);
    }
    list.push(pending);
    if (opts.counted !== false) this.all.push(pending);
  }

  /**
   * Settles once every counted start has, the ones workers took included:
   * only then can each be told adopted, unused, cancelled or failed.
   */
  async settled(): Promise<void> {
    await Promise.allSettled(this.all);
  }

  /** Pods started for this run (a daemon's warm pods are not counted). */
  get started(): number {
    return this.all.length;
  }

  /** Pods of this key still waiting for a worker. */
  size(key: string): number {
    return this.waiting.get(key)?.length ?? 0;
  }

  /** Empty, with the counters of a new run. */
  reset(): void {
    this.waiting.clear();
    this.all.length = 0;
    this.adopted = 0;
  }

  /** The next pod of this key, or undefined when the pool has none left. */
  take(key: string): Promise<T | undefined> | undefined {
    const list = this.waiting.get(key);
    const next = list?.shift();
    if (list && list.length === 0) this.waiting.delete(key);
    return next;
  }

  /** Everything no worker took; the pool is empty afterwards. */
  drain(): Promise<T | undefined>[] {
    const rest = [...this.waiting.values()].flat();
    this.waiting.clear();
    return rest;
  }
}

/**
 * The prestart summary's words for the starts that failed: how many, that
 * each pod was deleted when it failed (so teardown's count of deleted pods
 * leaves them out), and the first failure's reason and next step, which no
 * worker may have been told (a worker gets it only if it asked for a cache
 * of that shape).
 */
export function prestartFailedSummary(failed: number, first: Error | undefined): string {
  const deleted =
    failed === 1
      ? '1 failed to start, and its pod was deleted when it failed'
      : `${failed} failed to start, and each pod was deleted when it failed`;
  if (!first) return deleted;
  const lines = first.message.split('\n');
  const next = lines.find((l) => l.trim().startsWith('next: '))?.trim();
  return `${deleted}. First failure: ${lines[0]}${next ? `; ${next}` : ''}`;
}
