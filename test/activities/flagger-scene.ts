/**
 * A Canary as Flagger leaves it in any phase, written with the admin's rights (what Flagger makes
 * under Flagger's field manager): the target (scaled to zero between rollouts, up during one),
 * Flagger's `-primary` Deployment and config copy owned by
 * the Canary, the three Services, Flagger's routing (an HTTPRoute; Istio's VirtualService and
 * DestinationRules; or, for blue/green on plain Kubernetes, the apex Service alone), the target's
 * HPA with Flagger's `-primary` copy, and Flagger's status.
 */
import { randomUUID } from "node:crypto";
import type {
  V1Deployment,
  V1OwnerReference,
  V1PodTemplateSpec,
  V2HorizontalPodAutoscaler,
} from "@kubernetes/client-node";
import { FLAGGER_FIELD_MANAGER } from "../../activities/flagger-fields.ts";
import type { CanarySpec } from "../../src/api/canary.ts";
import { targetRevision } from "../../src/controller/reconcile.ts";
import type { ConfigObject } from "../../src/kube/configs.ts";
import { RESOURCES } from "../../src/kube/resources.ts";
import type { Target } from "../../workflows/activity-port.ts";
import { neverReadyLabel } from "../harness/cluster.ts";
import { waitFor } from "../harness/process.ts";
import {
  admin,
  adminAs,
  canarySpec,
  createAvailable,
  createCanary,
  deployment,
  isSettled,
  waitForDeployment,
} from "./kube-support.ts";

/** Writes what Flagger writes, recorded under Flagger's field manager as the API server records it. */
const flagger = adminAs(FLAGGER_FIELD_MANAGER);

/** Flagger's own hashes: opaque to us, kept where they still mean what Flagger meant. */
export const FLAGGER_PROMOTED = "5f7d8c9b6";
export const FLAGGER_APPLIED = "7c6b5d4f8";

export type FlaggerPhase =
  | "Initializing"
  | "Initialized"
  | "Waiting"
  | "Progressing"
  | "WaitingPromotion"
  | "Promoting"
  | "Finalising"
  | "Succeeded"
  | "Failed";

export interface Scene {
  readonly namespace: string;
  readonly name: string;
  /** The image the primary runs: what Flagger last promoted, or copied in this rollout's promotion. */
  readonly primaryImage: string;
  /** The image of the target's template. */
  readonly targetImage: string;
  readonly phase: FlaggerPhase;
  /** The canary's weight on the route; the weight in Flagger's status follows from the phase. */
  readonly canaryWeight: number;
  /** Flagger's router: an HTTPRoute (the default), Istio, or the apex Service alone. */
  readonly provider?: "gatewayapi:v1" | "istio" | "kubernetes";
  /** The target is scaled by an HPA, which Flagger copied for the primary. */
  readonly autoscaler?: boolean;
  /** Blue/green: the iterations the analysis runs, and how many Flagger had counted. */
  readonly blueGreen?: { readonly iterations: number; readonly done: number };
  /** False when Flagger's primary never became ready (only while Initializing). */
  readonly primaryReady?: boolean;
}

/**
 * What each phase says about the objects and the status, in the order Flagger writes them: the
 * target is scaled up when a rollout starts (after the confirm-rollout gate, which is Waiting) and
 * down when it ends; lastAppliedSpec takes the target's hash when a rollout starts, and
 * lastPromotedSpec takes it on success; a phase change other than to Progressing, Waiting or
 * Promoting zeroes the status weight (but not the route's).
 */
const PHASES: Record<
  FlaggerPhase,
  {
    readonly targetUp: boolean;
    readonly applied: "none" | "promoted" | "target";
    readonly keepsWeight: boolean;
    readonly promoted: "True" | "False" | "Unknown";
  }
> = {
  Initializing: { targetUp: true, applied: "none", keepsWeight: false, promoted: "Unknown" },
  Initialized: { targetUp: false, applied: "promoted", keepsWeight: false, promoted: "True" },
  Waiting: { targetUp: false, applied: "promoted", keepsWeight: true, promoted: "Unknown" },
  Progressing: { targetUp: true, applied: "target", keepsWeight: true, promoted: "Unknown" },
  WaitingPromotion: { targetUp: true, applied: "target", keepsWeight: false, promoted: "Unknown" },
  Promoting: { targetUp: true, applied: "target", keepsWeight: true, promoted: "Unknown" },
  Finalising: { targetUp: true, applied: "target", keepsWeight: false, promoted: "Unknown" },
  Succeeded: { targetUp: false, applied: "promoted", keepsWeight: false, promoted: "True" },
  Failed: { targetUp: false, applied: "target", keepsWeight: false, promoted: "False" },
};

