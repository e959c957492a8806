/**
 * The operator against Temporal clusters that check who calls them, as Temporal Cloud does: one
 * with mTLS (client certificates from the cluster's CA), one with API keys (TLS, and bearer
 * tokens the server's JWT authorization checks). The operator runs as its own process given only
 * the Temporal CLI's environment variables and rolls a Canary out through the Kubernetes API;
 * `kubectl canary` lists it with the same variables. Without a client certificate, with another
 * CA's, or with a token for another namespace, each refuses and says why. One cluster at a time.
 */
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { mkdirSync, rmSync } from "node:fs";
import { join } from "node:path";
import { after, afterEach, before, describe, it, type TestContext } from "node:test";
import { promisify } from "node:util";
import { Connection } from "@temporalio/client";
import proto from "@temporalio/proto";
import { RESOURCES } from "../../src/kube/resources.ts";
import { requireBinary } from "../../tools/catalog.ts";
import { admin, canarySpec, createAvailable, deployment, testNamespace } from "../activities/kube-support.ts";
import { recordCanaryWeights, setImage } from "../activities/rollout-support.ts";
import { pluginPath, runCli } from "../cli/support.ts";
import { OperatorProcess, operatorGroup, startOperator } from "../e2e/operator.ts";
import { statusWhere } from "../e2e/support.ts";
import { Supervisor, startWatchdog, waitFor } from "../harness/process.ts";
import { startTemporalCluster, type TemporalCluster } from "../harness/temporal-cluster.ts";
import { adminAccess, type ClusterCredentials, type ClusterSecurity } from "../harness/temporal-tls.ts";
import { worldEnv } from "../harness/world-env.ts";
import { removeCanaries } from "./support.ts";

const { TaskQueueType } = proto.temporal.api.enums.v1;
const execFileAsync = promisify(execFile);

const dir = join(worldEnv().dir, `temporal-security-${process.pid}`);
mkdirSync(dir, { recursive: true });
const supervisor = new Supervisor(dir);
startWatchdog(supervisor.pidFile);
let failed = false;

afterEach((t) => {
  if ("passed" in t) failed ||= !t.passed;
});

after(async () => {
  await supervisor.stopAll();
  // The clusters' logs stay for a look when a test failed.
  if (!failed) rmSync(dir, { recursive: true, force: true });
});

const seconds = (ms: number) => `${(ms / 1000).toFixed(1)}s`;

/** How a client of the cluster proves itself: nothing, a certificate, a token. */
interface Credential {
  certificate?: "client" | "stranger";
  token?: string;
}

function credentialsOf(cluster: TemporalCluster): ClusterCredentials {
  assert.ok(cluster.credentials, "the cluster was started with security");
  return cluster.credentials;
}

/** The Temporal CLI's variables for the cluster: TLS with its CA and server name, and `credential`. */
function temporalEnv(cluster: TemporalCluster, credential: Credential): Record<string, string> {
  const c = credentialsOf(cluster);
  const certificate =
    credential.certificate === "client"
      ? { cert: c.clientCertFile, key: c.clientKeyFile }
      : credential.certificate === "stranger"
        ? { cert: c.strangerCertFile, key: c.strangerKeyFile }
        : undefined;
  return {
    TEMPORAL_ADDRESS: cluster.address,
    TEMPORAL_NAMESPACE: cluster.namespace,
    TEMPORAL_TLS_SERVER_CA_CERT_PATH: c.caFile,
    TEMPORAL_TLS_SERVER_NAME: c.serverName,
    ...(certificate
      ? { TEMPORAL_TLS_CLIENT_CERT_PATH: certificate.cert, TEMPORAL_TLS_CLIENT_KEY_PATH: certificate.key }
      : {}),
    ...(credential.token ? { TEMPORAL_API_KEY: credential.token } : {}),
  };
}

