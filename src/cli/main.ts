#!/usr/bin/env node
// The `kubecache` command (package.json "bin").
import { runCli } from './program.js';

const code = await runCli(process.argv.slice(2), {
  out: (text) => process.stdout.write(`${text}\n`),
  err: (text) => process.stderr.write(`${text}\n`),
  stdin: process.stdin,
  promptOutput: process.stderr,
  env: process.env,
  cwd: process.cwd(),
  exitCode: 0,
});
// exitCode rather than exit(): pending stdout writes to a pipe still flush.
process.exitCode = code;
// The command is done; a keep-alive socket or a watch still closing must not
// hold the process open. The timer is unref'd, so it only fires if
// something else keeps the process alive.
setTimeout(() => process.exit(code), 2000).unref();