function ownedBy(uid: string, name: string): V1OwnerReference[] {
  return [
    {
      apiVersion: "flagger.app/v1beta1",
      kind: "Canary",
      name,
      uid,
      controller: true,
      blockOwnerDeletion: true,
    },
  ];
}

function withConfig(template: V1PodTemplateSpec, configMap: string): V1PodTemplateSpec {
  const container = template.spec?.containers[0];
  if (container)
    container.env = [{ name: "LEVEL", valueFrom: { configMapKeyRef: { name: configMap, key: "level" } } }];
  return template;
}

function specFor(scene: Scene): CanarySpec {
  const { name, provider = "gatewayapi:v1" } = scene;
  const service =
    provider === "istio"
      ? {
          port: 80,
          targetPort: 8080,
          hosts: [`${name}.example.test`],
          gateways: ["public-gateway.istio-system.svc.cluster.local"],
          trafficPolicy: { tls: { mode: "DISABLE" } },
          retries: { attempts: 3, perTryTimeout: "1s", retryOn: "gateway-error,connect-failure" },
        }
      : provider === "gatewayapi:v1"
        ? { port: 80, targetPort: 8080, gatewayRefs: [{ name: "public", namespace: "gateways" }] }
        : { port: 80, targetPort: 8080 };
  return canarySpec(name, {
    provider,
    service,
    ...(scene.blueGreen
      ? { analysis: { interval: "1s", threshold: 2, iterations: scene.blueGreen.iterations } }
      : {}),
    ...(scene.autoscaler
      ? { autoscalerRef: { apiVersion: "autoscaling/v2", kind: "HorizontalPodAutoscaler", name } }
      : {}),
  });
}

/**
 * Flagger's routing objects at the scene's weights: created once Flagger had a ready primary, owned
 * by the Canary (Flagger's routers set owner references when the mesh is in the same cluster).
 */
async function createRoutes(scene: Scene, spec: CanarySpec, owners: V1OwnerReference[]): Promise<void> {
  const { namespace, name, canaryWeight } = scene;
  const [primary, canary] = [`${name}-primary`, `${name}-canary`];
  if (spec.provider === "gatewayapi:v1") {
    const backend = (service: string, weight: number) => ({
      group: "",
      kind: "Service",
      name: service,
      port: 80,
      weight,
    });
    await flagger.create(RESOURCES.httpRoutes, namespace, {
      apiVersion: "gateway.networking.k8s.io/v1",
      kind: "HTTPRoute",
      metadata: { name, ownerReferences: owners },
      spec: {
        parentRefs: [{ name: "public", namespace: "gateways" }],
        rules: [
          {
            matches: [{ path: { type: "PathPrefix", value: "/" } }],
            backendRefs: [backend(primary, 100 - canaryWeight), backend(canary, canaryWeight)],
          },
        ],
      },
    });
  } else if (spec.provider === "istio") {
    for (const host of [canary, primary]) {
      await flagger.create(RESOURCES.destinationRules, namespace, {
        apiVersion: "networking.istio.io/v1beta1",
        kind: "DestinationRule",
        metadata: { name: host, ownerReferences: owners },
        spec: { host, trafficPolicy: spec.service?.trafficPolicy },
      });
    }
    // Flagger appends the apex host after the user's, and names destinations without a port
    // unless port discovery is on with a gateway.
    await flagger.create(RESOURCES.virtualServices, namespace, {
      apiVersion: "networking.istio.io/v1beta1",
      kind: "VirtualService",
      metadata: { name, ownerReferences: owners },
      spec: {
        hosts: [...(spec.service?.hosts ?? []), name],
        gateways: spec.service?.gateways,
        http: [
          {
            retries: spec.service?.retries,
            route: [
              { destination: { host: primary }, weight: 100 - canaryWeight },
              { destination: { host: canary }, weight: canaryWeight },
            ],
          },
        ],
      },
    });
  }
}

