import { KubecacheError } from '../errors.js';

/**
 * The cache server runs as the child of a small shell supervisor, for the
 * outage helpers (stop/start/restart/pause):
 * - the kernel ignores SIGSTOP sent to a namespace's PID 1 from inside it, so
 *   pause() can only freeze a server that is not PID 1;
 * - stop() must leave the pod (and so its IP and port-forward) in place with
 *   nothing listening, and start() must bring the same server back.
 * A server that exits on its own still ends the container with its exit code,
 * so a crash fails the pod as before; only an exit the control commands
 * asked for (the hold file exists) waits for start.
 * Needs only a POSIX sh with kill/sleep, which the seed loader needs already.
 */
/** Where the supervisor keeps the server's pid and the hold flag (images have a writable /tmp). */
export const STATE_DIR = '/tmp';
const PID_FILE = '"$kc/kubecache-server.pid"';
const HOLD_FILE = '"$kc/kubecache-hold"';

const POLL = 'sleep 0.05 2>/dev/null || sleep 1';

const SUPERVISOR = [
  `pidfile=${PID_FILE}`,
  `hold=${HOLD_FILE}`,
  'rm -f "$hold"',
  'pid=',
  // Pod deletion: pass the signal on (waking a paused server first) and leave.
  `trap 'if [ -n "$pid" ]; then kill -CONT "$pid" 2>/dev/null; kill -TERM "$pid" 2>/dev/null; wait "$pid"; fi; exit 0' TERM INT`,
  'while :; do',
  '  "$@" &',
  '  pid=$!',
  '  echo "$pid" > "$pidfile"',
  '  wait "$pid"',
  '  code=$?',
  '  [ -e "$hold" ] || exit "$code"',
  '  pid=',
  `  while [ -e "$hold" ]; do ${POLL}; done`,
  'done',
].join('\n');

/** Wraps a server argv in the supervisor; the argv is run unchanged. */
export function supervise(serverArgv: readonly string[], stateDir = STATE_DIR): string[] {
  return [
    'sh',
    '-c',
    `${stateLine(stateDir)}\n${SUPERVISOR}\n`,
    'kubecache-supervise',
    ...serverArgv,
  ];
}

function stateLine(stateDir: string): string {
  if (!/^\/[A-Za-z0-9._/-]*$/.test(stateDir)) {
    throw new KubecacheError(
      'INTERNAL',
      `supervisor state dir must be a plain absolute path, got ${stateDir}.`,
    );
  }
  return `kc=${stateDir}`;
}

export type OutageAction = 'stop' | 'start' | 'restart' | 'pause';

/** Upper bound for a pause: a frozen cache longer than this is a hung test. */
export const MAX_PAUSE_MS = 10 * 60_000;

// Stops the server and waits (bounded) until its process is gone; SIGCONT
// first so a paused server can act on SIGTERM, SIGKILL if it lingers.
const STOP = [
  `: > ${HOLD_FILE}`,
  `read p < ${PID_FILE}`,
  'kill -CONT "$p" 2>/dev/null; kill -TERM "$p" 2>/dev/null',
  'i=0',
  'while kill -0 "$p" 2>/dev/null; do',
  '  i=$((i+1))',
  '  if [ "$i" -gt 100 ]; then kill -KILL "$p" 2>/dev/null; fi',
  '  if [ "$i" -gt 200 ]; then echo "server $p did not exit" >&2; exit 1; fi',
  `  ${POLL}`,
  'done',
];

// Lets the supervisor start the server again and waits until it has.
const START = [
  `[ -e ${HOLD_FILE} ] || exit 0`,
  `read old < ${PID_FILE}`,
  `rm -f ${HOLD_FILE}`,
  'i=0',
  `while read p < ${PID_FILE} && [ "$p" = "$old" ]; do`,
  '  i=$((i+1))',
  '  if [ "$i" -gt 200 ]; then echo "the supervisor did not start the server" >&2; exit 1; fi',
  `  ${POLL}`,
  'done',
];

/**
 * The command the broker runs in the cache container (exec) for an outage.
 * pause freezes the server with SIGSTOP and leaves a timer in the container
 * that thaws it, so the pause ends on time even if this process goes away.
 */
export function outageCommand(action: OutageAction, pauseMs = 0, stateDir = STATE_DIR): string[] {
  let lines: string[];
  switch (action) {
    case 'stop':
      lines = STOP;
      break;
    case 'start':
      lines = START;
      break;
    case 'restart':
      lines = [...STOP, ...START];
      break;
    case 'pause': {
      if (!Number.isFinite(pauseMs) || pauseMs <= 0 || pauseMs > MAX_PAUSE_MS) {
        throw new KubecacheError(
          'BAD_OPTION',
          `pause(ms) needs a duration between 1 and ${MAX_PAUSE_MS} ms, got ${String(pauseMs)}.`,
          { field: 'pause', value: pauseMs },
        );
      }
      const seconds = (Math.ceil(pauseMs) / 1000).toFixed(3);
      const whole = Math.max(1, Math.ceil(pauseMs / 1000));
      lines = [
        `read p < ${PID_FILE}`,
        'kill -STOP "$p"',
        // Detached from the exec session: its streams must not keep it open.
        `( sleep ${seconds} 2>/dev/null || sleep ${whole}; kill -CONT "$p" ) </dev/null >/dev/null 2>&1 &`,
      ];
      break;
    }
  }
  return ['sh', '-c', ['set -u', stateLine(stateDir), ...lines].join('\n')];
}
