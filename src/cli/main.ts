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
