#!/usr/bin/env node
// The `sterlet` command (Node 24 runs this TypeScript directly).
// Node's compile cache goes on before the CLI's modules load (hence the dynamic
// import): a warm cache skips stripping and compiling them again on every start,
// which is a large part of the agent's cold start. The worker threads inherit
// it through NODE_COMPILE_CACHE. The directory is the invoking user's (root's
// for the agent), never a shared one such as /tmp: it holds code that runs.
import { homedir } from 'node:os';
import { enableCompileCache } from 'node:module';
import { join } from 'node:path';

process.env['NODE_COMPILE_CACHE'] ??= join(process.env['XDG_CACHE_HOME'] ?? join(homedir(), '.cache'), 'sterlet', 'node-compile-cache');
enableCompileCache(process.env['NODE_COMPILE_CACHE']);
const { main } = await import('./main.ts');
process.exitCode = await main(process.argv.slice(2));
