/**
 * The workflow code bundle, built ahead of time: bundling with webpack takes seconds at every
 * worker start, so `npm run build` (and `npm run bundle`) write `dist/workflow-bundle.js` with a
 * manifest of the files it was built from, and a worker uses it while those files are unchanged.
 * A stale or missing bundle is built again, and saved where the folder is writable (a container's
 * read-only root filesystem is not).
 */
import { createHash } from "node:crypto";
import { existsSync, mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join, relative, sep } from "node:path";
import { fileURLToPath } from "node:url";
import type { LogMetadata, Logger as TemporalLogger } from "@temporalio/common";
import { errorMessage, type Logger } from "../log.ts";

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

const pluginName = "durable-canary-bundle-files";

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

function fileDigest(path: string): string | undefined {
  try {
    return sha256(readFileSync(path));
  } catch {
    return undefined;
  }
}

/** One hash of every file's digest, by name. */
function sourcesHash(digests: Map<string, string>): string {
  const hash = createHash("sha256").update(`@temporalio/worker ${bundlerVersion}\n`);
  for (const name of [...digests.keys()].sort()) hash.update(`${name}\n${digests.get(name)}\n`);
  return hash.digest("hex");
}

/** The hash of the files as this kind of code has them now; undefined when one is missing. */
function currentSourcesHash(layout: BundleLayout, files: string[]): string | undefined {
  const digests = new Map<string, string>();
  for (const name of files) {
    const digest = fileDigest(fileOf(layout, name));
    if (digest === undefined) return undefined;
    digests.set(name, digest);
  }
  return sourcesHash(digests);
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
  if (currentSourcesHash(layout, manifest.files) !== expected)
    return { ok: false, why: "the prebuilt bundle is stale: the workflow code changed" };
  return { ok: true, code, manifest };
}

/**
 * The bundler's own messages (webpack's report, even of a failed build) at debug only: they are
 * noise to an operator, and a failed build's errors reach the log through the error it throws.
 */
function bundlerLogger(log: Logger): TemporalLogger {
  const debug = (message: string, meta?: LogMetadata) => log.debug(meta ?? {}, message);
  return {
    log: (_level, message, meta) => debug(message, meta),
    trace: debug,
    debug,
    info: debug,
    warn: debug,
    error: debug,
  };
}

interface Built {
  code: string;
  files: string[];
  /** The hash of the files as the bundler read them, so an edit during the build makes the bundle stale. */
  hash: string;
}

/** Bundles the workflow code of this kind, noting which files went into the bundle. */
async function build(layout: BundleLayout, log: Logger): Promise<Built> {
  // Loaded on demand: webpack is heavy, and a worker with a current prebuilt bundle never needs it.
  const { bundleWorkflowCode } = await import("@temporalio/worker");
  const read = new Map<string, string>();
  const resources = new Set<string>();
  const errors: string[] = [];
  const bundling = bundleWorkflowCode({
    workflowsPath: bundlePaths(layout).entry,
    logger: bundlerLogger(log),
    webpackConfigHook: (config) => ({
      ...config,
      plugins: [
        ...(config.plugins ?? []),
        {
          apply(compiler) {
            // The bundler installs its file system after the plugins are applied, before it runs.
            compiler.hooks.beforeRun.tap(pluginName, () => {
              const fs = compiler.inputFileSystem as unknown as { readFile: (...args: unknown[]) => void };
              const readFile = fs.readFile.bind(fs);
              fs.readFile = (path: unknown, ...rest: unknown[]) => {
                const callback = rest.pop() as (err: unknown, data?: Buffer | string) => void;
                readFile(path, ...rest, (err: unknown, data?: Buffer | string) => {
                  if (!err && data !== undefined) read.set(String(path), sha256(data));
                  callback(err, data);
                });
              };
            });
            compiler.hooks.done.tap(pluginName, (stats) => {
              for (const error of stats.compilation.errors) errors.push(error.message);
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
  // The bundler's own error only points to a troubleshooting page; webpack's errors say what is wrong.
  const { code } = await bundling.catch((err: unknown) => {
    if (errors.length === 0) throw err;
    throw new Error(`workflow bundle: webpack failed: ${errors.slice(0, 5).join("; ")}`, { cause: err });
  });
  const digests = new Map<string, string>();
  for (const resource of resources) {
    // The bundler's generated entry point exists only in its in-memory file system.
    if (!existsSync(resource)) continue;
    const digest = read.get(resource) ?? fileDigest(resource);
    if (digest !== undefined) digests.set(manifestName(layout, resource), digest);
  }
  return { code, files: [...digests.keys()].sort(), hash: sourcesHash(digests) };
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
  const { code, files, hash } = await build(layout, log);
  try {
    save(layout, code, { bundle: sha256(code), files, sources: { [layout.kind]: hash } });
    log.info(
      { bundle: paths.bundle, ms: elapsed(started) },
      `workflow bundle: ${prebuilt.why}; built and saved`,
    );
  } catch (err) {
    log.warn(
      { bundle: paths.bundle, ms: elapsed(started), error: errorMessage(err) },
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
    code = built.code;
    manifest = { bundle: sha256(code), files: built.files, sources: { ts: built.hash } };
  }
  if (options.compiled) {
    const compiled = currentSourcesHash({ root: source.root, kind: "js" }, manifest.files);
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
