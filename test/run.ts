/**
 * `npm test`: installs missing tools, starts one test world, runs every test file against it with
 * node's test runner, prints the components' logs if a test failed, and tears the world down.
 * Arguments are test files or globs (default: all of test/ but test/cluster/, whose suites start a
 * Temporal cluster of their own: `npm run test:cluster`). Set DC_WORLD_DIR to reuse a world
 * started with `npm run world:up` instead of starting one.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { existsSync, globSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { installMissingTools } from "../tools/catalog.ts";
import { isAlive, logTail, type Supervisor, startWatchdog } from "./harness/process.ts";
import { startWorld, type WorldInfo, worldEnvVars } from "./harness/world.ts";

const repo = join(dirname(fileURLToPath(import.meta.url)), "..");
const args = process.argv.slice(2);
// `--concurrency=1` for suites that each start a Temporal cluster of their own (test:cluster).
const concurrencyArg = args.find((a) => a.startsWith("--concurrency="));
const concurrency = concurrencyArg ? Number(concurrencyArg.split("=")[1]) : 3;
const files = args.filter((a) => a !== concurrencyArg);
const patterns =
  files.length > 0 ? files : globSync("test/**/*.test.ts", { cwd: repo, exclude: ["test/cluster/**"] });

function log(line: string): void {
  process.stderr.write(`[test] ${line}\n`);
}

function ensureTools(): void {
  const status = installMissingTools((names) =>
    log(`missing tools (${names.join(", ")}): running npm run tools`),
  );
  if (status !== 0) process.exit(status);
}

/** The test runner's process, so a signal to this runner stops the tests too, not only the world. */
let tests: ChildProcess | undefined;

/** Runs the tests; the failed ones, with their errors, are also written to `failuresFile`. */
function runTests(env: Record<string, string>, failuresFile: string): Promise<number> {
  const reporters = [
    "--test-reporter=spec",
    "--test-reporter-destination=stdout",
    `--test-reporter=${join(repo, "test/harness/failures-reporter.ts")}`,
    `--test-reporter-destination=${failuresFile}`,
  ];
  return new Promise((resolve) => {
    // Three files at a time, on two cores: most of a test's time is waiting on the world (timers,
    // rollouts), not computing. Measured: 1,351 tests in 530 s, against 693 s two at a time.
    tests = spawn(
      process.execPath,
      ["--test", `--test-concurrency=${concurrency}`, "--test-timeout=600000", ...reporters, ...patterns],
      { cwd: repo, env: { ...process.env, ...env }, stdio: "inherit" },
    );
    tests.on("close", (code, signal) => resolve(code ?? (signal ? 1 : 0)));
  });
}

/** Last, so the end of a failed run's output says what failed and why. */
function printFailures(file: string): void {
  const text = existsSync(file) ? readFileSync(file, "utf8").trim() : "";
  process.stderr.write(
    `\n----- failed tests -----\n${text || "(none reported: the test runner itself failed)"}\n`,
  );
}

async function main(): Promise<number> {
  const reuse = process.env.DC_WORLD_DIR && resolve(process.env.DC_WORLD_DIR);
  if (reuse && existsSync(join(reuse, "world.json"))) {
    const info = JSON.parse(readFileSync(join(reuse, "world.json"), "utf8")) as WorldInfo;
    log(`using the running test world in ${reuse}`);
    const failuresFile = join(reuse, "failures.txt");
    const code = await runTests(worldEnvVars(info), failuresFile);
    if (code !== 0) printFailures(failuresFile);
    return code;
  }

  ensureTools();
  const dir = mkdtempSync(join(tmpdir(), "durable-canary-world-"));
  const started = performance.now();
  log(`starting the test world in ${dir}`);
  let world: { info: WorldInfo; supervisor: Supervisor };
  try {
    world = await startWorld(dir);
  } catch (err) {
    log(`the test world did not start: ${err instanceof Error ? err.message : String(err)}`);
    log(`logs kept in ${dir}`);
    return 1;
  }
  const { info, supervisor } = world;
  log(`test world ready in ${((performance.now() - started) / 1000).toFixed(1)}s`);

  // If this runner is killed outright, the watchdog still stops the world.
  startWatchdog(supervisor.pidFile);
  let stopping: Promise<void> | undefined;
  const teardown = () => {
    stopping ??= supervisor.stopAll();
    return stopping;
  };
  for (const signal of ["SIGINT", "SIGTERM", "SIGHUP"] as const) {
    process.once(signal, () => {
      log(`${signal}: stopping the tests and the test world`);
      tests?.kill(signal);
      void teardown().then(() => process.exit(130));
    });
  }

  const failuresFile = join(dir, "failures.txt");
  const code = await runTests(worldEnvVars(info), failuresFile);
  if (code !== 0) {
    for (const p of supervisor.processes) {
      process.stderr.write(
        `\n----- last lines of ${p.name} (${p.logFile}) -----\n${logTail(p.logFile, 40)}\n`,
      );
    }
    printFailures(failuresFile);
  }
  await teardown();
  const survivors = supervisor.processes.filter((p) => isAlive(p.pid));
  if (survivors.length > 0) {
    log(`teardown left processes alive: ${survivors.map((p) => `${p.name} (${p.pid})`).join(", ")}`);
    return 1;
  }
  if (code === 0) rmSync(dir, { recursive: true, force: true });
  else log(`tests failed; the world's logs and data are kept in ${dir}`);
  return code;
}

process.exitCode = await main();
