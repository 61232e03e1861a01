import { KubecacheError } from '../errors.js';

export type SeedTransport = 'http' | 'exec';

export interface SeedCommandInput {
  transport: SeedTransport;
  /** The engine's own argv (redis-server ...), run unchanged once the fixture is in place. */
  redisArgv: string[];
  expectedSize: number;
  expectedSha256: string;
  /** exec transport: how long to wait for the runner to push the file. */
  markerTimeoutSeconds: number;
  /** The emptyDir mount; only tests point it elsewhere. */
  dataDir?: string;
}

/** Environment variables the pod gets from a Secret (secretKeyRef) for the http transport. */
export const SEED_URL_ENV = 'KUBECACHE_SEED_URL';
export const SEED_TOKEN_ENV = 'KUBECACHE_SEED_TOKEN';

export const DEFAULT_DATA_DIR = '/data';
const PART_FILE = 'dump.rdb.part';
const MARKER_FILE = '.kubecache-seed-done';
const DB_FILE = 'dump.rdb';
const POLL_SECONDS = 0.05;
const DOWNLOAD_TRIES = 3;

/** The exit status of a push whose stream ended early: worth another push (EX_TEMPFAIL). */
export const PUSH_CUT_SHORT_EXIT = 75;

/**
 * The argv the runner execs in the cache container, feeding the fixture on
 * stdin. The file is written under a per-attempt name and renamed, so a
 * retried push never truncates a file the loader is reading; and it is only
 * renamed, and the marker written, once it holds all `expectedSize` bytes.
 * `cat` also ends when the exec connection drops (the API server died
 * mid-push: the kubelet closes the command's stdin), and without the size
 * check the loader was handed the truncated file and failed the pod, while
 * the runner's retried push would have delivered the whole one. A push cut
 * short exits with PUSH_CUT_SHORT_EXIT, which the runner retries (the
 * connection may have survived while the stream did not); any other failure
 * (no room, no permission) exits 1 and is final.
 */
export function execPushCommand(
  expectedSize: number,
  dataDir: string = DEFAULT_DATA_DIR,
): string[] {
  if (!Number.isSafeInteger(expectedSize) || expectedSize < 0) {
    throw new KubecacheError(
      'INTERNAL',
      `execPushCommand() needs expectedSize as a byte count, got ${String(expectedSize)}.`,
    );
  }
  const dir = shellQuote(dataDir);
  return [
    'sh',
    '-c',
    `p=${dir}/${PART_FILE}.$$; ` +
      `cat > "$p" || { rm -f "$p"; echo "kubecache-seed: writing $p failed; nothing was handed to the loader" >&2; exit 1; }; ` +
      `[ "$(stat -c %s "$p")" = ${expectedSize} ] || { rm -f "$p"; echo "kubecache-seed: the push ended before all ${expectedSize} bytes arrived; nothing was handed to the loader" >&2; exit ${PUSH_CUT_SHORT_EXIT}; }; ` +
      `mv "$p" ${dir}/${PART_FILE} && touch ${dir}/${MARKER_FILE} || { rm -f "$p"; echo "kubecache-seed: handing $p to the loader failed" >&2; exit 1; }`,
  ];
}

/**
 * The cache container's command when it starts from an RDB fixture: fetch the
 * file (http) or wait for it to be pushed (exec), prove it is exactly the
 * validated fixture, then replace the shell with redis-server pointed at it.
 * A mismatch exits non-zero before redis starts, so the pod fails visibly
 * instead of serving a half-written dataset.
 */