function token(cluster: TemporalCluster, which: "namespace" | "otherNamespace"): string {
  const tokens = credentialsOf(cluster).tokens;
  assert.ok(tokens, "an api-key cluster has tokens");
  return tokens[which];
}

/** `kubectl canary list` for `namespace` with the cluster's variables, as JSON. */
function listCanaries(cluster: TemporalCluster, namespace: string, credential: Credential) {
  return runCli(
    ["list", "-n", namespace, "-o", "json"],
    { ...process.env, ...temporalEnv(cluster, credential) },
    pluginPath,
  );
}

async function readyz(operator: OperatorProcess): Promise<{ status: number; body: string }> {
  return operator.get("/readyz");
}

/**
 * The cluster's worker service polls its per-namespace task queue: its calls reach the frontend
 * through the security (mtls: its own certificate; api-key: the internal frontend).
 */
async function systemWorkerPolls(cluster: TemporalCluster): Promise<void> {
  const connection = await Connection.connect({
    address: cluster.address,
    ...adminAccess(credentialsOf(cluster)),
  });
  try {
    await waitFor(
      "the worker service's poller on temporal-sys-per-ns-tq",
      async () => {
        const { pollers } = await connection.workflowService.describeTaskQueue({
          namespace: cluster.namespace,
          taskQueue: { name: "temporal-sys-per-ns-tq" },
          taskQueueType: TaskQueueType.TASK_QUEUE_TYPE_WORKFLOW,
        });
        return pollers && pollers.length > 0 ? true : undefined;
      },
      { timeoutMs: 60_000, intervalMs: 500 },
    );
  } finally {
    await connection.close();
  }
}

const steps = {
  provider: "gatewayapi:v1",
  analysis: { interval: "2s", threshold: 2, stepWeight: 20, maxWeight: 80 },
} as const;
const everyStepOnce = [0, 20, 40, 60, 80, 0];

/**
 * Starts the operator with `credential`, waits until /readyz says Temporal is reachable and the
 * worker polls, rolls a Canary out by changing its Deployment's image, and lists it with
 * `kubectl canary` and with the Temporal CLI, both given the same variables.
 */
async function rollOut(
  t: TestContext,
  cluster: TemporalCluster,
  namespace: string,
  credential: Credential,
): Promise<void> {
  const started = performance.now();
  const operator = await startOperator(
    `security-${cluster.credentials?.security}`,
    operatorGroup(),
    ["--namespace", namespace],
    temporalEnv(cluster, credential),
  );
  try {
    const ready = await waitFor(
      `${operator.name}: /readyz`,
      async () => {
        const answer = await readyz(operator);
        if (answer.status !== 200) throw new Error(answer.body);
        return answer;
      },
      { timeoutMs: 60_000, intervalMs: 100 },
    );
    assert.match(ready.body, new RegExp(`namespace ${cluster.namespace}`));
    t.diagnostic(`operator ready in ${seconds(performance.now() - started)}`);

    await createAvailable(deployment(namespace, "app", 1));
    await admin.create(RESOURCES.canaries, namespace, {
      metadata: { name: "app", namespace },
      spec: canarySpec("app", steps),
    });
    const first = await statusWhere(namespace, "app", "Initialized", (s) => s.phase === "Initialized");
    const route = recordCanaryWeights(namespace, "app", admin);
    await waitFor("the route is watched", async () => (route.weights.length > 0 ? true : undefined), {
      timeoutMs: 10_000,
    });
    const changed = performance.now();
    await setImage(namespace, "app", "example.test/app:2");
    await statusWhere(
      namespace,
      "app",
      "Succeeded",
      (s) => s.phase === "Succeeded" && s.lastPromotedSpec !== first.lastPromotedSpec,
      120_000,
    );
    t.diagnostic(`rollout Succeeded ${seconds(performance.now() - changed)} after the image changed`);
    await route.stop();
    assert.deepEqual(route.weights, everyStepOnce, "the route's canary weights");

    const listed = await waitFor(
      "kubectl canary list shows the promoted canary",
      async () => {
        const result = await listCanaries(cluster, namespace, credential);
        if (result.code !== 0) throw new Error(result.stderr);
        const { items } = JSON.parse(result.stdout) as { items: { name: string; phase: string | null }[] };
        return items.find((c) => c.name === "app" && c.phase === "Succeeded");
      },
      { timeoutMs: 30_000, intervalMs: 500 },
    );
    assert.equal(listed.name, "app");

    // The Temporal CLI reads the same variables: one shell serves both.
    const { stdout } = await execFileAsync(
      requireBinary("temporal"),
      ["workflow", "list", "--query", `CanaryNamespace = "${namespace}"`, "--output", "json"],
      { env: { ...process.env, ...temporalEnv(cluster, credential) }, timeout: 30_000 },
    );
    const runs = JSON.parse(stdout) as { execution: { workflowId: string } }[];
    assert.ok(runs.length > 0, "the temporal CLI lists the canary's workflow runs");
  } finally {
    // The canary goes while the operator still runs: its finalizer needs it.
    await removeCanaries(namespace).catch((err: unknown) => t.diagnostic(`cleanup: ${String(err)}`));
    await operator.stop();
  }
}

