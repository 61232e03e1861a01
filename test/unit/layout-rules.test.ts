import { readdirSync, readFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { describe, expect, it } from 'vitest';
import { src } from './helpers/module-graph.js';

// Two rules of CONTRIBUTING.md's "Code layout" that the import graph cannot
// show: only src/config/env.ts interprets environment variables, and only
// src/engines/ knows engines by name. A grep of the source keeps them.

function sourceFiles(): string[] {
  return readdirSync(src, { recursive: true, encoding: 'utf8' })
    .filter((f) => f.endsWith('.ts'))
    .map((f) => relative(src, join(src, f)));
}

/** Lines of code, without line comments and the lines of block comments. */
function codeLines(file: string): { line: number; text: string }[] {
  return readFileSync(join(src, file), 'utf8')
    .split('\n')
    .map((text, i) => ({ line: i + 1, text: text.replace(/\/\/.*$/, '') }))
    .filter(({ text }) => !/^\s*(\/\*\*?|\*)/.test(text));
}

function offenders(files: string[], patterns: RegExp[]): string[] {
  return files.flatMap((file) =>
    codeLines(file)
      .filter(({ text }) => patterns.some((p) => p.test(text)))
      .map(({ line, text }) => `${file}:${line}: ${text.trim()}`),
  );
}

describe('layout rules', () => {
  it('finds the source files', () => {
    expect(sourceFiles()).toEqual(expect.arrayContaining(['config/env.ts', 'cli/doctor.ts']));
  });

  it('reads environment variables only in config/env.ts', () => {
    const files = sourceFiles().filter((f) => f !== join('config', 'env.ts'));
    const reads = [/\bprocess\.env\s*[.[]/, /\benv\s*\[/, /\benv\.[A-Z_]+\b/];
    expect(offenders(files, reads)).toEqual([]);
  });

  it('branches on engine names only under engines/', () => {
    // seed/rdb-compat.ts branches on the server family an image reports,
    // which is not the engine the cache was asked for (see its header).
    const allowed = new Set([join('seed', 'rdb-compat.ts')]);
    const files = sourceFiles().filter((f) => !f.startsWith(`engines/`) && !allowed.has(f));
    const name = `['"](?:redis|valkey|memcached)['"]`;
    const branches = [
      new RegExp(`(?:[!=]==?|\\bcase|\\bextends)\\s*${name}`),
      new RegExp(`${name}\\s*(?:[!=]==?|\\|)`),
      new RegExp(`\\[\\s*${name}\\s*,`),
    ];
    expect(offenders(files, branches)).toEqual([]);
  });

  it('the checks see what they look for', () => {
    const probe = (patterns: RegExp[], text: string) => patterns.some((p) => p.test(text));
    expect(probe([/\bprocess\.env\s*[.[]/], 'const x = process.env.HOME;')).toBe(true);
    expect(probe([/\benv\.[A-Z_]+\b/], 'if (input.env.CI) {')).toBe(true);
    const name = `['"](?:redis|valkey|memcached)['"]`;
    expect(
      new RegExp(`(?:[!=]==?|\\bcase|\\bextends)\\s*${name}`).test("p.engine === 'redis'"),
    ).toBe(true);
    expect(new RegExp(`\\[\\s*${name}\\s*,`).test("= ['redis', 'memcached']")).toBe(true);
  });
});
