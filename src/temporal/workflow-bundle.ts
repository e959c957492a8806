/**
 * The workflow code bundle, built ahead of time: bundling with webpack takes seconds at every
 * worker start, so `npm run build` (and `npm run bundle`) write `dist/workflow-bundle.js` with a
 * manifest of the files it was built from, and a worker uses it while those files are unchanged.
 * A stale or missing bundle is built again, and saved where the folder is writable (a container's
 * read-only root filesystem is not).
 */
import { createHash } from "node:crypto";
import { mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join, relative, sep } from "node:path";
import { fileURLToPath } from "node:url";
import type { LogMetadata, Logger as TemporalLogger } from "@temporalio/common";
import type { Logger } from "../log.ts";

/** Which code a process runs: the TypeScript sources, or their compiled copy under dist/. */
export type SourceKind = "ts" | "js";

export interface BundleLayout {
  /** The project folder: workflows/, src/, dist/ and node_modules/ are in it. */
  root: string;
  kind: SourceKind;
}

export interface WorkflowBundle {
  code: string;
}

interface Manifest {
  /** sha256 of the bundle file, so a bundle and a manifest from different builds never pass. */
  bundle: string;
  /**
   * Every file in the bundle, named as in the sources (workflows/canary.ts); packages by their
   * path under node_modules, the same for both kinds.
   */
  files: string[];
  /** Hash of the files' contents, per kind of code known to match the bundle. */
  sources: Partial<Record<SourceKind, string>>;
}

/** This module's own project: src/temporal/ in the sources, dist/src/temporal/ compiled. */
export function ownLayout(): BundleLayout {
  const kind: SourceKind = import.meta.url.endsWith(".ts") ? "ts" : "js";
  return { root: fileURLToPath(new URL(kind === "ts" ? "../.." : "../../..", import.meta.url)), kind };
}

export function bundlePaths(layout: BundleLayout) {
  const dist = join(layout.root, "dist");
  return {
    entry:
      layout.kind === "ts" ? join(layout.root, "workflows", "index.ts") : join(dist, "workflows", "index.js"),
    bundle: join(dist, "workflow-bundle.js"),
    manifest: join(dist, "workflow-bundle.manifest.json"),
  };
}

function sha256(data: string | Buffer): string {
  return createHash("sha256").update(data).digest("hex");
}

const isPackageFile = (path: string) => path.split(/[\\/]/).includes("node_modules");

/** A bundled file's name in the manifest, whichever kind of code it was bundled from. */
function manifestName(layout: BundleLayout, file: string): string {
  if (isPackageFile(file) || layout.kind === "ts") return relative(layout.root, file).split(sep).join("/");
  return relative(join(layout.root, "dist"), file).split(sep).join("/").replace(/\.js$/, ".ts");
}

function fileOf(layout: BundleLayout, name: string): string {
  if (isPackageFile(name) || layout.kind === "ts") return join(layout.root, name);
  return join(layout.root, "dist", name.replace(/\.ts$/, ".js"));
}

/** The bundler decides what the bundle looks like beyond the files, so its version counts too. */
const bundlerVersion: string = JSON.parse(
  readFileSync(createRequire(import.meta.url).resolve("@temporalio/worker/package.json"), "utf8"),
).version;

/** The hash of the files as this kind of code has them; undefined when one of them is missing. */
function sourcesHash(layout: BundleLayout, files: string[]): string | undefined {
  const hash = createHash("sha256").update(`@temporalio/worker ${bundlerVersion}\n`);
  for (const name of [...files].sort()) {
    let content: Buffer;
    try {
      content = readFileSync(fileOf(layout, name));
    } catch {
      return undefined;
    }
    hash.update(`${name}\n${sha256(content)}\n`);
  }
  return hash.digest("hex");
}

function readManifest(path: string): Manifest | undefined {
  try {
    const manifest = JSON.parse(readFileSync(path, "utf8")) as Manifest;
    return Array.isArray(manifest.files) && typeof manifest.sources === "object" ? manifest : undefined;
  } catch {
    return undefined;
  }
}

type Check = { ok: true; code: string; manifest: Manifest } | { ok: false; why: string };

/** The prebuilt bundle, if it was built from exactly the files this kind of code has now. */
function checkPrebuilt(layout: BundleLayout): Check {
  const paths = bundlePaths(layout);
  const manifest = readManifest(paths.manifest);
  if (!manifest) return { ok: false, why: "no prebuilt bundle" };
  let code: string;
  try {
    code = readFileSync(paths.bundle, "utf8");
  } catch {
    return { ok: false, why: "no prebuilt bundle" };
  }
  if (sha256(code) !== manifest.bundle)
    return { ok: false, why: "the prebuilt bundle is not the one its manifest describes" };
  const expected = manifest.sources[layout.kind];
  if (expected === undefined)
    return { ok: false, why: `the prebuilt bundle is stale: built from other code than ${paths.entry}` };
  if (sourcesHash(layout, manifest.files) !== expected)
    return { ok: false, why: "the prebuilt bundle is stale: the workflow code changed" };
  return { ok: true, code, manifest };
}

/** The bundler's own output (webpack statistics) is noise at info; its warnings and errors are not. */
function bundlerLogger(log: Logger): TemporalLogger {
  const quiet = () => {};
  const at = (level: "warn" | "error") => (message: string, meta?: LogMetadata) =>
    log[level](meta ?? {}, message);
  return { log: quiet, trace: quiet, debug: quiet, info: quiet, warn: at("warn"), error: at("error") };
}

