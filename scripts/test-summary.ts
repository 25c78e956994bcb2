// Prints the one closing line CI reads ("N passed, N failed, N skipped") from
// vitest's JSON report, so a run that executed no test cannot pass unnoticed.
import { readFileSync } from 'node:fs';

interface VitestJson {
  numPassedTests: number;
  numFailedTests: number;
  numPendingTests: number;
  numTodoTests: number;
}

const file = process.argv[2] ?? 'build/test-results.json';
const r = JSON.parse(readFileSync(file, 'utf8')) as VitestJson;
console.log(`${String(r.numPassedTests)} passed, ${String(r.numFailedTests)} failed, ${String(r.numPendingTests + r.numTodoTests)} skipped`);
if (r.numPassedTests === 0) process.exitCode = 1;
