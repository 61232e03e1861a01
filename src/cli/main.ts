#!/usr/bin/env node
// The `kubecache` command (package.json "bin").
import { runCli } from './program.js';

// Some waits inside the library (API retry back-off) use unref'd timers so
// they never keep a test runner alive; here nothing else may be holding the
// event loop, and Node would end the process mid-command (exit 13).
const keepAlive = setInterval(() => {}, 1 << 30);
const code = await runCli(process.argv.slice(2), {
  out: (text) => process.stdout.write(`${text}\n`),
  err: (text) => process.stderr.write(`${text}\n`),
  stdin: process.stdin,
  promptOutput: process.stderr,
  env: process.env,
  cwd: process.cwd(),
  exitCode: 0,
});
clearInterval(keepAlive);
// The command is done: exit now, once what it printed has been handed to the
// OS, rather than when the event loop empties. A connection to an API server
// that stopped answering (aborted, but its socket not yet closed) or a
// keep-alive socket would otherwise hold the process open after the answer.
// A reader that never drains a full pipe cannot hold it for more than 2 s.
setTimeout(() => process.exit(code), 2000).unref();
await Promise.all([flushed(process.stdout), flushed(process.stderr)]);
process.exit(code);

/** Resolves once everything written to the stream so far has been handed to the OS. */
function flushed(stream: NodeJS.WriteStream): Promise<void> {
  return new Promise((resolve) => {
    if (stream.destroyed || !stream.writable) resolve();
    else stream.write('', () => resolve());
  });
}
