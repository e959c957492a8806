/**
 * The Helm chart: `helm lint` passes, `helm template` renders what each kind of install needs (an
 * address of your own Temporal; TLS with an API key; the embedded trial server), the API server
 * accepts every rendering (server-side dry run into a namespace enforcing the "restricted" Pod
 * Security Standard), and the chart's CRDs and RBAC stay equal to deploy/'s. With watchNamespace
 * its rights are Roles there; without config tracking it may not watch or write Secrets.
 */
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, it } from "node:test";
import type {
  KubernetesObject,
  V1ClusterRole,
  V1ClusterRoleBinding,
  V1Deployment,
  V1EnvVar,
  V1PolicyRule,
  V1Role,
  V1RoleBinding,
} from "@kubernetes/client-node";
import { versions } from "../../tools/catalog.ts";
import { chartCrdDir, crdFiles, deployCrdDir } from "../../tools/chart-crds.ts";
import {
  allows,
  assertHardenedOperator,
  chartDir,
  container,
  deployDir,
  dryRunApply,
  kubectl,
  leaseVerbs,
  mustRun,
  named,
  only,
  parseManifests,
  parseRunArgs,
  restrictedNamespace,
  runTool,
  scratchDir,
  trackedConfigs,
  verbsOn,
  watchedResources,
  writeJson,
} from "./support.ts";

const namespace = restrictedNamespace("deploy-chart");
const scratch = scratchDir("durable-canary-chart");
const release = "dc";
const kubeVersion = versions.kubernetes;

const valueSets = {
  address: { temporal: { address: "temporal-frontend.temporal.svc.cluster.local:7233" } },
  cloud: {
    temporal: {
      address: "prod.a1b2c.tmprl.cloud:7233",
      namespace: "prod.a1b2c",
      tls: { enabled: true, existingSecret: "temporal-mtls", caKey: "ca.crt", serverName: "prod.example" },
      apiKeySecret: { name: "temporal-cloud", key: "api-key" },
    },
  },
  embedded: { temporal: { embedded: true } },
  flags: {
    temporal: { address: "temporal:7233", taskQueue: "canaries" },
    // Exists, so that the dry run can create the operator's Role in it.
    watchNamespace: namespace,
    meshProvider: "gatewayapi:v1",
    metricsServer: "http://prometheus.monitoring:9090",
    clusterName: "prod-eu",
    selectorLabels: "app,app.kubernetes.io/name",
    includeLabelPrefix: "team",
    enableConfigTracking: false,
    eventWebhook: "http://events.example/hook",
    noCrossNamespaceRefs: true,
    denyLocalDestinations: false,
    slack: { urlSecret: { name: "slack", key: "webhook" }, channel: "#deploys", user: "canary" },
    extraArgs: ["--log-level=debug"],
    logLevel: "warn",
  },
} as const;
type ValueSet = keyof typeof valueSets;

function valuesFile(name: ValueSet | string, values: unknown): string {
  return writeJson(scratch, `${name}.json`, values);
}

function templateArgs(file: string): string[] {
  return [
    "template",
    release,
    chartDir,
    "--namespace",
    namespace,
    "--kube-version",
    kubeVersion,
    "--include-crds",
    "--values",
    file,
  ];
}

async function template(set: ValueSet): Promise<{ text: string; objects: KubernetesObject[] }> {
  const text = await mustRun("helm", templateArgs(valuesFile(set, valueSets[set])));
  return { text, objects: parseManifests(text) };
}

async function operator(set: ValueSet): Promise<V1Deployment> {
  return only<V1Deployment>((await template(set)).objects, "Deployment");
}

/** deploy/rbac's rules: the ClusterRole's, then config tracking's. */
function deployRules(): V1PolicyRule[] {
  return ["cluster-role.yaml", "config-tracking.yaml"].flatMap((file) =>
    parseManifests(readFileSync(join(deployDir, "rbac", file), "utf8"))
      .filter((o) => o.kind === "ClusterRole")
      .flatMap((o) => (o as V1ClusterRole).rules ?? []),
  );
}

function envOf(deployment: V1Deployment): Map<string, V1EnvVar> {
  return new Map((container(deployment).env ?? []).map((e) => [e.name, e]));
}

function argsOf(deployment: V1Deployment): string[] {
  return container(deployment).args ?? [];
}

