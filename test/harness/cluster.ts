/**
 * A real Kubernetes control plane on 127.0.0.1: etcd, kube-apiserver (token auth, RBAC,
 * service-account keys), kube-controller-manager, kube-scheduler, and kwok standing in for the
 * kubelets of one fake node. Deployments get ReplicaSets and pods and become Available through
 * the real controllers; only pod and node status come from kwok.
 */
import { generateKeyPairSync, randomBytes } from "node:crypto";
import { mkdirSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { request } from "node:https";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import {
  CoreV1Api,
  KubeConfig,
  type KubernetesObject,
  KubernetesObjectApi,
  loadAllYaml,
  PatchStrategy,
  RbacAuthorizationV1Api,
} from "@kubernetes/client-node";
import { requireBinary } from "../../tools/catalog.ts";
import {
  freePort,
  type ManagedProcess,
  onFreshPorts,
  type ProcessSpec,
  type Supervisor,
  stopGroups,
  waitFor,
} from "./process.ts";

const here = dirname(fileURLToPath(import.meta.url));

/** The namespace and service account the operator runs as in tests (not an admin). */
export const operatorNamespace = "durable-canary-system";
export const operatorServiceAccount = "durable-canary";
export const fakeNodeName = "kwok-node-0";
/** Pods with this label run but never become Ready (see kwok-stages.yaml). */
export const neverReadyLabel = "durable-canary.test/never-ready";

export interface ClusterInfo {
  server: string;
  /** Kubeconfig of a cluster admin (system:masters). */
  kubeconfig: string;
  /** Kubeconfig of the operator's service account, bound to the RBAC of deploy/ when it exists. */
  operatorKubeconfig: string;
  caFile: string;
  processes: ManagedProcess[];
  /** How the API server was started, so a test can stop it and start it again (restartApiserver). */
  apiserver: { spec: ProcessSpec; process: ManagedProcess; readyz: () => Promise<boolean> };
}

interface Credential {
  user: string;
  token: string;
  groups: string[];
}

function credential(user: string, groups: string[] = []): Credential {
  return { user, token: randomBytes(24).toString("hex"), groups };
}

function kubeconfigYaml(server: string, caPem: string, user: string, token: string): string {
  const ca = Buffer.from(caPem).toString("base64");
  return [
    "apiVersion: v1",
    "kind: Config",
    "clusters:",
    "- name: durable-canary-test",
    "  cluster:",
    `    server: ${server}`,
    `    certificate-authority-data: ${ca}`,
    "users:",
    `- name: ${user}`,
    "  user:",
    `    token: ${token}`,
    "contexts:",
    `- name: ${user}@durable-canary-test`,
    "  context:",
    "    cluster: durable-canary-test",
    `    user: ${user}`,
    `current-context: ${user}@durable-canary-test`,
    "",
  ].join("\n");
}

/** GET over HTTPS with the cluster's CA and a bearer token; resolves the status and body. */
function httpsGet(
  url: string,
  ca: string | undefined,
  token: string,
): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request(
      url,
      {
        ca,
        rejectUnauthorized: ca !== undefined,
        headers: { authorization: `Bearer ${token}` },
        timeout: 5000,
      },
      (res) => {
        let body = "";
        res.on("data", (chunk: Buffer) => {
          body += chunk.toString();
        });
        res.on("end", () => resolve({ status: res.statusCode ?? 0, body }));
      },
    );
    req.on("timeout", () => req.destroy(new Error("timed out")));
    req.on("error", reject);
    req.end();
  });
}

export async function startEtcd(
  sup: Supervisor,
  dir: string,
): Promise<{ url: string; process: ManagedProcess }> {
  return onFreshPorts(async (track, attempt) => {
    const [client, peer] = [await freePort(), await freePort()];
    const url = `http://127.0.0.1:${client}`;
    // A fresh data dir per attempt: etcd remembers the peer address it was first started with.
    const dataDir = join(dir, attempt === 1 ? "etcd" : `etcd-${attempt}`);
    const proc = track(
      sup.start({
        name: "etcd",
        command: requireBinary("etcd"),
        args: [
          "--name=test",
          `--data-dir=${dataDir}`,
          `--listen-client-urls=${url}`,
          `--advertise-client-urls=${url}`,
          `--listen-peer-urls=http://127.0.0.1:${peer}`,
          `--initial-advertise-peer-urls=http://127.0.0.1:${peer}`,
          `--initial-cluster=test=http://127.0.0.1:${peer}`,
          // Test data is disposable; skipping fsync keeps a 2-core machine responsive.
          "--unsafe-no-fsync",
          "--log-level=warn",
        ],
      }),
    );
    await waitFor(
      "etcd",
      async () => {
        const res = await fetch(`${url}/health`);
        const body = (await res.json()) as { health?: string };
        return body.health === "true" ? true : undefined;
      },
      { timeoutMs: 30_000, process: proc },
    );
    return { url, process: proc };
  });
}

