#!/usr/bin/env node
/**
 * The `sluice` executable. Everything is in `runCli`, which tests call in-process; this file only binds
 * it to the process: arguments, streams, Ctrl-C (the first one stops the run in progress, a second one
 * kills the process), and the exit status.
 */
import { runCli } from './cli.ts';
import { processIo } from './io.ts';

const controller = new AbortController();
process.once('SIGINT', () => controller.abort(new Error('interrupted')));
process.exitCode = await runCli(process.argv.slice(2), processIo(controller.signal));
