/**
 * The prebuilt workflow bundle, on a small project of its own bundled by the real bundler: used
 * while its files are unchanged, built again when one changes, kept in memory where it cannot be
 * saved, and shared by the compiled code once a build recorded that it matches.
 */
import assert from "node:assert/strict";
import { mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { after, describe, it } from "node:test";
import { fileURLToPath } from "node:url";
import { pino } from "pino";
import {
  type BundleLayout,
  bundlePaths,
  loadWorkflowBundle,
  writeWorkflowBundle,
} from "../../src/temporal/workflow-bundle.ts";

const repo = fileURLToPath(new URL("../..", import.meta.url));
const folders: string[] = [];
after(() => {
  for (const dir of folders) rmSync(dir, { recursive: true, force: true });
});

function write(root: string, path: string, content: string): void {
  mkdirSync(dirname(join(root, path)), { recursive: true });
  writeFileSync(join(root, path), content);
}

/** workflows/ importing a helper from src/, and a file imported for its types only. */
function project(): string {
  const root = mkdtempSync(join(tmpdir(), "workflow-bundle-"));
  folders.push(root);
  symlinkSync(join(repo, "node_modules"), join(root, "node_modules"));
  write(root, "workflows/index.ts", 'export { greet } from "./greet.ts";\n');
  write(
    root,
    "workflows/greet.ts",
    'import { shout } from "../src/words.ts";\nimport type { Name } from "../src/names.ts";\n' +
      "export async function greet(name: Name): Promise<string> {\n  return shout(name);\n}\n",
  );
  write(root, "src/words.ts", 'export const shout = (s: string): string => s.toUpperCase() + ", hello";\n');
  write(root, "src/names.ts", "export type Name = string;\n");
  return root;
}

/** What the compiler would write to dist/ for the project above. */
function compile(root: string, hello = "hello"): void {
  write(root, "dist/workflows/index.js", 'export { greet } from "./greet.js";\n');
  write(
    root,
    "dist/workflows/greet.js",
    'import { shout } from "../src/words.js";\nexport async function greet(name) {\n  return shout(name);\n}\n',
  );
  write(root, "dist/src/words.js", `export const shout = (s) => s.toUpperCase() + ", ${hello}";\n`);
}

function logger(level = "info") {
  const lines: { level: number; msg: string }[] = [];
  const log = pino({ level }, { write: (line: string) => lines.push(JSON.parse(line)) });
  const last = () => lines.at(-1)?.msg ?? "";
  return { log, lines, last };
}

const ts = (root: string): BundleLayout => ({ root, kind: "ts" });
const js = (root: string): BundleLayout => ({ root, kind: "js" });

describe("prebuilt workflow bundle", () => {
  it("is built and saved when missing, then used while the workflow code is unchanged", async () => {
    const root = project();
    const { log, last } = logger();
    const built = await loadWorkflowBundle(log, ts(root));
    assert.match(last(), /no prebuilt bundle; built and saved/);
    assert.match(built.code, /toUpperCase\(\) \+ ", hello"/);
    assert.equal(readFileSync(bundlePaths(ts(root)).bundle, "utf8"), built.code);
    const manifest = JSON.parse(readFileSync(bundlePaths(ts(root)).manifest, "utf8"));
    assert.ok(manifest.files.includes("workflows/greet.ts"));
    assert.ok(manifest.files.includes("src/words.ts"), "a src/ file the workflows import");
    assert.ok(!manifest.files.includes("src/names.ts"), "a type-only import is not in the bundle");
    assert.ok(manifest.files.some((file: string) => file.includes("node_modules/@temporalio/workflow/")));

    const again = await loadWorkflowBundle(log, ts(root));
    assert.match(last(), /prebuilt, workflow code unchanged/);
    assert.equal(again.code, built.code);

    write(root, "src/names.ts", "export type Name = string | number;\n");
    await loadWorkflowBundle(log, ts(root));
    assert.match(last(), /prebuilt, workflow code unchanged/, "a file outside the bundle does not count");
  });

  it("is built again when a file the workflows import changes", async () => {
    const root = project();
    const { log, last } = logger();
    await loadWorkflowBundle(log, ts(root));
    write(root, "src/words.ts", 'export const shout = (s: string): string => s.toUpperCase() + ", hi";\n');
    const rebuilt = await loadWorkflowBundle(log, ts(root));
    assert.match(last(), /stale: the workflow code changed; built and saved/);
    assert.match(rebuilt.code, /toUpperCase\(\) \+ ", hi"/);
    await loadWorkflowBundle(log, ts(root));
    assert.match(last(), /prebuilt, workflow code unchanged/);
  });

  it("is built again when the bundle file is not the one its manifest describes", async () => {
    const root = project();
    const { log, last } = logger();
    const built = await loadWorkflowBundle(log, ts(root));
    writeFileSync(bundlePaths(ts(root)).bundle, "globalThis.broken = true;");
    const rebuilt = await loadWorkflowBundle(log, ts(root));
    assert.match(last(), /not the one its manifest describes; built and saved/);
    assert.equal(rebuilt.code, built.code);
  });

  it("is built in memory when it cannot be saved", async () => {
    const root = project();
    // A file where the folder should be: not writable, even for root.
    writeFileSync(join(root, "dist"), "");
    const { log, lines, last } = logger();
    const built = await loadWorkflowBundle(log, ts(root));
    assert.match(last(), /no prebuilt bundle; built in memory \(cannot save it\)/);
    assert.equal(lines.at(-1)?.level, 40, "a warning");
    assert.match(built.code, /toUpperCase\(\) \+ ", hello"/);
  });

  it("serves the compiled code once the build recorded that dist/ matches it", async () => {
    const root = project();
    const { log, last } = logger();
    compile(root);
    await writeWorkflowBundle(log, { root, compiled: true });
    assert.match(last(), /no prebuilt bundle; built and saved/);
    const manifest = JSON.parse(readFileSync(bundlePaths(ts(root)).manifest, "utf8"));
    assert.deepEqual(Object.keys(manifest.sources).sort(), ["js", "ts"]);
    const prebuilt = readFileSync(bundlePaths(ts(root)).bundle, "utf8");

    assert.equal((await loadWorkflowBundle(log, js(root))).code, prebuilt);
    assert.match(last(), /prebuilt, workflow code unchanged/);
    await writeWorkflowBundle(log, { root });
    assert.match(last(), /up to date/);

    // dist/ recompiled from other sources: the compiled worker bundles its own code.
    compile(root, "howdy");
    const own = await loadWorkflowBundle(log, js(root));
    assert.match(last(), /stale: the workflow code changed; built and saved/);
    assert.match(own.code, /toUpperCase\(\) \+ ", howdy"/);
    // That bundle says nothing about the TypeScript sources, so their worker does not take it.
    await loadWorkflowBundle(log, ts(root));
    assert.match(last(), /stale: built from other code than .*index\.ts; built and saved/);
  });

  it("logs the bundler's own report at debug only, and only its own summary above", async () => {
    const root = project();
    const { log, lines } = logger("debug");
    await loadWorkflowBundle(log, ts(root));
    const debug = lines.filter((line) => line.level === 20).map((line) => line.msg);
    assert.ok(
      debug.some((msg) => /compiled successfully/.test(msg)),
      `webpack's report at debug: ${JSON.stringify(debug)}`,
    );
    assert.deepEqual(
      lines.filter((line) => line.level > 20).map((line) => line.msg),
      ["workflow bundle: no prebuilt bundle; built and saved"],
    );
  });

  it("fails with webpack's errors, not its report, when the workflow code does not build", async () => {
    const root = project();
    write(root, "workflows/greet.ts", 'export { shout as greet } from "../src/missing.ts";\n');
    const { log, lines } = logger("info");
    await assert.rejects(
      loadWorkflowBundle(log, ts(root)),
      /^Error: workflow bundle: webpack failed: .*Can't resolve '\.\.\/src\/missing\.ts'/,
    );
    assert.deepEqual(lines, [], "nothing logged above debug");
  });

  it("leaves the schema library out of the canary workflow's bundle: every cached workflow evaluates the whole bundle", async () => {
    const { bundleWorkflowCode } = await import("@temporalio/worker");
    const { code } = await bundleWorkflowCode({
      workflowsPath: join(repo, "workflows/index.ts"),
      logger: { log() {}, trace() {}, debug() {}, info() {}, warn() {}, error() {} },
    });
    assert.match(code, /canaryWorkflow/);
    assert.doesNotMatch(code, /node_modules\/zod\//);
  });
});