/** The target's HPA (as a Helm chart would ship it) and the `-primary` copy Flagger creates from it. */
async function createAutoscalers(scene: Scene, owners: V1OwnerReference[] | undefined): Promise<void> {
  const { namespace, name } = scene;
  await admin.create(RESOURCES.horizontalPodAutoscalers, namespace, {
    metadata: {
      name,
      labels: { team: "a", "app.kubernetes.io/managed-by": "Helm" },
      annotations: { "meta.helm.sh/release-name": name, "meta.helm.sh/release-namespace": namespace },
    },
    spec: {
      scaleTargetRef: { apiVersion: "apps/v1", kind: "Deployment", name },
      minReplicas: 2,
      maxReplicas: 4,
      metrics: [
        {
          type: "Resource",
          resource: { name: "cpu", target: { type: "Utilization", averageUtilization: 80 } },
        },
      ],
    },
  });
  if (!owners) return;
  // Flagger's copy: the target's labels, none of its annotations, the same bounds, metrics and behavior.
  const hpa = await admin.get<V2HorizontalPodAutoscaler>(RESOURCES.horizontalPodAutoscalers, namespace, name);
  await flagger.create(RESOURCES.horizontalPodAutoscalers, namespace, {
    metadata: { name: `${name}-primary`, labels: hpa.metadata?.labels, ownerReferences: owners },
    spec: {
      scaleTargetRef: { apiVersion: "apps/v1", kind: "Deployment", name: `${name}-primary` },
      minReplicas: hpa.spec?.minReplicas,
      maxReplicas: hpa.spec?.maxReplicas,
      metrics: hpa.spec?.metrics,
      behavior: hpa.spec?.behavior,
    },
  });
}

/** Waits for the HPA controller's first status: from then on it writes only when something changes. */
async function hpaSettled(namespace: string, name: string): Promise<void> {
  await waitFor(
    `HPA ${namespace}/${name}: status recorded`,
    async () => {
      const hpa = await admin.get<V2HorizontalPodAutoscaler>(
        RESOURCES.horizontalPodAutoscalers,
        namespace,
        name,
      );
      return (hpa.status?.conditions?.length ?? 0) > 0 ? hpa : undefined;
    },
    { timeoutMs: 30_000 },
  );
}

/**
 * The cluster as Flagger leaves a Canary in `scene.phase`: Flagger's primary (its labels, its
 * `flagger-id` pod annotation, config references pointed at the copy), the Services, routes and
 * primary HPA made by Flagger, and Flagger's status. While Initializing, only what Flagger makes
 * before the primary is ready exists: the `-primary` and `-canary` Services, the primary and its
 * config copy. Returns the Target the workflow would pass, with the revision the controller
 * computes from the target.
 */