/** Bundles the workflow code of this kind, noting which files went into the bundle. */
async function build(layout: BundleLayout, log: Logger): Promise<{ code: string; files: string[] }> {
  // Loaded on demand: webpack is heavy, and a worker with a current prebuilt bundle never needs it.
  const { bundleWorkflowCode } = await import("@temporalio/worker");
  const resources = new Set<string>();
  const { code } = await bundleWorkflowCode({
    workflowsPath: bundlePaths(layout).entry,
    logger: bundlerLogger(log),
    webpackConfigHook: (config) => ({
      ...config,
      plugins: [
        ...(config.plugins ?? []),
        {
          apply(compiler) {
            compiler.hooks.done.tap("durable-canary-bundle-files", (stats) => {
              for (const module of stats.compilation.modules) {
                const resource = (module as { resource?: string }).resource;
                if (resource) resources.add(resource.split("?")[0] ?? resource);
              }
            });
          },
        },
      ],
    }),
  });
  const files: string[] = [];
  for (const resource of resources) {
    // The bundler's generated entry point exists only in its in-memory file system.
    try {
      readFileSync(resource);
    } catch {
      continue;
    }
    files.push(manifestName(layout, resource));
  }
  return { code, files: files.sort() };
}

/** Writes next to the target and renames, so a reader never sees half a file. */
function writeAtomically(path: string, data: string): void {
  const temporary = `${path}.${process.pid}.tmp`;
  try {
    writeFileSync(temporary, data);
    renameSync(temporary, path);
  } finally {
    rmSync(temporary, { force: true });
  }
}

function save(layout: BundleLayout, code: string, manifest: Manifest): void {
  const paths = bundlePaths(layout);
  mkdirSync(dirname(paths.bundle), { recursive: true });
  writeAtomically(paths.bundle, code);
  writeAtomically(paths.manifest, `${JSON.stringify(manifest, null, 2)}\n`);
}

function elapsed(since: number): number {
  return Math.round(performance.now() - since);
}

/**
 * The workflow bundle for a worker: the prebuilt one when it matches the workflow code, else a
 * new one, saved for the next start when the folder is writable and kept in memory when not.
 */
export async function loadWorkflowBundle(
  log: Logger,
  layout: BundleLayout = ownLayout(),
): Promise<WorkflowBundle> {
  const started = performance.now();
  const paths = bundlePaths(layout);
  const prebuilt = checkPrebuilt(layout);
  if (prebuilt.ok) {
    log.info(
      { bundle: paths.bundle, ms: elapsed(started) },
      "workflow bundle: prebuilt, workflow code unchanged",
    );
    return { code: prebuilt.code };
  }
  const { code, files } = await build(layout, log);
  const hash = sourcesHash(layout, files);
  try {
    if (hash === undefined) throw new Error("a bundled file vanished while bundling");
    save(layout, code, { bundle: sha256(code), files, sources: { [layout.kind]: hash } });
    log.info(
      { bundle: paths.bundle, ms: elapsed(started) },
      `workflow bundle: ${prebuilt.why}; built and saved`,
    );
  } catch (err) {
    log.warn(
      { bundle: paths.bundle, ms: elapsed(started), error: err instanceof Error ? err.message : String(err) },
      `workflow bundle: ${prebuilt.why}; built in memory (cannot save it)`,
    );
  }
  return { code };
}

/**
 * Brings the prebuilt bundle up to date with the TypeScript sources. With `compiled` (right after
 * the compiler wrote dist/ from those sources) it also records that the compiled code matches it,
 * so the compiled worker uses the same bundle.
 */
export async function writeWorkflowBundle(
  log: Logger,
  options: { compiled?: boolean; root?: string } = {},
): Promise<void> {
  const started = performance.now();
  const source: BundleLayout = { root: options.root ?? ownLayout().root, kind: "ts" };
  const paths = bundlePaths(source);
  const prebuilt = checkPrebuilt(source);
  let code: string;
  let manifest: Manifest;
  if (prebuilt.ok && !options.compiled) {
    log.info({ bundle: paths.bundle }, "workflow bundle: up to date");
    return;
  }
  if (prebuilt.ok) {
    ({ code, manifest } = prebuilt);
  } else {
    const built = await build(source, log);
    const hash = sourcesHash(source, built.files);
    if (hash === undefined) throw new Error("a bundled file vanished while bundling");
    code = built.code;
    manifest = { bundle: sha256(code), files: built.files, sources: { ts: hash } };
  }
  if (options.compiled) {
    const compiled = sourcesHash({ root: source.root, kind: "js" }, manifest.files);
    if (compiled === undefined) throw new Error(`dist/ lacks compiled workflow code (see ${paths.manifest})`);
    manifest = { ...manifest, sources: { ...manifest.sources, js: compiled } };
  }
  save(source, code, manifest);
  log.info(
    { bundle: paths.bundle, ms: elapsed(started), for: Object.keys(manifest.sources).join(", ") },
    prebuilt.ok
      ? "workflow bundle: up to date; recorded that the compiled code matches it"
      : `workflow bundle: ${prebuilt.why}; built and saved`,
  );
}
