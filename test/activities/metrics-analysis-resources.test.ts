/**
 * kubeAnalysisResources against the real API server: MetricTemplates, AlertProviders and Secrets
 * read as the operator's service account (proving deploy/rbac lets analysis read them), absent
 * objects as undefined, and a refused read as an error naming the missing permission.
 */
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { ApiextensionsV1Api, CoreV1Api, CustomObjectsApi, KubeConfig } from "@kubernetes/client-node";
import { AnalysisResourceError, kubeAnalysisResources } from "../../activities/analysis-resources.ts";
import { worldEnv } from "../harness/world-env.ts";

const world = worldEnv();
const namespace = `analysis-resources-${process.pid}`;

function load(file: string): KubeConfig {
  const kc = new KubeConfig();
  kc.loadFromFile(file);
  return kc;
}

describe("kubeAnalysisResources", () => {
  const admin = load(world.kubeconfig);
  const core = admin.makeApiClient(CoreV1Api);
  const custom = admin.makeApiClient(CustomObjectsApi);
  const operator = kubeAnalysisResources(load(world.operatorKubeconfig));

  before(async () => {
    await core.createNamespace({ body: { metadata: { name: namespace } } });
    await core.createNamespacedSecret({
      namespace,
      body: {
        metadata: { name: "prom-auth" },
        data: {
          token: Buffer.from("s3cret\n").toString("base64"),
          blob: Buffer.from("ünïcode").toString("base64"),
        },
      },
    });
  });
  after(async () => {
    await core.deleteNamespace({ name: namespace });
  });

  test("reads a Secret's data as UTF-8 strings, as the operator", async () => {
    assert.deepEqual(await operator.secret(namespace, "prom-auth"), { token: "s3cret\n", blob: "ünïcode" });
  });

  test("an absent Secret, MetricTemplate or AlertProvider is undefined", async () => {
    assert.equal(await operator.secret(namespace, "absent"), undefined);
    assert.equal(await operator.metricTemplate(namespace, "absent"), undefined);
    assert.equal(await operator.alertProvider(namespace, "absent"), undefined);
  });

  test("reads MetricTemplate and AlertProvider specs, as the operator", async () => {
    const crds = await admin.makeApiClient(ApiextensionsV1Api).listCustomResourceDefinition();
    const served = new Set(crds.items.map((crd) => crd.metadata?.name));
    assert.ok(
      served.has("metrictemplates.flagger.app") && served.has("alertproviders.flagger.app"),
      "the world installs the Flagger CRDs of deploy/crds",
    );
    const metricTemplate = {
      provider: {
        type: "prometheus",
        address: "http://prometheus.monitoring:9090",
        secretRef: { name: "prom-auth" },
      },
      query: 'sum(rate(http_requests_total{namespace="{{ namespace }}"}[{{ interval }}]))',
    };
    const alertProvider = { type: "slack", channel: "#deploys", address: "https://hooks.slack.test/T0/B0/x" };
    await custom.createNamespacedCustomObject({
      group: "flagger.app",
      version: "v1beta1",
      namespace,
      plural: "metrictemplates",
      body: {
        apiVersion: "flagger.app/v1beta1",
        kind: "MetricTemplate",
        metadata: { name: "rps" },
        spec: metricTemplate,
      },
    });
    await custom.createNamespacedCustomObject({
      group: "flagger.app",
      version: "v1beta1",
      namespace,
      plural: "alertproviders",
      body: {
        apiVersion: "flagger.app/v1beta1",
        kind: "AlertProvider",
        metadata: { name: "slack" },
        spec: alertProvider,
      },
    });
    assert.deepEqual(await operator.metricTemplate(namespace, "rps"), metricTemplate);
    assert.deepEqual(await operator.alertProvider(namespace, "slack"), alertProvider);
  });

  test("a refused read says which permission is missing", async () => {
    const nobody = await serviceAccountWithoutRights(admin, core);
    await assert.rejects(nobody.secret(namespace, "prom-auth"), (error: unknown) => {
      assert.ok(error instanceof AnalysisResourceError);
      assert.equal(
        error.message,
        `cannot read Secret ${namespace}/prom-auth: forbidden; the operator's role needs "get" on secrets in namespace ${namespace}`,
      );
      return true;
    });
    await assert.rejects(
      nobody.metricTemplate(namespace, "rps"),
      new RegExp(`needs "get" on metrictemplates\\.flagger\\.app in namespace ${namespace}`),
    );
  });
});

/** Analysis resources read with a fresh service account that no role is bound to. */
async function serviceAccountWithoutRights(admin: KubeConfig, core: CoreV1Api) {
  await core.createNamespacedServiceAccount({ namespace, body: { metadata: { name: "nobody" } } });
  const request = await core.createNamespacedServiceAccountToken({
    namespace,
    name: "nobody",
    body: { spec: { expirationSeconds: 600 } },
  });
  const cluster = admin.getCurrentCluster();
  assert.ok(cluster && request.status?.token);
  const kc = new KubeConfig();
  kc.loadFromOptions({
    clusters: [cluster],
    users: [{ name: "nobody", token: request.status.token }],
    contexts: [{ name: "nobody", cluster: cluster.name, user: "nobody" }],
    currentContext: "nobody",
  });
  return kubeAnalysisResources(kc);
}
