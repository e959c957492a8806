/**
 * deploy/ as a user installs it: `kubectl kustomize deploy/` renders the whole install, the API
 * server accepts it (server-side dry run, so nothing is stored), and the operator's Deployment is
 * hardened enough for the "restricted" Pod Security Standard. With the namespaced component, the
 * operator's rights are Roles in the namespace it watches and nothing cluster-wide.
 */
import assert from "node:assert/strict";
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join, relative } from "node:path";
import { describe, it } from "node:test";
import type {
  KubernetesObject,
  V1ClusterRole,
  V1ConfigMap,
  V1Deployment,
  V1PolicyRule,
  V1Role,
  V1RoleBinding,
  V1Service,
} from "@kubernetes/client-node";
import { crdFiles, deployCrdDir } from "../../tools/chart-crds.ts";
import {
  allows,
  assertHardenedOperator,
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
  scratchDir,
  trackedConfigs,
  verbsOn,
  watchedResources,
} from "./support.ts";

const systemNamespace = "durable-canary-system";
const restricted = restrictedNamespace("deploy-kustomize");
const scratch = scratchDir("durable-canary-kustomize");

async function render(): Promise<KubernetesObject[]> {
  return parseManifests(await mustRun("kubectl", ["kustomize", deployDir]));
}

/** deploy/ with the namespaced component, from a kustomization of the user's own (as documented). */
async function renderNamespaced(): Promise<KubernetesObject[]> {
  const dir = join(scratch, "namespaced");
  mkdirSync(dir, { recursive: true });
  const from = (path: string) => relative(dir, path);
  writeFileSync(
    join(dir, "kustomization.yaml"),
    JSON.stringify({ resources: [from(deployDir)], components: [from(join(deployDir, "namespaced"))] }),
  );
  return parseManifests(await mustRun("kubectl", ["kustomize", dir]));
}

/** The rules of every ClusterRole in a file of deploy/rbac, in order. */
function fileRules(file: string): V1PolicyRule[] {
  return parseManifests(readFileSync(join(deployDir, "rbac", file), "utf8"))
    .filter((o) => o.kind === "ClusterRole")
    .flatMap((o) => (o as V1ClusterRole).rules ?? []);
}

function crdNames(): string[] {
  return crdFiles(deployCrdDir).map(
    (file) =>
      (parseManifests(readFileSync(join(deployCrdDir, file), "utf8"))[0] as KubernetesObject).metadata
        ?.name ?? file,
  );
}

