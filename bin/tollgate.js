#!/usr/bin/env node
// Entry point of the `tollgate` command: runs the compiled CLI (npm run build makes dist/).
import { setFlagsFromString } from 'node:v8';

// Before any of Tollgate's code runs: no allocation-site pretenuring. V8 otherwise starts allocating the
// objects of a site straight in the old generation once many of them survived a young collection — and
// per-call objects (usage events, node's request internals) then pile up there as garbage, about 1 MB/s
// at 3,000 calls/s, paid for with a major collection (a 4–7 ms pause) every few seconds.
// docs/benchmarks.md, "Where the tail comes from".
setFlagsFromString('--no-allocation-site-pretenuring');

const { main } = await import('../dist/cli/main.js');

main(process.argv.slice(2)).then(
  (code) => {
    if (typeof code === 'number') process.exitCode = code;
  },
  (err) => {
    process.stderr.write(`tollgate: ${err instanceof Error ? err.message : String(err)}\n`);
    process.exitCode = 1;
  },
);