/** Starts the control plane and kwok, registers the fake node and waits until it is Ready. */
export async function startCluster(sup: Supervisor, dir: string): Promise<ClusterInfo> {
  const pki = join(dir, "pki");
  mkdirSync(pki, { recursive: true });
  const etcd = await startEtcd(sup, dir);

  const { privateKey, publicKey } = generateKeyPairSync("rsa", { modulusLength: 2048 });
  const saKey = join(pki, "service-account.key");
  const saPub = join(pki, "service-account.pub");
  writeFileSync(saKey, privateKey.export({ type: "pkcs8", format: "pem" }));
  writeFileSync(saPub, publicKey.export({ type: "spki", format: "pem" }));

  const admin = credential("admin", ["system:masters"]);
  const controllerManager = credential("system:kube-controller-manager");
  const scheduler = credential("system:kube-scheduler");
  // kwok writes node and pod status the way kubelets would; it needs node-level rights on everything.
  const kwok = credential("kwok", ["system:masters"]);
  const tokenFile = join(pki, "tokens.csv");
  writeFileSync(
    tokenFile,
    [admin, controllerManager, scheduler, kwok]
      .map((c, i) => `${c.token},${c.user},${i + 1}${c.groups.length ? `,"${c.groups.join(",")}"` : ""}`)
      .join("\n"),
  );

  const caFile = join(pki, "apiserver.crt");
  const { server, apiserver, spec } = await onFreshPorts(async (track) => {
    const port = await freePort();
    const server = `https://127.0.0.1:${port}`;
    const spec: ProcessSpec = {
      name: "kube-apiserver",
      command: requireBinary("kubeApiserver"),
      args: [
        `--etcd-servers=${etcd.url}`,
        "--bind-address=127.0.0.1",
        "--advertise-address=127.0.0.1",
        `--secure-port=${port}`,
        `--cert-dir=${pki}`,
        `--token-auth-file=${tokenFile}`,
        "--authorization-mode=RBAC",
        "--service-account-issuer=https://kubernetes.default.svc.cluster.local",
        `--service-account-key-file=${saPub}`,
        `--service-account-signing-key-file=${saKey}`,
        "--service-account-max-token-expiration=168h",
        // Cluster IPs are only allocated, never routed: no traffic leaves loopback.
        "--service-cluster-ip-range=10.96.0.0/16",
        // Endpoints may not hold loopback addresses, so the apiserver must not publish its own.
        "--endpoint-reconciler-type=none",
        "--allow-privileged=true",
        "--profiling=false",
      ],
    };
    const apiserver = track(sup.start(spec));
    await waitForApiserver(server, admin.token, apiserver);
    return { server, apiserver, spec };
  });
  const caPem = readFileSync(caFile, "utf8");

  const kubeconfig = join(dir, "admin.kubeconfig");
  writeFileSync(kubeconfig, kubeconfigYaml(server, caPem, admin.user, admin.token));
  const componentConfig = (c: Credential) => {
    const file = join(pki, `${c.user.replace(/[^a-z-]/g, "-")}.kubeconfig`);
    writeFileSync(file, kubeconfigYaml(server, caPem, c.user, c.token));
    return file;
  };

  const kcm = sup.start({
    name: "kube-controller-manager",
    command: requireBinary("kubeControllerManager"),
    args: [
      `--kubeconfig=${componentConfig(controllerManager)}`,
      "--secure-port=0",
      "--leader-elect=false",
      `--root-ca-file=${caFile}`,
      `--service-account-private-key-file=${saKey}`,
      "--use-service-account-credentials=true",
      "--cluster-name=durable-canary-test",
    ],
  });
  const sched = sup.start({
    name: "kube-scheduler",
    command: requireBinary("kubeScheduler"),
    args: [`--kubeconfig=${componentConfig(scheduler)}`, "--secure-port=0", "--leader-elect=false"],
  });
  const kwokProc = sup.start({
    name: "kwok",
    command: requireBinary("kwok"),
    args: [
      `--kubeconfig=${componentConfig(kwok)}`,
      `--config=${join(here, "kwok-stages.yaml")}`,
      "--manage-all-nodes=false",
      "--manage-nodes-with-annotation-selector=kwok.x-k8s.io/node=fake",
      "--server-address=",
      "--node-lease-duration-seconds=40",
    ],
  });

  const kc = new KubeConfig();
  kc.loadFromFile(kubeconfig);
  const core = kc.makeApiClient(CoreV1Api);
  await core.createNode({
    body: {
      metadata: {
        name: fakeNodeName,
        annotations: { "kwok.x-k8s.io/node": "fake" },
        labels: { "kubernetes.io/hostname": fakeNodeName, "kubernetes.io/os": "linux", type: "kwok" },
      },
    },
  });
  await waitFor(
    `node ${fakeNodeName} Ready (kwok)`,
    async () => {
      const node = await core.readNode({ name: fakeNodeName });
      const ready = node.status?.conditions?.find((c) => c.type === "Ready")?.status === "True";
      const tainted = (node.spec?.taints ?? []).some((t) => t.key === "node.kubernetes.io/not-ready");
      return ready && !tainted ? true : undefined;
    },
    { timeoutMs: 60_000, process: kwokProc },
  );
  // The ServiceAccount admission plugin rejects pods until the controller made the default account.
  await waitFor(
    "default service account",
    async () =>
      (await core.readNamespacedServiceAccount({ name: "default", namespace: "default" })) ? true : undefined,
    { timeoutMs: 60_000, process: kcm },
  );

  const operatorKubeconfig = await createOperatorKubeconfig(kc, server, caPem, dir);
  return {
    server,
    kubeconfig,
    operatorKubeconfig,
    caFile,
    processes: [etcd.process, apiserver, kcm, sched, kwokProc],
    apiserver: {
      spec,
      process: apiserver,
      readyz: async () => (await httpsGet(`${server}/readyz`, undefined, admin.token)).status === 200,
    },
  };
}