describe("deploy/ (kubectl apply -k)", () => {
  it("renders the whole install: namespace, every CRD, RBAC with the Lease role, the operator", async () => {
    const objects = await render();
    const ids = objects.map((o) => `${o.kind}/${o.metadata?.name}`).sort();
    const expected = [
      `Namespace/${systemNamespace}`,
      ...crdNames().map((name) => `CustomResourceDefinition/${name}`),
      "ServiceAccount/durable-canary",
      "ClusterRole/durable-canary",
      "ClusterRoleBinding/durable-canary",
      "ClusterRole/durable-canary-config-tracking",
      "ClusterRoleBinding/durable-canary-config-tracking",
      "Role/durable-canary-leader-election",
      "RoleBinding/durable-canary-leader-election",
      "ConfigMap/durable-canary-temporal",
      "Deployment/durable-canary",
      "Service/durable-canary",
    ].sort();
    assert.deepEqual(ids, expected);
    for (const o of objects) {
      if (
        ["Namespace", "CustomResourceDefinition", "ClusterRole", "ClusterRoleBinding"].includes(o.kind ?? "")
      )
        continue;
      assert.equal(o.metadata?.namespace, systemNamespace, `${o.kind}/${o.metadata?.name} namespace`);
    }
  });

  it("runs two hardened replicas that find Temporal in the ConfigMap", async () => {
    const objects = await render();
    const deployment = only<V1Deployment>(objects, "Deployment");
    assertHardenedOperator(deployment);
    assert.equal(deployment.spec?.replicas, 2);
    assert.equal(deployment.spec?.template.spec?.serviceAccountName, "durable-canary");
    const c = container(deployment);
    assert.equal(c.image, "ghcr.io/durable-canary/durable-canary:0.1.0");
    const { flags } = await parseRunArgs(c.args ?? []);
    assert.equal(flags.role, "all");
    assert.equal(flags.listen, ":8080");
    assert.deepEqual(c.resources?.requests, { cpu: "100m", memory: "256Mi" });
    assert.deepEqual(c.resources?.limits, { memory: "512Mi" });

    const configMap = only<V1ConfigMap>(objects, "ConfigMap");
    assert.deepEqual(
      c.envFrom?.map((e) => e.configMapRef?.name),
      [configMap.metadata?.name],
    );
    assert.match(
      configMap.data?.TEMPORAL_ADDRESS ?? "",
      /^[a-z0-9.-]+:\d+$/,
      "TEMPORAL_ADDRESS is host:port",
    );
    assert.ok(configMap.data?.TEMPORAL_NAMESPACE);

    const service = only<V1Service>(objects, "Service");
    assert.deepEqual(
      service.spec?.ports?.map((p) => [p.name, p.port, p.targetPort]),
      [["http-metrics", 8080, "http-metrics"]],
    );
    assert.deepEqual(service.spec?.selector, deployment.spec?.selector?.matchLabels);
  });

  it("lets the operator watch what the controller watches and hold its Lease", async () => {
    const objects = await render();
    const clusterRules = named<V1ClusterRole>(objects, "ClusterRole").flatMap((r) => r.rules ?? []);
    for (const [group, resource] of [...watchedResources, ...trackedConfigs]) {
      for (const verb of ["list", "watch"])
        assert.ok(allows(clusterRules, group, resource, verb), `${verb} ${group}/${resource}`);
    }
    assert.ok(
      !allows(clusterRules, "coordination.k8s.io", "leases", "update"),
      "no cluster-wide Lease rights",
    );

    const role = only<V1Role>(objects, "Role");
    assert.equal(role.metadata?.name, "durable-canary-leader-election");
    assert.equal(role.metadata?.namespace, systemNamespace);
    for (const verb of leaseVerbs)
      assert.ok(allows(role.rules ?? [], "coordination.k8s.io", "leases", verb), `${verb} leases`);
    const binding = only<V1RoleBinding>(objects, "RoleBinding");
    assert.equal(binding.roleRef.name, role.metadata?.name);
    assert.deepEqual(binding.subjects, [
      { kind: "ServiceAccount", name: "durable-canary", namespace: systemNamespace },
    ]);
  });

  it("grants Secrets and ConfigMaps beyond a read by name only in the config-tracking role", async () => {
    const base = fileRules("cluster-role.yaml");
    assert.deepEqual(verbsOn(base, "", "secrets"), ["get"], "secretRef Secrets, read by name");
    assert.deepEqual(verbsOn(base, "", "configmaps"), []);
    const tracking = fileRules("config-tracking.yaml");
    for (const [group, resource] of trackedConfigs)
      assert.deepEqual(verbsOn(tracking, group, resource), [
        "create",
        "get",
        "list",
        "patch",
        "update",
        "watch",
      ]);
    const objects = await render();
    const binding = named<V1RoleBinding>(objects, "ClusterRoleBinding").find(
      (b) => b.metadata?.name === "durable-canary-config-tracking",
    );
    assert.equal(binding?.roleRef.name, "durable-canary-config-tracking");
    assert.deepEqual(binding?.subjects, [
      { kind: "ServiceAccount", name: "durable-canary", namespace: systemNamespace },
    ]);
  });

  it("namespaced: Roles in the watched namespace with the cluster install's rules, nothing cluster-wide", async () => {
    const objects = await renderNamespaced();
    assert.deepEqual(named(objects, "ClusterRole"), [], "a ClusterRole in a namespaced install");
    assert.deepEqual(named(objects, "ClusterRoleBinding"), []);
    const { flags } = await parseRunArgs(container(only<V1Deployment>(objects, "Deployment")).args ?? []);
    const watched = flags.namespace;
    assert.ok(watched, "the operator is told the namespace it watches");
    const roles = named<V1Role>(objects, "Role").filter((r) => r.metadata?.namespace === watched);
    assert.deepEqual(
      roles.flatMap((r) => r.rules ?? []),
      [...fileRules("cluster-role.yaml"), ...fileRules("config-tracking.yaml")],
      "deploy/namespaced/roles.yaml differs from deploy/rbac",
    );
    for (const role of roles) {
      const binding: V1RoleBinding | undefined = named<V1RoleBinding>(objects, "RoleBinding").find(
        (b) => b.metadata?.namespace === watched && b.roleRef.name === role.metadata?.name,
      );
      assert.equal(binding?.roleRef.kind, "Role");
      assert.deepEqual(binding?.subjects, [
        { kind: "ServiceAccount", name: "durable-canary", namespace: systemNamespace },
      ]);
    }
    // Everything else stays in the operator's namespace: the Lease role among them.
    const elsewhere = objects.filter(
      (o) => o.metadata?.namespace !== undefined && o.metadata.namespace !== watched,
    );
    for (const o of elsewhere)
      assert.equal(o.metadata?.namespace, systemNamespace, `${o.kind}/${o.metadata?.name}`);

    // The API server accepts it with the watched namespace replaced by one that exists.
    const moved = objects
      .filter((o) => o.metadata?.namespace === watched)
      .map((o) => ({ ...o, metadata: { ...o.metadata, namespace: restricted } }));
    const result = await dryRunApply(JSON.stringify({ apiVersion: "v1", kind: "List", items: moved }));
    assert.equal(result.code, 0, `${result.stderr}${result.stdout}`);
    assert.equal(result.stdout.trim().split("\n").length, moved.length, result.stdout);
  });

  it("is accepted by the API server (kubectl apply --dry-run=server -k deploy/), storing nothing", async () => {
    const count = (await render()).length;
    const result = await kubectl(["apply", "--dry-run=server", "--validate=strict", "-k", deployDir]);
    assert.equal(result.code, 0, `${result.stderr}${result.stdout}`);
    const lines = result.stdout.trim().split("\n");
    assert.equal(lines.length, count, result.stdout);
    for (const line of lines) assert.match(line, /\(server dry run\)$/);
    const deployment = await kubectl(["get", "deployment", "durable-canary", "-n", systemNamespace]);
    assert.notEqual(deployment.code, 0, "the dry run created the Deployment");
    assert.match(deployment.stderr, /NotFound/);
  });

  it("meets the restricted Pod Security Standard, which rejects a pod template without the hardening", async () => {
    const deployment = only<V1Deployment>(await render(), "Deployment");
    const moved = { ...deployment, metadata: { ...deployment.metadata, namespace: restricted } };
    const accepted = await dryRunApply(JSON.stringify(moved));
    assert.equal(accepted.code, 0, accepted.stderr);
    assert.doesNotMatch(accepted.stderr, /PodSecurity/, "the API server warns about the pod template");

    // The same check sees a weakened copy, so it would see a regression.
    const weakened = structuredClone(moved);
    const c = container(weakened);
    c.securityContext = { ...c.securityContext, allowPrivilegeEscalation: true, capabilities: {} };
    const warned = await dryRunApply(JSON.stringify(weakened));
    assert.equal(warned.code, 0, warned.stderr);
    assert.match(warned.stderr, /would violate PodSecurity "restricted:latest"/);
  });

  it("is validated by the dry run: an invalid Deployment is refused", async () => {
    const deployment = only<V1Deployment>(await render(), "Deployment");
    const invalid = structuredClone(deployment);
    invalid.metadata = { ...invalid.metadata, namespace: restricted };
    if (invalid.spec) invalid.spec.replicas = -1;
    const result = await dryRunApply(JSON.stringify(invalid));
    assert.notEqual(result.code, 0);
    assert.match(result.stderr, /spec\.replicas/);
  });
});