export function buildSeedCommand(input: SeedCommandInput): string[] {
  const { expectedSize, markerTimeoutSeconds } = input;
  const expectedSha256 = input.expectedSha256.toLowerCase();
  if (!Number.isSafeInteger(expectedSize) || expectedSize < 0) {
    throw new KubecacheError(
      'INTERNAL',
      `buildSeedCommand() needs expectedSize as a byte count, got ${String(expectedSize)}.`,
    );
  }
  if (!/^[0-9a-f]{64}$/.test(expectedSha256)) {
    throw new KubecacheError(
      'INTERNAL',
      `buildSeedCommand() needs expectedSha256 as 64 hex digits, got ${JSON.stringify(input.expectedSha256)}.`,
    );
  }
  if (input.transport !== 'http' && input.transport !== 'exec') {
    throw new KubecacheError(
      'BAD_OPTION',
      `the seed transport must be "http" or "exec", got ${JSON.stringify(input.transport)}.`,
    );
  }
  if (
    input.transport === 'exec' &&
    (!Number.isFinite(markerTimeoutSeconds) || markerTimeoutSeconds <= 0)
  ) {
    throw new KubecacheError(
      'BAD_OPTION',
      `The seed marker timeout must be a positive number of seconds, got ${String(markerTimeoutSeconds)}.`,
    );
  }
  if (input.redisArgv.length === 0) {
    throw new KubecacheError('INTERNAL', 'buildSeedCommand() got an empty redis argv.');
  }

  const dataDir = input.dataDir ?? DEFAULT_DATA_DIR;
  if (!dataDir.startsWith('/')) {
    throw new KubecacheError(
      'INTERNAL',
      `buildSeedCommand() needs an absolute dataDir, got ${dataDir}.`,
    );
  }
  const dir = shellQuote(dataDir);
  const lines = [
    'set -eu',
    `dir=${dir}`,
    `part="$dir/${PART_FILE}"`,
    'fail() { echo "kubecache-seed: $*" >&2; exit 1; }',
    ...(input.transport === 'http' ? httpFetch() : execWait(markerTimeoutSeconds)),
    ...verify(expectedSize, expectedSha256),
    `mv -f "$part" "$dir/${DB_FILE}"`,
    `exec "$@" --dir "$dir" --dbfilename ${DB_FILE}`,
  ];
  return ['sh', '-c', `${lines.join('\n')}\n`, 'kubecache-seed', ...input.redisArgv];
}

function httpFetch(): string[] {
  // The URL and token come from env (a Secret), so they are not in the pod spec.
  return [
    `[ -n "\${${SEED_URL_ENV}:-}" ] || fail "${SEED_URL_ENV} is not set; the pod spec must fill it from the seed Secret"`,
    `[ -n "\${${SEED_TOKEN_ENV}:-}" ] || fail "${SEED_TOKEN_ENV} is not set; the pod spec must fill it from the seed Secret"`,
    // A few tries cover a pod network that is not quite up yet; once a
    // download has started the runner consumes the URL, so retrying cannot
    // fetch the file twice.
    'tries=0',
    `until wget -q -O "$part" --header "Authorization: Bearer $${SEED_TOKEN_ENV}" "$${SEED_URL_ENV}"; do`,
    '  tries=$((tries + 1))',
    `  [ "$tries" -lt ${DOWNLOAD_TRIES} ] || fail "downloading the RDB fixture from $${SEED_URL_ENV} failed; check that pods can reach the test runner (KUBECACHE_ADVERTISE_URL) or set KUBECACHE_SEED_TRANSPORT=exec"`,
    '  sleep 1',
    'done',
  ];
}

function execWait(timeoutSeconds: number): string[] {
  // Counting polls rather than reading a clock keeps to tools every image has;
  // process start-up per sleep only makes the real wait a little longer.
  const polls = Math.max(1, Math.ceil(timeoutSeconds / POLL_SECONDS));
  return [
    'n=0',
    `while [ ! -f "$dir/${MARKER_FILE}" ]; do`,
    `  [ "$n" -lt ${polls} ] || fail "no fixture arrived within ${timeoutSeconds}s (waiting for $dir/${MARKER_FILE}); the push through kubectl exec did not finish"`,
    '  n=$((n + 1))',
    `  sleep ${POLL_SECONDS}`,
    'done',
  ];
}

function verify(size: number, sha256: string): string[] {
  return [
    `[ -f "$part" ] || fail "$part is missing after the transfer"`,
    'size=$(stat -c %s "$part")',
    `[ "$size" = "${size}" ] || fail "$part has $size bytes, expected ${size}: the transfer was cut short or the fixture changed; rerun"`,
    'sum=$(sha256sum "$part")',
    // biome-ignore lint/suspicious/noTemplateCurlyInString: shell expansion keeping the hash field
    'sum=${sum%% *}',
    `[ "$sum" = "${sha256}" ] || fail "$part has sha256 $sum, expected ${sha256}: the fixture was corrupted in transit or changed; rerun"`,
  ];
}

/**
 * Single-quotes a word for sh so any path survives word splitting and
 * globbing; plain paths stay bare so the command reads naturally in logs.
 */
function shellQuote(word: string): string {
  if (/^[A-Za-z0-9_./-]+$/.test(word)) return word;
  return `'${word.replaceAll("'", `'\\''`)}'`;
}