export async function flaggerLeaves(scene: Scene): Promise<Target> {
  const { namespace, name } = scene;
  const phase = PHASES[scene.phase];
  const initializing = scene.phase === "Initializing";
  const primaryReady = scene.primaryReady ?? true;
  const config = `${name}-config`;
  await admin.create(RESOURCES.configMaps, namespace, {
    metadata: { name: config },
    data: { level: "info" },
  });
  // The test world's readiness switch: a primary made from an earlier template never gets ready,
  // the target's template has the value that does.
  const target = deployment(namespace, name, phase.targetUp ? 2 : 0, {
    image: scene.targetImage,
    labels: primaryReady ? {} : { [neverReadyLabel]: "false" },
  });
  withConfig(target.spec?.template as V1PodTemplateSpec, config);
  if (phase.targetUp) await createAvailable(target);
  else await admin.create(RESOURCES.deployments, namespace, target);

  const spec = specFor(scene);
  const t = await createCanary(namespace, name, spec);
  const canary = await admin.get(RESOURCES.canaries, namespace, name);
  const owners = ownedBy(canary.metadata?.uid ?? "", name);

  await flagger.create(RESOURCES.configMaps, namespace, {
    metadata: { name: `${config}-primary`, ownerReferences: owners },
    data: { level: "info" },
  });
  const template = withConfig(
    deployment(namespace, name, 2, { image: scene.primaryImage, neverReady: !primaryReady }).spec
      ?.template as V1PodTemplateSpec,
    `${config}-primary`,
  );
  const primary: V1Deployment = {
    metadata: {
      name: `${name}-primary`,
      namespace,
      labels: { app: `${name}-primary` },
      // Copied from the target when Flagger creates the primary; a promotion keeps only included ones.
      annotations:
        initializing || scene.phase === "Initialized"
          ? { "example.test/docs": "https://docs.example.test" }
          : {},
      ownerReferences: owners,
    },
    spec: {
      replicas: 2,
      selector: { matchLabels: { app: `${name}-primary` } },
      template: {
        metadata: {
          labels: { ...template.metadata?.labels, app: `${name}-primary` },
          annotations: { ...template.metadata?.annotations, "flagger-id": randomUUID() },
        },
        spec: template.spec,
      },
    },
  };
  if (primaryReady) await createAvailable(primary, flagger);
  else await flagger.create(RESOURCES.deployments, namespace, primary);

  const services: [string, string][] = [
    [`${name}-primary`, `${name}-primary`],
    [`${name}-canary`, name],
  ];
  if (!initializing) services.unshift([name, `${name}-primary`]);
  for (const [service, selects] of services) {
    await flagger.create(RESOURCES.services, namespace, {
      metadata: { name: service, labels: { app: service }, ownerReferences: owners },
      spec: {
        type: "ClusterIP",
        selector: { app: selects },
        ports: [{ name: "http", protocol: "TCP", port: 80, targetPort: 8080 }],
      },
    });
  }
  if (!initializing) await createRoutes(scene, spec, owners);
  if (scene.autoscaler) await createAutoscalers(scene, initializing ? undefined : owners);

  const now = new Date().toISOString();
  const iterations =
    scene.phase === "WaitingPromotion"
      ? // Flagger writes analysis.iterations - 1: -1 without iterations, which this CRD's schema refuses.
        Math.max(0, (scene.blueGreen?.iterations ?? 0) - 1)
      : scene.phase === "Progressing" || scene.phase === "Promoting"
        ? (scene.blueGreen?.done ?? 0)
        : 0;
  await admin.mergePatch(
    RESOURCES.canaries,
    namespace,
    name,
    {
      status: {
        phase: scene.phase,
        // Blue/green moves traffic without recording a weight.
        canaryWeight: phase.keepsWeight && !scene.blueGreen ? scene.canaryWeight : 0,
        failedChecks: 0,
        iterations,
        lastTransitionTime: now,
        conditions: [
          {
            type: "Promoted",
            status: phase.promoted,
            reason: scene.phase,
            message: "written by Flagger",
            lastUpdateTime: now,
            lastTransitionTime: now,
          },
        ],
        // Flagger records hashes and config checksums once the primary is ready.
        ...(initializing
          ? {}
          : {
              lastAppliedSpec: phase.applied === "target" ? FLAGGER_APPLIED : FLAGGER_PROMOTED,
              lastPromotedSpec: FLAGGER_PROMOTED,
              trackedConfigs: { [`configmap/${config}`]: "0a1b2c3d4e5f6a7b" },
            }),
      },
    },
    "status",
  );

  // The controllers have recorded every object: from here only others' writes change them.
  if (primaryReady) await waitForDeployment(namespace, `${name}-primary`, isSettled, "status settled");
  await waitForDeployment(namespace, name, isSettled, "status settled");
  if (scene.autoscaler) {
    await hpaSettled(namespace, name);
    if (!initializing) await hpaSettled(namespace, `${name}-primary`);
  }
  // The revision the controller computes from its informers: the template and the tracked config.
  const current = await admin.get<V1Deployment>(RESOURCES.deployments, namespace, name);
  const configMap = await admin.get<ConfigObject>(RESOURCES.configMaps, namespace, config);
  const revision = targetRevision(
    current,
    (kind, n) => (kind === "ConfigMap" && n === config ? configMap : undefined),
    true,
  );
  return { ...t, revision };
}

/** The resourceVersion of every object a takeover may find (undefined: not there). */
export async function versions(namespace: string, name: string): Promise<Record<string, string | undefined>> {
  const objects = {
    target: [RESOURCES.deployments, name],
    primary: [RESOURCES.deployments, `${name}-primary`],
    apex: [RESOURCES.services, name],
    primaryService: [RESOURCES.services, `${name}-primary`],
    canaryService: [RESOURCES.services, `${name}-canary`],
    configCopy: [RESOURCES.configMaps, `${name}-config-primary`],
    route: [RESOURCES.httpRoutes, name],
    virtualService: [RESOURCES.virtualServices, name],
    primaryRule: [RESOURCES.destinationRules, `${name}-primary`],
    canaryRule: [RESOURCES.destinationRules, `${name}-canary`],
    autoscaler: [RESOURCES.horizontalPodAutoscalers, name],
    primaryAutoscaler: [RESOURCES.horizontalPodAutoscalers, `${name}-primary`],
  } as const;
  const entries = await Promise.all(
    Object.entries(objects).map(async ([key, [type, object]]) => [
      key,
      (await admin.find(type, namespace, object))?.metadata?.resourceVersion,
    ]),
  );
  return Object.fromEntries(entries);
}