async function waitForApiserver(server: string, token: string, process: ManagedProcess): Promise<void> {
  await waitFor(
    "kube-apiserver /readyz",
    async () => {
      const res = await httpsGet(`${server}/readyz`, undefined, token);
      return res.status === 200
        ? true
        : Promise.reject(new Error(`HTTP ${res.status}: ${res.body.slice(0, 300)}`));
    },
    { timeoutMs: 90_000, intervalMs: 500, process },
  );
}

/**
 * Stops a cluster's API server (etcd and the other components keep running): SIGTERM, then SIGKILL
 * if it still drains connections after a few seconds. Resolves once it is gone.
 */
export async function stopApiserver(cluster: ClusterInfo): Promise<void> {
  await stopGroups([cluster.apiserver.process.pid], 5000);
}

/** Starts a stopped API server again, on its port and with its etcd, and waits until it is ready. */
export async function restartApiserver(sup: Supervisor, cluster: ClusterInfo): Promise<void> {
  const process = sup.start({ ...cluster.apiserver.spec, name: `${cluster.apiserver.spec.name}-again` });
  cluster.apiserver.process = process;
  cluster.processes.push(process);
  await waitFor(
    "kube-apiserver ready again",
    async () => ((await cluster.apiserver.readyz()) ? true : undefined),
    {
      timeoutMs: 90_000,
      intervalMs: 250,
      process,
    },
  );
}

/**
 * A kubeconfig for the operator's service account, bound to the RBAC of deploy/rbac, so tests prove
 * that RBAC is enough. The baseline role only lets tests read namespaces as the operator.
 */
async function createOperatorKubeconfig(kc: KubeConfig, server: string, caPem: string, dir: string) {
  const core = kc.makeApiClient(CoreV1Api);
  const rbac = kc.makeApiClient(RbacAuthorizationV1Api);
  await core.createNamespace({ body: { metadata: { name: operatorNamespace } } });
  await core.createNamespacedServiceAccount({
    namespace: operatorNamespace,
    body: { metadata: { name: operatorServiceAccount } },
  });
  await rbac.createClusterRole({
    body: {
      metadata: { name: "durable-canary-test-baseline" },
      rules: [{ apiGroups: [""], resources: ["namespaces"], verbs: ["get", "list", "watch"] }],
    },
  });
  await rbac.createClusterRoleBinding({
    body: {
      metadata: { name: "durable-canary-test-baseline" },
      roleRef: {
        apiGroup: "rbac.authorization.k8s.io",
        kind: "ClusterRole",
        name: "durable-canary-test-baseline",
      },
      subjects: [{ kind: "ServiceAccount", name: operatorServiceAccount, namespace: operatorNamespace }],
    },
  });
  const objects = KubernetesObjectApi.makeApiClient(kc);
  const rbacDir = join(here, "../../deploy/rbac");
  for (const file of readdirSync(rbacDir).filter((f) => f.endsWith(".yaml"))) {
    for (const doc of loadAllYaml(readFileSync(join(rbacDir, file), "utf8")) as KubernetesObject[]) {
      await objects.patch(
        doc,
        undefined,
        undefined,
        "durable-canary-tests",
        true,
        PatchStrategy.ServerSideApply,
      );
    }
  }
  const tokenRequest = await core.createNamespacedServiceAccountToken({
    name: operatorServiceAccount,
    namespace: operatorNamespace,
    body: { spec: { expirationSeconds: 7 * 24 * 3600 } },
  });
  const token = tokenRequest.status?.token;
  if (!token) throw new Error("TokenRequest for the operator's service account returned no token");
  const file = join(dir, "operator.kubeconfig");
  writeFileSync(
    file,
    kubeconfigYaml(
      server,
      caPem,
      `system:serviceaccount:${operatorNamespace}:${operatorServiceAccount}`,
      token,
    ),
  );
  return file;
}
