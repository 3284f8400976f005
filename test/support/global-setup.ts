// Builds dist/ before the suites: integration tests run the real `tollgate` binary in child processes.
// `npm test` has just built it; a direct `vitest run` rebuilds here. A failing build is reported but does
// not stop suites that do not need dist/ (the integration suites then fail on their own).
import { execFileSync } from 'node:child_process';

export default function setup(): void {
  try {
    execFileSync(process.execPath, ['node_modules/typescript/bin/tsc', '-p', 'tsconfig.build.json'], {
      stdio: 'pipe',
    });
  } catch (err) {
    const out = (err as { stdout?: Buffer }).stdout?.toString() ?? String(err);
    console.warn(`build failed; integration suites will use an old dist/:\n${out.slice(0, 2000)}`);
  }
}
