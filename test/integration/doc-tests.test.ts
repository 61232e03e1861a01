import { spawnSync } from 'node:child_process';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

// The doc-test harness (test/docs/run.mjs) itself: run on a doc with a broken
// example and an unmarked fragment, it must fail and say which blocks.

const repo = resolve(dirname(fileURLToPath(import.meta.url)), '../..');

describe('the doc-test harness', () => {
  it('fails on a broken example and on an unmarked fragment, and lists skipped blocks', () => {
    const result = spawnSync(
      process.execPath,
      [
        join(repo, 'test', 'docs', 'run.mjs'),
        '--no-build',
        join(repo, 'test', 'docs', 'samples', 'broken.md'),
      ],
      { cwd: repo, encoding: 'utf8', timeout: 600_000 },
    );
    const out = `${result.stdout}\n${result.stderr}`;
    expect(result.status, out).toBe(1);
    expect(out).toMatch(/broken\.md:7: `\.\$ vitest run broken\.test\.ts` exited with 1/);
    expect(out).toContain("expected '41' to be '42'");
    expect(out).toMatch(
      /broken\.md:24: cannot run this block: code before the first `\/\/ file` line/,
    );
    expect(out).toMatch(
      /skipped test\/docs\/samples\/broken\.md:29: shows that skipped blocks are listed/,
    );
    expect(out).toContain('docs: 0 passed, 1 failed');
  }, 600_000);
});
