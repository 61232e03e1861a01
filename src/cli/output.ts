/** Pure formatting for the CLI's human output; --json output is the data itself. */

export type CheckStatus = 'ok' | 'warn' | 'fail';

export interface CheckResult {
  /** Short stable id, e.g. "kubeconfig", "rbac pods/exec create", "image redis". */
  name: string;
  status: CheckStatus;
  /** What was found. */
  summary: string;
  /** What to do about it; set for warn and fail. */
  next?: string;
}

/** `45s`, `3m`, `2h5m`, `3d4h`: coarse on purpose, like kubectl's AGE column. */
export function formatDuration(ms: number): string {
  const s = Math.max(0, Math.floor(ms / 1000));
  if (s < 120) return `${s}s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m}m`;
  const h = Math.floor(m / 60);
  if (h < 24) return m % 60 === 0 ? `${h}h` : `${h}h${m % 60}m`;
  const d = Math.floor(h / 24);
  return h % 24 === 0 ? `${d}d` : `${d}d${h % 24}h`;
}

/** A lease relative to now: `45s left` or `expired 3m ago`. */
export function formatLease(inMs: number | undefined): string {
  if (inMs === undefined) return 'none';
  return inMs >= 0 ? `${formatDuration(inMs)} left` : `expired ${formatDuration(-inMs)} ago`;
}

/** Left-aligned columns separated by two spaces; trailing spaces trimmed. */
export function formatTable(header: string[], rows: string[][]): string {
  const all = [header, ...rows];
  const widths = header.map((_, i) => Math.max(...all.map((r) => (r[i] ?? '').length)));
  return all
    .map((r) =>
      header
        .map((_, i) => (r[i] ?? '').padEnd(widths[i] ?? 0))
        .join('  ')
        .trimEnd(),
    )
    .join('\n');
}

const MARK: Record<CheckStatus, string> = { ok: 'ok  ', warn: 'warn', fail: 'FAIL' };

/** One check as a line, plus an indented next step when there is one. */
export function formatCheck(check: CheckResult): string {
  const line = `${MARK[check.status]}  ${check.name}: ${check.summary}`;
  return check.next ? `${line}\n      next: ${check.next}` : line;
}

export function countBy(checks: readonly CheckResult[]): Record<CheckStatus, number> {
  const out: Record<CheckStatus, number> = { ok: 0, warn: 0, fail: 0 };
  for (const c of checks) out[c.status] += 1;
  return out;
}

/** `3 pods`, `1 pod`. */
export function plural(n: number, word: string): string {
  return `${n} ${word}${n === 1 ? '' : 's'}`;
}
