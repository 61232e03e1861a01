import { open } from 'node:fs/promises';
import { extname, resolve } from 'node:path';
import { Command, InvalidArgumentError } from 'commander';
import { getEngine } from '../engines/registry.js';
import { ENGINE_NAMES, type EngineName } from '../engines/types.js';
import { isKubecacheError, KubecacheError } from '../errors.js';
import { DEFAULT_MAX_RDB_VERSION, validateRdbFixture } from '../seed/rdb-file.js';
import { type RdbSummary, summarizeRdb } from '../seed/rdb-summary.js';
import { EXIT } from './exit-codes.js';
import { type CliIO, globalFlags, printJson } from './io.js';

export interface FixtureReport {
  file: string;
  format: 'rdb' | 'json';
  ok: boolean;
  /** Why the fixture would be refused; empty when ok. */
  problems: string[];
  /** RDB only. */
  magic?: string;
  rdbVersion?: number;
  size?: number;
  sha256?: string;
  checksum?: { stored: string; matches: boolean } | { stored: 'none'; matches: null };
  /** JSON only: the engines whose seed format the file follows. */
  engines?: string[];
  keys?: number;
  types?: Record<string, number>;
  expiring?: number;
  databases?: Record<string, number>;
  aux?: Record<string, string>;
  /** False when the key walk stopped early (see note). */
  complete?: boolean;
  note?: string;
}

export interface CheckFlags {
  engine?: EngineName;
  maxRdbVersion?: number;
}

async function startsWithRdbMagic(path: string): Promise<boolean> {
  const fh = await open(path, 'r').catch((err: unknown) => {
    throw new KubecacheError(
      'BAD_FIXTURE',
      `Cannot open ${path}: ${(err as Error).message}. Check the path.`,
      { path },
      { cause: err },
    );
  });
  try {
    const head = Buffer.alloc(6);
    const { bytesRead } = await fh.read(head, 0, 6, 0);
    const text = head.subarray(0, bytesRead).toString('latin1');
    // Valkey 9 writes its own magic; its dumps are RDB files too.
    return text.startsWith('REDIS') || text === 'VALKEY';
  } finally {
    await fh.close();
  }
}

function withSummary(report: FixtureReport, s: RdbSummary): void {
  report.keys = s.keys;
  report.types = s.types;
  report.expiring = s.expiring;
  report.databases = s.databases;
  report.aux = s.aux;
  report.complete = s.complete;
  if (s.note) report.note = s.note;
}

/** Checks an RDB file the way kubecache does before seeding, then counts its keys. */
export async function checkRdb(path: string, flags: CheckFlags): Promise<FixtureReport> {
  const file = resolve(path);
  const report: FixtureReport = { file, format: 'rdb', ok: true, problems: [], magic: 'REDIS' };
  if (flags.engine !== undefined && !getEngine(flags.engine).rdbSeeds) {
    report.ok = false;
    report.problems.push(`${flags.engine} does not load RDB files; give it a JSON seed.`);
  }
  try {
    // Integrity first, with any version accepted; loadability is judged below.
    const info = await validateRdbFixture(file, { maxRdbVersion: 9999 });
    report.rdbVersion = info.rdbVersion;
    report.magic = info.rdbMagic;
    report.size = info.size;
    report.sha256 = info.sha256;
  } catch (err) {
    if (!isKubecacheError(err, 'BAD_FIXTURE')) throw err;
    report.ok = false;
    report.problems.push(err.message);
    if (typeof err.details.rdbVersion === 'number') report.rdbVersion = err.details.rdbVersion;
    return report;
  }
  const max = flags.maxRdbVersion ?? DEFAULT_MAX_RDB_VERSION;
  if ((report.rdbVersion ?? 0) > max) {
    report.ok = false;
    report.problems.push(
      report.magic === 'VALKEY'
        ? `This is Valkey 9's own format (VALKEY${report.rdbVersion}), which only Valkey 9 or later loads, and --max-rdb-version is ${max}. ` +
            `For a Valkey 9 image check with --max-rdb-version ${report.rdbVersion}; for older servers re-save the data with one of them.`
        : `RDB version ${report.rdbVersion} is newer than ${max}, the newest the target redis loads ` +
            '(redis 7.0: 10, 7.2: 11, 7.4: 12). Re-save the file with a redis as old as the image, or check with --max-rdb-version matching a newer image.',
    );
  }
  const summary = await summarizeRdb(file);
  withSummary(report, summary);
  report.checksum =
    summary.storedChecksum === undefined
      ? { stored: 'none', matches: null }
      : // validateRdbFixture passed, so a non-zero checksum matched.
        { stored: summary.storedChecksum, matches: true };
  return report;
}

/** The parts of a parsed JSON seed that check reports, whatever the engine. */
interface SeedEntries {
  entries?: { type?: string; ttl?: number }[];
}

