import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { basename, dirname, extname, join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import type { SeedRequest } from '../broker/types.js';
import { ENV_CONFIG, readConfigPath, readEngineSeedVars } from '../config/env.js';
import { type KubecacheOptions, validateKubecacheOptions } from '../config/options.js';
import { ENGINE_NAMES, type EngineName } from '../engines/types.js';
import { KubecacheError } from '../errors.js';
import { toSeedRequest } from '../worker/seed-input.js';
import { MIN_NODE } from './node-version.js';

/** Default seed per engine, applied to every cache that does not choose its own. */
export type SeedDefaults = Partial<Record<EngineName, SeedRequest>>;

/** What a kubecache.config.* file or the runner options may hold. */
export interface KubecacheConfig extends KubecacheOptions {
  /** Relative paths are resolved from the config file's directory (runner options: the root). */
  seeds?: Partial<Record<EngineName, SeedRequest | string>>;
}

/** Typed identity helper for kubecache.config.ts / .mjs / .js. */
export function defineConfig(config: KubecacheConfig): KubecacheConfig {
  return config;
}

export const CONFIG_FILE_NAMES = [
  'kubecache.config.ts',
  'kubecache.config.mts',
  'kubecache.config.mjs',
  'kubecache.config.js',
  'kubecache.config.cjs',
  'kubecache.config.json',
] as const;

export { ENV_CONFIG } from '../config/env.js';

export interface LoadedConfig {
  options: KubecacheOptions;
  seeds: SeedDefaults;
  /** The file that was read, if any. */
  file?: string;
}

/**
 * Finds the config file: KUBECACHE_CONFIG if set (relative to root), else
 * the one kubecache.config.* in root. Two candidates at once is an error,
 * because silently preferring one would hide edits made to the other.
 */
export function findConfigFile(
  root: string,
  env: NodeJS.ProcessEnv = process.env,
): string | undefined {
  const explicit = readConfigPath(env);
  if (explicit !== undefined) {
    const file = resolve(root, explicit);
    if (!existsSync(file)) {
      throw new KubecacheError(
        'BAD_OPTION',
        `${ENV_CONFIG} names ${file}, which does not exist. Fix the path or unset ${ENV_CONFIG}.`,
        { field: ENV_CONFIG, value: explicit },
      );
    }
    return file;
  }
  const found = CONFIG_FILE_NAMES.map((name) => join(root, name)).filter((f) => existsSync(f));
  if (found.length > 1) {
    throw new KubecacheError(
      'BAD_OPTION',
      `found ${found.length} kubecache config files in ${root}: ${found.join(', ')}. Keep one, or point ${ENV_CONFIG} at the one to use.`,
      { files: found },
    );
  }
  return found[0];
}

/** Node's SyntaxError for import/export in a file it loads as CommonJS. */
function loadedAsCommonJs(err: unknown): boolean {
  return (
    err instanceof Error &&
    err.name === 'SyntaxError' &&
    /Cannot use import statement outside a module|Unexpected token 'export'/.test(err.message)
  );
}

/** What to do about a config file that Node could not import, or '' when kubecache cannot tell. */
export function configLoadHint(err: unknown, file: string): string {
  if ((err as { code?: string } | undefined)?.code === 'ERR_UNKNOWN_FILE_EXTENSION') {
    return ` This Node (${process.version}) cannot load TypeScript files; use Node ${MIN_NODE} or later (kubecache needs it anyway, and it strips the types itself), or write kubecache.config.mjs instead.`;
  }
  if (loadedAsCommonJs(err)) {
    return ` Node loaded ${basename(file)} as CommonJS, because the nearest package.json does not say "type": "module" (npm init writes "type": "commonjs"), and import/export need an ES module. Rename the file to kubecache.config.mts (an ES module whatever package.json says), or write module.exports = { ... } in it.`;
  }
  return '';
}

async function importConfig(file: string): Promise<unknown> {
  if (extname(file) === '.json') {
    const text = await readFile(file, 'utf8');
    try {
      return JSON.parse(text);
    } catch (err) {
      throw new KubecacheError(
        'BAD_OPTION',
        `${file} is not valid JSON (${(err as Error).message}). Fix the file or rename it to kubecache.config.mjs.`,
        { file },
      );
    }
  }
  let mod: { default?: unknown };
  try {
    mod = (await import(pathToFileURL(file).href)) as { default?: unknown };
  } catch (err) {
    const hint = configLoadHint(err, file);
    throw new KubecacheError(
      'BAD_OPTION',
      `could not load ${file}: ${(err as Error).message}.${hint}`,
      { file },
      { cause: err },
    );
  }
  const value = await (mod.default ?? mod);
  return typeof value === 'function' ? await (value as () => unknown)() : value;
}

/** Reads and validates `seeds`, resolving relative paths against `base`. */
export function parseSeeds(raw: unknown, base: string, source: string): SeedDefaults {
  if (raw === undefined) return {};
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) {
    throw new KubecacheError(
      'BAD_OPTION',
      `${source}: seeds must be an object like {"redis": "./fixtures/basic.rdb", "memcached": "./fixtures/memcached.json"}.`,
      { field: 'seeds' },
    );
  }
  const out: SeedDefaults = {};
  for (const [engine, value] of Object.entries(raw)) {
    if (!(ENGINE_NAMES as readonly string[]).includes(engine)) {
      throw new KubecacheError(
        'BAD_OPTION',
        `${source}: seeds.${engine} is not an engine. Accepted keys: ${ENGINE_NAMES.join(', ')}.`,
        { field: `seeds.${engine}` },
      );
    }
    out[engine as EngineName] = toSeedRequest(value, base, `${source}: seeds.${engine}`);
  }
  return out;
}