/** The operator's retries of its worker's connection, as logged. */
function connectFailures(operator: OperatorProcess): string[] {
  return operator.output
    .split("\n")
    .filter((l) => l.includes('"worker: cannot connect to Temporal; retrying"'));
}

/**
 * Attempts (with the operator's backoff of 1, 2, 4... 30 s) until one names the TLS alert: the SDK
 * reports the server's alert on some attempts only, and on others the closed connection it races
 * with. Nine attempts leave well under a 1% chance that none shows it.
 */
const alertWaitMs = 130_000;

/**
 * Starts the operator with `credential`, which the cluster refuses at the TLS handshake: it never
 * becomes ready (/readyz 503: Temporal unreachable, worker not polling), keeps retrying, and its
 * log names the server's TLS alert. `kubectl canary list` fails too, naming the server.
 */
async function refusedAtConnect(
  t: TestContext,
  cluster: TemporalCluster,
  namespace: string,
  credential: Credential,
  alert: "CertificateRequired" | "UnknownCA",
): Promise<void> {
  const operator = await startOperator(
    `security-mtls-refused-${credential.certificate ?? "none"}`,
    operatorGroup(),
    ["--namespace", namespace],
    temporalEnv(cluster, credential),
  );
  try {
    await operator.waitForLog('"worker: cannot connect to Temporal; retrying"', 60_000);
    assert.match(connectFailures(operator)[0] ?? "", /Failed to call GetSystemInfo/);
    const answer = await readyz(operator);
    assert.equal(answer.status, 503, answer.body);
    assert.match(answer.body, /unreachable/);
    assert.match(answer.body, /not polling/);
    const named = await waitFor(
      `${operator.name}: a retry that names the TLS alert ${alert}`,
      async () => {
        if (!operator.alive) throw new Error(`${operator.name} exited; see ${operator.logFile}`);
        return connectFailures(operator).find((l) => l.includes(`received fatal alert: ${alert}`));
      },
      { timeoutMs: alertWaitMs, intervalMs: 100 },
    );
    t.diagnostic(
      `attempt ${connectFailures(operator).indexOf(named) + 1} named it: ${JSON.parse(named).error}`,
    );
    assert.equal((await readyz(operator)).status, 503, "still not ready");
    assert.ok(operator.alive, "it keeps running and retrying");
  } finally {
    await operator.stop();
  }
  const cli = await listCanaries(cluster, namespace, credential);
  t.diagnostic(`kubectl canary list: ${cli.stderr.trim()}`);
  assert.notEqual(cli.code, 0);
  assert.match(cli.stderr, new RegExp(`cannot reach Temporal at ${cluster.address}`));
}

