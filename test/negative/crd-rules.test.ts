/**
 * The generated Canary CRD's own checks, on the test world's API server: what `kubectl` refuses at
 * apply time (CEL rules, bounds, patterns) and which fields cannot change on a live Canary.
 *
 * The world's flagger.app CRDs are shared with every other test, so this installs the generated
 * schema under a group of its own and removes it afterwards. Creates and updates are server-side
 * dry runs, except the Canaries the update cases start from.
 */
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { after, before, describe, test } from "node:test";
import { PROVIDERS } from "../../src/api/canary.ts";
import { customResourceDefinitions } from "../../src/kube/crds.ts";
import { requireBinary } from "../../tools/catalog.ts";
import { worldEnv } from "../harness/world-env.ts";
import { flaggerStyle } from "./flagger-style.ts";

type Spec = Record<string, unknown>;

const suffix = randomBytes(4).toString("hex");
const group = `dc-validation-${suffix}.example.com`;
const namespace = `neg-crd-${suffix}`;

interface Result {
  readonly code: number | null;
  readonly out: string;
}

function kubectl(args: string[], input?: unknown): Promise<Result> {
  return new Promise((resolve, reject) => {
    const child = spawn(requireBinary("kubectl"), ["--kubeconfig", worldEnv().kubeconfig, ...args]);
    let out = "";
    child.stdout.on("data", (chunk: Buffer) => {
      out += chunk.toString();
    });
    child.stderr.on("data", (chunk: Buffer) => {
      out += chunk.toString();
    });
    child.on("error", reject);
    child.on("close", (code) => resolve({ code, out }));
    child.stdin.end(input === undefined ? "" : JSON.stringify(input));
  });
}

async function mustRun(args: string[], input?: unknown): Promise<void> {
  const result = await kubectl(args, input);
  assert.equal(result.code, 0, `kubectl ${args.join(" ")}: ${result.out}`);
}

/** The generated Canary CRD, moved to this test's own group. */
function canaryCrd(): Record<string, unknown> {
  const crd = structuredClone(customResourceDefinitions()["canaries.yaml"]) as {
    metadata: { name: string };
    spec: { group: string; names: Record<string, unknown> };
  };
  crd.metadata.name = `canaries.${group}`;
  crd.spec.group = group;
  // Not in `kubectl get all` of anyone else using the world.
  delete crd.spec.names.categories;
  return crd;
}

function canaryObject(name: string, spec: Spec): Record<string, unknown> {
  return { apiVersion: `${group}/v1beta1`, kind: "Canary", metadata: { name, namespace }, spec };
}

function base(extra: Spec = {}, analysis: Spec = {}): Spec {
  return {
    targetRef: { apiVersion: "apps/v1", kind: "Deployment", name: "web" },
    service: { port: 80 },
    analysis: { interval: "1m", stepWeight: 10, ...analysis },
    ...extra,
  };
}

/** What the API server answers a dry-run create (op "create") or replace (op "replace") with. */
async function dryRun(op: "create" | "replace", name: string, spec: Spec): Promise<Result> {
  return kubectl([op, "--dry-run=server", "-f", "-"], canaryObject(name, spec));
}

async function refused(op: "create" | "replace", name: string, spec: Spec, message: string): Promise<void> {
  const result = await dryRun(op, name, spec);
  assert.notEqual(result.code, 0, `expected the API server to refuse it, got: ${result.out}`);
  assert.ok(result.out.includes(message), `expected ${JSON.stringify(message)} in:\n${result.out}`);
}

async function accepted(op: "create" | "replace", name: string, spec: Spec): Promise<void> {
  const result = await dryRun(op, name, spec);
  assert.equal(result.code, 0, `expected the API server to accept it, got: ${result.out}`);
}