/** KUBECACHE_<ENGINE>_SEED: a path as in the config file; "none" turns a configured seed off. */
export function seedsFromEnv(
  env: NodeJS.ProcessEnv,
  base: string,
): Partial<Record<EngineName, SeedRequest | null>> {
  const out: Partial<Record<EngineName, SeedRequest | null>> = {};
  for (const [engine, seed] of Object.entries(readEngineSeedVars(env))) {
    out[engine as EngineName] =
      seed.path === null ? null : toSeedRequest(seed.path, base, seed.name);
  }
  return out;
}

/**
 * Merges two option objects; `over` wins key by key, and the nested
 * `engines`, `timeouts` and map-valued keys merge one level deeper so a
 * runner option can change one timeout without restating the others.
 */
export function mergeOptions(base: KubecacheOptions, over: KubecacheOptions): KubecacheOptions {
  const out: KubecacheOptions = { ...base, ...over };
  for (const key of ['timeouts', 'nodeSelector', 'annotations', 'labels'] as const) {
    if (base[key] && over[key]) Object.assign(out, { [key]: { ...base[key], ...over[key] } });
  }
  // resources merges per side and quantity, like the layers of resolveCacheConfig:
  // a runner option that sets only limits.memory keeps the file's requests.
  if (base.resources && over.resources) {
    out.resources = { ...base.resources, ...over.resources };
    for (const side of ['requests', 'limits'] as const) {
      const b = base.resources[side];
      const o = over.resources[side];
      if (b && o) out.resources[side] = { ...b, ...o };
    }
  }
  if (base.engines && over.engines) {
    out.engines = { ...base.engines };
    for (const engine of ENGINE_NAMES) {
      const b = base.engines[engine];
      const o = over.engines[engine];
      if (b && o) out.engines[engine] = mergeOptions(b, o);
      else if (o) out.engines[engine] = o;
    }
  }
  return out;
}

function splitConfig(raw: unknown, source: string): { options: unknown; seeds: unknown } {
  if (raw === undefined || raw === null) return { options: undefined, seeds: undefined };
  if (typeof raw !== 'object' || Array.isArray(raw)) {
    throw new KubecacheError(
      'BAD_OPTION',
      `${source} must export an object of kubecache options, e.g. export default { namespace: 'ci' }.`,
      { source },
    );
  }
  const { seeds, ...options } = raw as Record<string, unknown>;
  return { options, seeds };
}

/**
 * Everything the runner knows before starting the broker, lowest precedence
 * first: the config file, then the runner options. Env vars are applied on
 * top by the broker (options) and by `seedsFromEnv` (seeds).
 */
export async function loadRunnerConfig(input: {
  root: string;
  runnerOptions?: unknown;
  runnerSource?: string;
  env?: NodeJS.ProcessEnv;
}): Promise<LoadedConfig> {
  const env = input.env ?? process.env;
  const file = findConfigFile(input.root, env);
  let options: KubecacheOptions = {};
  let seeds: SeedDefaults = {};
  if (file) {
    const parts = splitConfig(await importConfig(file), file);
    options = validateKubecacheOptions(parts.options, file);
    seeds = parseSeeds(parts.seeds, dirname(file), file);
  }
  if (input.runnerOptions !== undefined) {
    const source = input.runnerSource ?? 'runner options';
    const parts = splitConfig(input.runnerOptions, source);
    options = mergeOptions(options, validateKubecacheOptions(parts.options, source));
    seeds = { ...seeds, ...parseSeeds(parts.seeds, input.root, source) };
  }
  for (const [engine, seed] of Object.entries(seedsFromEnv(env, process.cwd()))) {
    if (seed === null) delete seeds[engine as EngineName];
    else seeds[engine as EngineName] = seed;
  }
  return { options, seeds, ...(file ? { file } : {}) };
}
