#!/usr/bin/env node
// The `sterlet` command (Node 24 runs this TypeScript directly).
import { main } from './main.ts';

process.exitCode = await main(process.argv.slice(2));