/** A cluster of `security` for the tests of one describe block, stopped after them. */
function clusterFor(security: ClusterSecurity): () => TemporalCluster {
  let cluster: TemporalCluster | undefined;
  before(
    async () => {
      const started = performance.now();
      cluster = await startTemporalCluster(supervisor, { dir: join(dir, security), security });
      process.stderr.write(`[test] ${security} cluster started in ${seconds(performance.now() - started)}\n`);
    },
    { timeout: 300_000 },
  );
  after(async () => {
    await cluster?.stop();
  });
  return () => {
    assert.ok(cluster, `the ${security} cluster started`);
    return cluster;
  };
}

describe("a Temporal cluster with mTLS", { concurrency: false }, () => {
  const cluster = clusterFor("mtls");
  const rolloutNs = testNamespace("sec-mtls");
  const refusedNs = testNamespace("sec-mtls-refused");

  it("its worker service reaches the frontend with a certificate of its own", async () => {
    await systemWorkerPolls(cluster());
  });

  it("the operator with a client certificate rolls a Canary out, and the CLI lists it", async (t) => {
    await rollOut(t, cluster(), rolloutNs, { certificate: "client" });
  });

  for (const [what, credential, alert] of [
    ["without a client certificate", {}, "CertificateRequired"],
    ["with a client certificate from another CA", { certificate: "stranger" }, "UnknownCA"],
  ] as const) {
    it(`${what} the operator does not become ready, and its log says why`, {
      timeout: alertWaitMs + 60_000,
    }, async (t) => {
      await refusedAtConnect(t, cluster(), refusedNs, credential, alert);
    });
  }
});

describe("a Temporal cluster with API keys", { concurrency: false }, () => {
  const cluster = clusterFor("api-key");
  const rolloutNs = testNamespace("sec-apikey");
  const refusedNs = testNamespace("sec-apikey-refused");

  it("its worker service reaches the cluster through the internal frontend", async () => {
    await systemWorkerPolls(cluster());
  });

  it("the operator with an API key rolls a Canary out, and the CLI lists it", async (t) => {
    await rollOut(t, cluster(), rolloutNs, { token: token(cluster(), "namespace") });
  });

  describe("with a key for another namespace", { concurrency: false }, () => {
    let operator: OperatorProcess | undefined;
    after(async () => {
      await operator?.stop("SIGKILL");
    });

    it("the operator's worker fails with permission denied, and the CLI is refused", async (t) => {
      const credential = { token: token(cluster(), "otherNamespace") };
      operator = new OperatorProcess(
        "security-api-key-other-namespace",
        operatorGroup(),
        ["--namespace", refusedNs],
        temporalEnv(cluster(), credential),
      );
      await operator.waitForLog('"the worker failed"', 60_000);
      const line = operator.output.split("\n").find((l) => l.includes('"the worker failed"')) ?? "";
      t.diagnostic(`operator log: ${line}`);
      assert.match(line, /PermissionDenied/);
      assert.match(line, /Request unauthorized/);
      const cli = await listCanaries(cluster(), refusedNs, credential);
      t.diagnostic(`kubectl canary list: ${cli.stderr.trim()}`);
      assert.notEqual(cli.code, 0);
      assert.match(cli.stderr, new RegExp(`Temporal at ${cluster().address} refused the request`));
      assert.match(cli.stderr, /Request unauthorized/, "the server's own reason");
    });

    it("and the operator exits non-zero, so that what runs it restarts it", async (t) => {
      assert.ok(operator, "the operator was started");
      const code = await operator.exitCode(30_000);
      t.diagnostic(`exit code ${code}`);
      assert.equal(code, 1);
    });
  });

  it("without a key the CLI is refused", async (t) => {
    const cli = await listCanaries(cluster(), refusedNs, {});
    t.diagnostic(`kubectl canary list: ${cli.stderr.trim()}`);
    assert.notEqual(cli.code, 0);
    assert.match(cli.stderr, new RegExp(`Temporal at ${cluster().address} refused the request`));
  });
});