describe("charts/durable-canary", () => {
  it("passes helm lint with every value set", async () => {
    for (const [name, values] of Object.entries(valueSets)) {
      const out = await mustRun("helm", ["lint", chartDir, "--strict", "--values", valuesFile(name, values)]);
      assert.match(out, /1 chart\(s\) linted, 0 chart\(s\) failed/, `${name}: ${out}`);
    }
  });

  it("refuses settings the operator cannot run with: no Temporal, two Temporals, two global notifiers", async () => {
    const none = await runTool("helm", templateArgs(valuesFile("none", {})));
    assert.notEqual(none.code, 0);
    assert.match(none.stderr, /temporal\.address is required/);
    const both = await runTool(
      "helm",
      templateArgs(valuesFile("both", { temporal: { address: "t:7233", embedded: true } })),
    );
    assert.notEqual(both.code, 0);
    assert.match(both.stderr, /exclude each other/);
    const notifiers = await runTool(
      "helm",
      templateArgs(
        valuesFile("notifiers", {
          ...valueSets.address,
          slack: { url: "https://slack.example/hook" },
          msteams: { url: "https://teams.example/hook" },
        }),
      ),
    );
    assert.notEqual(notifiers.code, 0);
    assert.match(notifiers.stderr, /one global notifier/);
  });

  it("renders two hardened replicas pointed at the given Temporal address", async () => {
    const { objects } = await template("address");
    const deployment = only<V1Deployment>(objects, "Deployment");
    assertHardenedOperator(deployment);
    assert.equal(deployment.spec?.replicas, 2);
    assert.equal(deployment.metadata?.namespace, namespace);
    const c = container(deployment);
    assert.equal(c.image, "ghcr.io/durable-canary/durable-canary:0.1.0");
    assert.deepEqual(c.resources?.requests, { cpu: "100m", memory: "512Mi" });
    const env = envOf(deployment);
    assert.equal(env.get("TEMPORAL_ADDRESS")?.value, valueSets.address.temporal.address);
    assert.equal(env.get("TEMPORAL_NAMESPACE")?.value, "default");
    for (const unset of ["TEMPORAL_TLS", "TEMPORAL_API_KEY", "DURABLE_CANARY_CACHE"])
      assert.equal(env.has(unset), false, unset);
    assert.deepEqual(argsOf(deployment).slice(0, 2), ["run", "--role=all"]);
    assert.equal(deployment.spec?.template.spec?.serviceAccountName, "dc-durable-canary");
    assert.equal(named(objects, "ServiceMonitor").length, 0);
    assert.equal(only<KubernetesObject>(objects, "Service").metadata?.name, "dc-durable-canary");
  });

  it("mounts the TLS Secret and reads the API key from its Secret", async () => {
    const deployment = await operator("cloud");
    assertHardenedOperator(deployment);
    const env = envOf(deployment);
    const dir = "/etc/durable-canary/temporal-tls";
    assert.equal(env.get("TEMPORAL_TLS")?.value, "true");
    assert.equal(env.get("TEMPORAL_NAMESPACE")?.value, "prod.a1b2c");
    assert.equal(env.get("TEMPORAL_TLS_CLIENT_CERT_PATH")?.value, `${dir}/tls.crt`);
    assert.equal(env.get("TEMPORAL_TLS_CLIENT_KEY_PATH")?.value, `${dir}/tls.key`);
    assert.equal(env.get("TEMPORAL_TLS_SERVER_CA_CERT_PATH")?.value, `${dir}/ca.crt`);
    assert.equal(env.get("TEMPORAL_TLS_SERVER_NAME")?.value, "prod.example");
    assert.deepEqual(env.get("TEMPORAL_API_KEY")?.valueFrom?.secretKeyRef, {
      name: "temporal-cloud",
      key: "api-key",
    });
    const mount = container(deployment).volumeMounts?.find((m) => m.mountPath === dir);
    assert.equal(mount?.readOnly, true);
    const volume = deployment.spec?.template.spec?.volumes?.find((v) => v.name === mount?.name);
    assert.equal(volume?.secret?.secretName, "temporal-mtls");
    assert.deepEqual(
      volume?.secret?.items?.map((i) => [i.key, i.path]),
      [
        ["tls.crt", "tls.crt"],
        ["tls.key", "tls.key"],
        ["ca.crt", "ca.crt"],
      ],
    );
  });

  it("runs the embedded trial server in one pod with a writable state volume and no address", async () => {
    const deployment = await operator("embedded");
    assertHardenedOperator(deployment);
    assert.equal(deployment.spec?.replicas, 1, "one replica although values.replicas is 2");
    assert.equal(deployment.spec?.strategy?.type, "Recreate");
    const env = envOf(deployment);
    assert.equal(env.has("TEMPORAL_ADDRESS"), false);
    const state =
      argsOf(deployment)
        .find((a) => a.startsWith("--state-dir="))
        ?.slice("--state-dir=".length) ?? "";
    const mount = container(deployment).volumeMounts?.find((m) => state.startsWith(`${m.mountPath}/`));
    assert.ok(mount, `the state dir ${state} is on a volume`);
    assert.notEqual(mount.readOnly, true);
    assert.ok(env.get("DURABLE_CANARY_CACHE")?.value?.startsWith(`${mount.mountPath}/`), "the CLI cache too");
    const volume = deployment.spec?.template.spec?.volumes?.find((v) => v.name === mount.name);
    assert.ok(volume?.emptyDir, "an emptyDir by default");

    const claimed = only<V1Deployment>(
      parseManifests(
        await mustRun(
          "helm",
          templateArgs(
            valuesFile("claim", {
              temporal: { embedded: true, embeddedStorage: { existingClaim: "dc-db" } },
            }),
          ),
        ),
      ),
      "Deployment",
    );
    const claimVolume = claimed.spec?.template.spec?.volumes?.find((v) => v.name === mount.name);
    assert.equal(claimVolume?.persistentVolumeClaim?.claimName, "dc-db");
  });

  it("passes the operator's settings as the flags of durable-canary run", async () => {
    const deployment = await operator("flags");
    assert.deepEqual(argsOf(deployment), [
      "run",
      "--role=all",
      "--listen=:8080",
      "--task-queue=canaries",
      "--leader-election-id=durable-canary-leader",
      "--log-level=warn",
      "--enable-config-tracking=false",
      `--namespace=${namespace}`,
      "--workflow-cache-size=1000",
      "--mesh-provider=gatewayapi:v1",
      "--metrics-server=http://prometheus.monitoring:9090",
      "--cluster-name=prod-eu",
      "--selector-labels=app,app.kubernetes.io/name",
      "--include-label-prefix=team",
      "--event-webhook=http://events.example/hook",
      "--no-cross-namespace-refs",
      "--deny-local-destinations=false",
      "--slack-url=$(SLACK_URL)",
      "--slack-channel=#deploys",
      "--slack-user=canary",
      "--log-level=debug",
    ]);
    assert.deepEqual(envOf(deployment).get("SLACK_URL")?.valueFrom?.secretKeyRef, {
      name: "slack",
      key: "webhook",
    });
  });

  it("passes only flags and values the operator's run command accepts", async () => {
    for (const set of Object.keys(valueSets) as ValueSet[]) {
      const args = argsOf(await operator(set));
      const parsed = await parseRunArgs(args, { SLACK_URL: "https://hooks.example/from-secret" }).catch(
        (err: unknown) =>
          assert.fail(`${set}: ${args.join(" ")}: ${err instanceof Error ? err.message : err}`),
      );
      if (set === "flags") {
        const { flags, config } = parsed;
        assert.equal(flags.namespace, namespace);
        assert.equal(flags.taskQueue, "canaries");
        assert.equal(config.meshProvider, "gatewayapi:v1");
        assert.equal(config.clusterName, "prod-eu");
        assert.equal(config.globalAlertProvider?.type, "slack");
        assert.equal(config.globalAlertProvider?.address, "https://hooks.example/from-secret");
        assert.equal(config.globalAlertProvider?.channel, "#deploys");
      }
      if (set === "embedded") assert.equal(parsed.flags.stateDir, "/var/lib/durable-canary/state");
    }
    // The check sees a flag the operator does not have.
    await assert.rejects(parseRunArgs(["run", "--no-such-flag"]), /unknown option/);
  });

  it("grants what deploy/rbac grants, bound to its service account, and the Lease in its namespace", async () => {
    const { objects } = await template("address");
    const rules = only<V1ClusterRole>(objects, "ClusterRole").rules ?? [];
    assert.deepEqual(
      rules,
      deployRules(),
      "the chart's ClusterRole differs from deploy/rbac/cluster-role.yaml and config-tracking.yaml",
    );
    for (const [group, resource] of [...watchedResources, ...trackedConfigs])
      for (const verb of ["list", "watch"]) assert.ok(allows(rules, group, resource, verb));

    const serviceAccount = only<KubernetesObject>(objects, "ServiceAccount").metadata?.name;
    const subject = { kind: "ServiceAccount", name: serviceAccount, namespace };
    assert.deepEqual(only<V1ClusterRoleBinding>(objects, "ClusterRoleBinding").subjects, [subject]);
    const role = only<V1Role>(objects, "Role");
    assert.equal(role.metadata?.namespace, namespace);
    for (const verb of leaseVerbs) assert.ok(allows(role.rules ?? [], "coordination.k8s.io", "leases", verb));
    const binding = only<V1RoleBinding>(objects, "RoleBinding");
    assert.equal(binding.roleRef.name, role.metadata?.name);
    assert.deepEqual(binding.subjects, [subject]);
  });

  it("with watchNamespace: Roles there (and in templateNamespaces), no ClusterRole", async () => {
    const text = await mustRun(
      "helm",
      templateArgs(
        valuesFile("namespaced", {
          ...valueSets.address,
          watchNamespace: namespace,
          rbac: { templateNamespaces: [namespace] },
        }),
      ),
    );
    const objects = parseManifests(text);
    assert.deepEqual(named(objects, "ClusterRole"), [], "a ClusterRole in a namespaced install");
    assert.deepEqual(named(objects, "ClusterRoleBinding"), []);
    const roles = new Map(named<V1Role>(objects, "Role").map((r) => [r.metadata?.name, r]));
    assert.deepEqual(roles.get("dc-durable-canary")?.rules, deployRules());
    assert.equal(roles.get("dc-durable-canary")?.metadata?.namespace, namespace);
    const templates = roles.get("dc-durable-canary-templates")?.rules ?? [];
    assert.deepEqual(verbsOn(templates, "flagger.app", "metrictemplates"), ["get"]);
    assert.deepEqual(verbsOn(templates, "", "secrets"), ["get"]);
    const serviceAccount = only<KubernetesObject>(objects, "ServiceAccount").metadata?.name;
    for (const binding of named<V1RoleBinding>(objects, "RoleBinding")) {
      assert.equal(binding.roleRef.kind, "Role");
      assert.ok(roles.has(binding.roleRef.name), binding.roleRef.name);
      assert.deepEqual(binding.subjects, [{ kind: "ServiceAccount", name: serviceAccount, namespace }]);
    }
    const result = await dryRunApply(text);
    assert.equal(result.code, 0, `${result.stderr}${result.stdout}`);

    const cluster = await runTool(
      "helm",
      templateArgs(
        valuesFile("cluster-templates", { ...valueSets.address, rbac: { templateNamespaces: ["x"] } }),
      ),
    );
    assert.notEqual(cluster.code, 0);
    assert.match(cluster.stderr, /rbac\.templateNamespaces is for a namespaced install/);
  });

  it("without config tracking: no ConfigMap rights, Secrets only read by name, or not at all", async () => {
    const render = async (name: string, values: object) =>
      only<V1ClusterRole>(
        parseManifests(
          await mustRun("helm", templateArgs(valuesFile(name, { ...valueSets.address, ...values }))),
        ),
        "ClusterRole",
      ).rules ?? [];
    const untracked = await render("untracked", { enableConfigTracking: false });
    assert.deepEqual(verbsOn(untracked, "", "configmaps"), []);
    assert.deepEqual(verbsOn(untracked, "", "secrets"), ["get"], "secretRef Secrets, read by name");
    const none = await render("no-secrets", { enableConfigTracking: false, rbac: { secretRefs: false } });
    assert.deepEqual(
      none.filter((r) => r.resources?.includes("secrets")),
      [],
      "a secrets rule without config tracking and secretRefs",
    );
    // And the default keeps what config tracking needs.
    const tracked = await render("tracked", {});
    assert.deepEqual(verbsOn(tracked, "", "secrets"), ["create", "get", "list", "patch", "update", "watch"]);
  });

  it("renders an optional ServiceMonitor for the metrics port", async () => {
    const text = await mustRun(
      "helm",
      templateArgs(
        valuesFile("monitor", {
          ...valueSets.address,
          serviceMonitor: { enabled: true, labels: { team: "a" } },
        }),
      ),
    );
    const monitor = only<KubernetesObject & { spec?: { endpoints?: { port?: string }[] } }>(
      parseManifests(text),
      "ServiceMonitor",
    );
    assert.equal(monitor.metadata?.labels?.team, "a");
    assert.deepEqual(
      monitor.spec?.endpoints?.map((e) => e.port),
      ["http-metrics"],
    );
  });

  it("is accepted by the API server for every value set, within the restricted Pod Security Standard", async () => {
    for (const set of Object.keys(valueSets) as ValueSet[]) {
      const { text, objects } = await template(set);
      const result = await dryRunApply(text);
      assert.equal(result.code, 0, `${set}: ${result.stderr}${result.stdout}`);
      assert.doesNotMatch(result.stderr, /PodSecurity/, `${set}: the pod template is below "restricted"`);
      const lines = result.stdout.trim().split("\n");
      assert.equal(lines.length, objects.length, `${set}: ${result.stdout}`);
      for (const line of lines) assert.match(line, /\(server dry run\)$/, set);
    }
    const stored = await kubectl(["get", "deployments", "--namespace", namespace, "-o", "name"]);
    assert.equal(stored.stdout.trim(), "", "the dry runs stored nothing");
  });

  it("carries the same CRDs as deploy/crds (npm run crds copies them)", () => {
    assert.deepEqual(crdFiles(chartCrdDir), crdFiles(deployCrdDir));
    for (const file of crdFiles(deployCrdDir)) {
      assert.equal(
        readFileSync(join(chartCrdDir, file), "utf8"),
        readFileSync(join(deployCrdDir, file), "utf8"),
        `charts/durable-canary/crds/${file} differs from deploy/crds: run npm run crds`,
      );
    }
  });
});