describe("the generated Canary CRD on a real API server", () => {
  before(async () => {
    await mustRun(["create", "-f", "-"], canaryCrd());
    await mustRun(["wait", "--for=condition=Established", `crd/canaries.${group}`, "--timeout=60s"]);
    await mustRun(["create", "namespace", namespace]);
  });

  after(async () => {
    await kubectl(["delete", "namespace", namespace, "--wait=false"]);
    await kubectl(["delete", "crd", `canaries.${group}`, "--wait=false"]);
  });

  test("the MetricTemplate and AlertProvider CRDs are accepted too", async () => {
    for (const file of ["metrictemplates.yaml", "alertproviders.yaml"]) {
      const crd = structuredClone(customResourceDefinitions()[file]) as {
        metadata: { name: string };
        spec: { group: string; names: { plural: string } };
      };
      crd.metadata.name = `${crd.spec.names.plural}.${group}`;
      crd.spec.group = group;
      await mustRun(["create", "--dry-run=server", "-f", "-"], crd);
    }
  });

  describe("kubectl apply refuses what can never work", () => {
    const cases: [string, Spec, string][] = [
      [
        "an autoscaler kind Flagger does not know either",
        base({
          autoscalerRef: { apiVersion: "autoscaling.k8s.io/v1", kind: "VerticalPodAutoscaler", name: "web" },
        }),
        'Unsupported value: "VerticalPodAutoscaler": supported values: "HorizontalPodAutoscaler", "ScaledObject"',
      ],
      [
        "a DaemonSet with an autoscaler",
        base({
          targetRef: { apiVersion: "apps/v1", kind: "DaemonSet", name: "web" },
          autoscalerRef: { apiVersion: "autoscaling/v2", kind: "HorizontalPodAutoscaler", name: "web" },
        }),
        "autoscalerRef cannot be used with a DaemonSet target",
      ],
      [
        "a threshold range no value can pass",
        base({}, { metrics: [{ name: "request-success-rate", thresholdRange: { min: 99, max: 90 } }] }),
        "min must not exceed max: no value could pass",
      ],
      [
        "step weights going down",
        base({}, { stepWeight: undefined, stepWeights: [10, 5, 20] }),
        "must be strictly increasing, e.g. [5, 10, 25, 50]",
      ],
      [
        "a step weight repeated",
        base({}, { stepWeight: undefined, stepWeights: [10, 10] }),
        "must be strictly increasing, e.g. [5, 10, 25, 50]",
      ],
      [
        "a step weight above 100",
        base({}, { stepWeight: undefined, stepWeights: [50, 120] }),
        "spec.analysis.stepWeights[1]: Invalid value: 120: spec.analysis.stepWeights[1] in body should be less than or equal to 100",
      ],
      [
        "minReplicas above maxReplicas",
        base({
          autoscalerRef: {
            apiVersion: "autoscaling/v2",
            kind: "HorizontalPodAutoscaler",
            name: "web",
            primaryScalerReplicas: { minReplicas: 5, maxReplicas: 2 },
          },
        }),
        "minReplicas must not exceed maxReplicas",
      ],
      [
        "a gate timeout on a webhook that is no gate",
        base({}, { webhooks: [{ name: "load", url: "http://load.test/", gateTimeout: "1m" }] }),
        "gateTimeout applies only to gate webhooks (type confirm-rollout, confirm-traffic-increase, confirm-promotion): remove it",
      ],
      [
        "one cookie for both sides",
        base({}, { sessionAffinity: { cookieName: "canary", primaryCookieName: "canary" } }),
        "primaryCookieName must differ from cookieName",
      ],
      [
        "an ftp webhook",
        base({}, { webhooks: [{ name: "load", url: "ftp://load.test/" }] }),
        "spec.analysis.webhooks[0].url in body should match '^[Hh][Tt][Tt][Pp][Ss]?://'",
      ],
      [
        "a million iterations",
        base({}, { stepWeight: undefined, iterations: 1_000_000 }),
        "spec.analysis.iterations in body should be less than or equal to 1000",
      ],
      [
        "a target name that is no Kubernetes name",
        base({ targetRef: { apiVersion: "apps/v1", kind: "Deployment", name: "Web_1" } }),
        "spec.targetRef.name in body should match",
      ],
    ];
    for (const [title, spec, message] of cases) {
      test(title, () => refused("create", "bad", spec, message));
    }
  });

  describe("manifests in the style of Flagger's documentation are accepted", () => {
    for (const [title, spec] of flaggerStyle) {
      test(title, () => accepted("create", "flagger-style", spec));
    }
    // Flagger accepts these and reinterprets them; validation warns (src/api/leniency.ts).
    const reinterpreted: [string, Spec][] = [
      ["stepWeight beside stepWeights", base({}, { stepWeights: [10, 20] })],
      ["maxWeight below stepWeight", base({}, { maxWeight: 5 })],
      ["stepWeight beside iterations", base({}, { iterations: 5 })],
      ["zeros meaning unset", base({}, { stepWeight: 0, stepWeights: [10], threshold: 0, maxWeight: 0 })],
      ["an interval of 0s", base({}, { interval: "0s" })],
      ["a metric without thresholdRange", base({}, { metrics: [{ name: "request-success-rate" }] })],
      [
        "no analysis",
        { targetRef: { apiVersion: "apps/v1", kind: "Deployment", name: "web" }, service: { port: 80 } },
      ],
      [
        "a Knative Service without service",
        {
          provider: "knative",
          targetRef: { apiVersion: "serving.knative.dev/v1", kind: "Service", name: "web" },
          analysis: { stepWeight: 10 },
        },
      ],
    ];
    for (const [title, spec] of reinterpreted) {
      test(title, () => accepted("create", "flagger-style", spec));
    }
    // Every provider Flagger names is accepted: one the operator cannot route for is a status error, never a refused apply.
    for (const provider of PROVIDERS) {
      test(`provider ${provider}`, () => accepted("create", "flagger-style", base({ provider })));
    }
  });

  describe("fields a live rollout is built on cannot change", () => {
    // One Canary that leaves service.name and provider to their defaults, one that sets both.
    const defaulted = base();
    const pinned = base({ provider: "istio", service: { port: 80, name: "web-svc" } });
    const serviceTarget = base({
      provider: "istio",
      targetRef: { apiVersion: "v1", kind: "Service", name: "web" },
    });

    before(async () => {
      await mustRun(["create", "-f", "-"], canaryObject("defaulted", defaulted));
      await mustRun(["create", "-f", "-"], canaryObject("pinned", pinned));
      await mustRun(["create", "-f", "-"], canaryObject("service-target", serviceTarget));
    });

    test("a new target is refused with what to do", () =>
      refused(
        "replace",
        "defaulted",
        { ...defaulted, targetRef: { apiVersion: "apps/v1", kind: "Deployment", name: "web2" } },
        "targetRef cannot change on a live Canary: delete the Canary and create it again with the new target",
      ));

    test("a target of another kind is refused", () =>
      refused(
        "replace",
        "defaulted",
        { ...defaulted, targetRef: { apiVersion: "apps/v1", kind: "DaemonSet", name: "web" } },
        "targetRef cannot change on a live Canary",
      ));

    test("a Kubernetes Service target cannot become a Knative Service of the same name", () =>
      refused(
        "replace",
        "service-target",
        {
          ...serviceTarget,
          targetRef: { apiVersion: "serving.knative.dev/v1", kind: "Service", name: "web" },
        },
        "targetRef cannot change on a live Canary",
      ));

    test("a service name set where there was none is refused", () =>
      refused(
        "replace",
        "defaulted",
        { ...defaulted, service: { port: 80, name: "other" } },
        "service.name cannot change on a live Canary: delete the Canary and create it again with the new name",
      ));

    test("a service name spelled out as the one already used is accepted", () =>
      accepted("replace", "defaulted", { ...defaulted, service: { port: 80, name: "web" } }));

    test("a provider set where there was none is refused", () =>
      refused(
        "replace",
        "defaulted",
        { ...defaulted, provider: "istio" },
        "provider cannot be set, changed or removed on a live Canary: delete the Canary and create it again with the new provider",
      ));

    test("a changed provider is refused", () =>
      refused(
        "replace",
        "pinned",
        { ...pinned, provider: "kubernetes" },
        "provider cannot be set, changed or removed",
      ));

    test("a removed provider is refused", () => {
      const { provider: _provider, ...rest } = pinned;
      return refused("replace", "pinned", rest, "provider cannot be set, changed or removed");
    });

    test("a removed service name is refused", () =>
      refused("replace", "pinned", { ...pinned, service: { port: 80 } }, "service.name cannot change"));

    test("everything else may change: interval, weights, port, webhooks", () =>
      accepted("replace", "pinned", {
        ...pinned,
        service: { port: 8080, name: "web-svc" },
        analysis: {
          interval: "30s",
          stepWeights: [5, 50],
          webhooks: [{ name: "load", url: "http://load.test/" }],
        },
      }));
  });
});