/** Parses a JSON seed with each engine's own parser; tries every engine unless one is given. */
export async function checkJson(path: string, flags: CheckFlags): Promise<FixtureReport> {
  const file = resolve(path);
  const report: FixtureReport = { file, format: 'json', ok: true, problems: [], engines: [] };
  const tried: readonly EngineName[] = flags.engine ? [flags.engine] : ENGINE_NAMES;
  const errors: { engine: EngineName; message: string }[] = [];
  for (const name of tried) {
    try {
      const seed = (await getEngine(name).loadJsonSeed(file)) as SeedEntries;
      report.engines?.push(name);
      if (report.keys !== undefined) continue;
      const entries = seed.entries ?? [];
      report.keys = entries.length;
      report.types = {};
      for (const e of entries) {
        const type = e.type ?? 'string';
        report.types[type] = (report.types[type] ?? 0) + 1;
      }
      report.expiring = entries.filter((e) => e.ttl !== undefined).length;
    } catch (err) {
      if (!isKubecacheError(err, 'BAD_FIXTURE')) throw err;
      errors.push({ engine: name, message: err.message });
    }
  }
  if (report.engines?.length === 0) {
    report.ok = false;
    // A file that is not JSON at all fails every engine's parser alike: once is enough.
    const same = errors.every((e) => e.message === errors[0]?.message);
    if (same && errors[0]) report.problems.push(errors[0].message);
    else report.problems.push(...errors.map((e) => `as a ${e.engine} seed: ${e.message}`));
  }
  return report;
}

/** Pure: the human report. */
export function formatFixtureReport(r: FixtureReport): string {
  const lines = [
    `${r.file}: ${r.format === 'rdb' ? 'RDB file' : 'JSON seed'}, ${r.ok ? 'ok' : 'PROBLEMS'}`,
  ];
  const row = (k: string, v: string) => lines.push(`  ${k.padEnd(9)} ${v}`);
  if (r.format === 'rdb') {
    row('magic', r.magic ?? '-');
    if (r.rdbVersion !== undefined) {
      const ver = r.aux?.['redis-ver'];
      row('version', `${r.rdbVersion}${ver ? ` (written by redis ${ver})` : ''}`);
    }
    if (r.checksum) {
      row(
        'checksum',
        r.checksum.matches === null
          ? 'none (RDB before version 5)'
          : r.checksum.stored === '0x0000000000000000'
            ? 'disabled by the writer (0), not checked'
            : `CRC-64 ${r.checksum.stored} matches`,
      );
    }
    if (r.size !== undefined) row('size', `${r.size} bytes, sha256 ${r.sha256}`);
  } else if (r.engines && r.engines.length > 0) {
    row('engines', r.engines.join(', '));
  }
  if (r.keys !== undefined) {
    const types = Object.entries(r.types ?? {})
      .sort(([a], [b]) => a.localeCompare(b))
      .map(([t, n]) => `${t} ${n}`)
      .join(', ');
    row('keys', `${r.keys}${types ? ` (${types})` : ''}, ${r.expiring ?? 0} with a TTL`);
    const dbs = Object.keys(r.databases ?? {});
    if (dbs.length > 1 || (dbs.length === 1 && dbs[0] !== '0')) {
      row('databases', dbs.map((d) => `db${d} ${r.databases?.[d]}`).join(', '));
    }
  }
  if (r.note) row('note', r.note);
  for (const p of r.problems) lines.push(`  problem: ${p}`);
  return lines.join('\n');
}

function parseVersion(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1) throw new InvalidArgumentError('expected a positive integer.');
  return n;
}

export function checkCommand(io: CliIO): Command {
  return new Command('check')
    .description(
      'check an RDB or JSON fixture without a cluster: magic, version, checksum, keys and types',
    )
    .argument('<fixture>', 'an .rdb file or a JSON seed')
    .option(
      '--engine <engine>',
      `the engine the fixture is for: ${ENGINE_NAMES.join(', ')} (default: any that fits)`,
    )
    .option(
      '--max-rdb-version <n>',
      `newest RDB version the target redis loads (default ${DEFAULT_MAX_RDB_VERSION}, redis 7.0)`,
      parseVersion,
    )
    .action(async (fixture: string, opts: CheckFlags, cmd: Command) => {
      const flags = globalFlags(cmd);
      if (opts.engine !== undefined && !(ENGINE_NAMES as readonly string[]).includes(opts.engine)) {
        throw new KubecacheError(
          'BAD_OPTION',
          `--engine must be one of ${ENGINE_NAMES.join(', ')}, got ${JSON.stringify(opts.engine)}.`,
          { field: '--engine', value: opts.engine, accepted: ENGINE_NAMES },
        );
      }
      const path = resolve(io.cwd, fixture);
      // The magic decides, so a renamed dump is still read as one; a .rdb that
      // lacks it gets the RDB checker's explanation rather than a JSON error.
      const rdb = extname(path).toLowerCase() === '.rdb' || (await startsWithRdbMagic(path));
      const report = rdb ? await checkRdb(path, opts) : await checkJson(path, opts);
      if (flags.json) printJson(io, report);
      else io.out(formatFixtureReport(report));
      io.exitCode = report.ok ? EXIT.OK : EXIT.PROBLEMS;
    });
}
