/**
 * The image's layout without a container engine: the build context the .dockerignore leaves, built
 * as the Dockerfile builds it (npm run build, then the workflow bundle), then
 * `node dist/src/main.js run` started from the folder holding package.json, node_modules and dist/,
 * as the image's ENTRYPOINT does. It must serve /readyz from the prebuilt bundle.
 */
import assert from "node:assert/strict";
import { type ChildProcess, spawn } from "node:child_process";
import { cpSync, mkdirSync, readdirSync, readFileSync, symlinkSync } from "node:fs";
import { join } from "node:path";
import { after, describe, it } from "node:test";
import { operatorNamespace } from "../harness/cluster.ts";
import { waitFor } from "../harness/process.ts";
import { worldEnv } from "../harness/world-env.ts";
import { repo, scratchDir } from "./support.ts";

const world = worldEnv();
const app = join(scratchDir("durable-canary-image"), "app");

/** The top-level names .dockerignore leaves out (it lists plain names and *.log). */
function ignored(name: string): boolean {
  const patterns = readFileSync(join(repo, ".dockerignore"), "utf8")
    .split("\n")
    .map((line) => line.trim())
    .filter((line) => line !== "" && !line.startsWith("#"));
  return patterns.some((p) => p === name || (p.startsWith("*") && name.endsWith(p.slice(1))));
}

function run(command: string, args: string[], cwd: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { cwd, stdio: "pipe" });
    let output = "";
    child.stdout.on("data", (chunk: Buffer) => {
      output += chunk.toString();
    });
    child.stderr.on("data", (chunk: Buffer) => {
      output += chunk.toString();
    });
    child.on("error", reject);
    child.on("close", (code) =>
      code === 0
        ? resolve(output)
        : reject(new Error(`${command} ${args.join(" ")} exited ${code}:\n${output}`)),
    );
  });
}

let operator: ChildProcess | undefined;
after(() => {
  operator?.kill("SIGKILL");
});

describe("the image's layout (Dockerfile)", () => {
  it("builds from the build context with the workflow bundle", async () => {
    mkdirSync(app);
    for (const name of readdirSync(repo)) {
      if (ignored(name) || name === ".git") continue;
      cpSync(join(repo, name), join(app, name), { recursive: true });
    }
    // npm ci, without the download: the checkout's installed packages.
    symlinkSync(join(repo, "node_modules"), join(app, "node_modules"));
    await run("npm", ["run", "build"], app);
    await run("npm", ["run", "--if-present", "bundle"], app);
    assert.ok(readdirSync(join(app, "dist")).includes("workflow-bundle.js"), "dist/ has the workflow bundle");
  });

  it("runs node dist/src/main.js run from the image's working directory and becomes ready", async () => {
    let output = "";
    operator = spawn(
      process.execPath,
      [
        "dist/src/main.js",
        "run",
        "--role=worker",
        `--kubeconfig=${world.operatorKubeconfig}`,
        "--listen=127.0.0.1:0",
        `--task-queue=image-test-${process.pid}`,
      ],
      {
        cwd: app,
        env: {
          PATH: process.env.PATH,
          HOME: app,
          NODE_ENV: "production",
          TEMPORAL_ADDRESS: world.temporalAddress,
          TEMPORAL_NAMESPACE: world.temporalNamespace,
          POD_NAME: "image-test",
          POD_NAMESPACE: operatorNamespace,
        },
        stdio: ["ignore", "pipe", "pipe"],
      },
    );
    const exited = new Promise<number | null>((resolve) => operator?.on("exit", (code) => resolve(code)));
    const take = (chunk: Buffer) => {
      output += chunk.toString();
    };
    operator.stdout?.on("data", take);
    operator.stderr?.on("data", take);

    // A process that dies ends the wait at once, with its output.
    let stopped = false;
    const died = exited.then((code) => {
      stopped = true;
      assert.fail(`the operator exited ${code}:\n${output.slice(-3000)}`);
    });
    const ready = (async () => {
      const url = await waitFor(
        "the operator serves /readyz",
        async () => (stopped ? "" : /"url":"(http:\/\/[^"]+)"[^\n]*serving/.exec(output)?.[1]),
        { timeoutMs: 60_000 },
      );
      const isReady = async () => stopped || (await fetch(`${url}/readyz`)).status === 200 || undefined;
      await waitFor("/readyz 200", isReady, { timeoutMs: 60_000 });
    })();
    await Promise.race([ready, died]).catch((err: Error) =>
      assert.fail(`${err.message}\n${output.slice(-3000)}`),
    );
    assert.match(output, /workflow bundle: prebuilt/, "the worker used the image's prebuilt bundle");

    operator.kill("SIGTERM");
    assert.equal(await exited, 0, `the operator did not stop cleanly on SIGTERM:\n${output.slice(-3000)}`);
    operator = undefined;
  });
});
