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
// exitCode rather than exit(): pending stdout writes to a pipe still flush.
process.exitCode = code;
// The command is done; a keep-alive socket or a watch still closing must not
// hold the process open. The timer is unref'd, so it only fires if
// something else keeps the process alive.
setTimeout(() => process.exit(code), 2000).unref();
