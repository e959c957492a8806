/**
 * A Canary as Flagger leaves it, written with the admin client: the target (scaled to zero, or
 * up with a new image mid-rollout), Flagger's `-primary` Deployment and config copy owned by the
 * Canary, the three Services, the HTTPRoute at Flagger's weights and Flagger's status.
 */
import { randomUUID } from "node:crypto";
import type { V1Deployment, V1OwnerReference, V1PodTemplateSpec } from "@kubernetes/client-node";
import { targetRevision } from "../../src/controller/reconcile.ts";
import type { ConfigObject } from "../../src/kube/configs.ts";
import { RESOURCES } from "../../src/kube/resources.ts";
import type { Target } from "../../workflows/activity-port.ts";
import {
  admin,
  canarySpec,
  createAvailable,
  createCanary,
  deployment,
  isSettled,
  waitForDeployment,
} from "./kube-support.ts";

/** Flagger's own hashes: opaque to us, kept where they still mean what Flagger meant. */
export const FLAGGER_PROMOTED = "5f7d8c9b6";
export const FLAGGER_APPLIED = "7c6b5d4f8";

export interface Scene {
  readonly namespace: string;
  readonly name: string;
  /** The image the primary runs (what Flagger last promoted). */
  readonly primaryImage: string;
  /** The image of the target's template. */
  readonly targetImage: string;
  readonly phase: string;
  readonly canaryWeight: number;
}

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

/**
 * The cluster as Flagger leaves a Canary in `scene.phase`: Flagger's primary (its labels, its
 * `flagger-id` pod annotation, config references pointed at the copy), Services and HTTPRoute made
 * by Flagger, and Flagger's status. Returns the Target the workflow would pass with the revision
 * the controller computes from the target.
 */
export async function flaggerLeaves(scene: Scene): Promise<Target> {
  const { namespace, name } = scene;
  const config = `${name}-config`;
  await admin.create(RESOURCES.configMaps, namespace, {
    metadata: { name: config },
    data: { level: "info" },
  });
  const midRollout = scene.canaryWeight > 0;
  const target = deployment(namespace, name, midRollout ? 2 : 0, { image: scene.targetImage });
  withConfig(target.spec?.template as V1PodTemplateSpec, config);
  if (midRollout) await createAvailable(target);
  else await admin.create(RESOURCES.deployments, namespace, target);

  const spec = canarySpec(name, {
    service: { port: 80, targetPort: 8080, gatewayRefs: [{ name: "public", namespace: "gateways" }] },
  });
  const t = await createCanary(namespace, name, spec);
  const canary = await admin.get(RESOURCES.canaries, namespace, name);
  const uid = canary.metadata?.uid ?? "";

  await admin.create(RESOURCES.configMaps, namespace, {
    metadata: { name: `${config}-primary`, ownerReferences: ownedBy(uid, name) },
    data: { level: "info" },
  });
  const template = withConfig(
    deployment(namespace, name, 2, { image: scene.primaryImage }).spec?.template as V1PodTemplateSpec,
    `${config}-primary`,
  );
  const primary: V1Deployment = {
    metadata: {
      name: `${name}-primary`,
      namespace,
      labels: { app: `${name}-primary` },
      annotations: { "example.test/docs": "https://docs.example.test" },
      ownerReferences: ownedBy(uid, name),
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
  await createAvailable(primary);

  for (const [service, selects] of [
    [name, `${name}-primary`],
    [`${name}-primary`, `${name}-primary`],
    [`${name}-canary`, name],
  ] as const) {
    await admin.create(RESOURCES.services, namespace, {
      metadata: { name: service, labels: { app: service }, ownerReferences: ownedBy(uid, name) },
      spec: {
        type: "ClusterIP",
        selector: { app: selects },
        ports: [{ name: "http", protocol: "TCP", port: 80, targetPort: 8080 }],
      },
    });
  }
  const backend = (service: string, weight: number) => ({
    group: "",
    kind: "Service",
    name: service,
    port: 80,
    weight,
  });
  await admin.create(RESOURCES.httpRoutes, namespace, {
    apiVersion: "gateway.networking.k8s.io/v1",
    kind: "HTTPRoute",
    metadata: { name, ownerReferences: ownedBy(uid, name) },
    spec: {
      parentRefs: [{ name: "public", namespace: "gateways" }],
      rules: [
        {
          matches: [{ path: { type: "PathPrefix", value: "/" } }],
          backendRefs: [
            backend(`${name}-primary`, 100 - scene.canaryWeight),
            backend(`${name}-canary`, scene.canaryWeight),
          ],
        },
      ],
    },
  });

  const now = new Date().toISOString();
  const promoted = scene.phase === "Initialized" || scene.phase === "Succeeded";
  await admin.mergePatch(
    RESOURCES.canaries,
    namespace,
    name,
    {
      status: {
        phase: scene.phase,
        canaryWeight: scene.canaryWeight,
        failedChecks: 0,
        iterations: 0,
        lastAppliedSpec: promoted ? FLAGGER_PROMOTED : FLAGGER_APPLIED,
        lastPromotedSpec: FLAGGER_PROMOTED,
        lastTransitionTime: now,
        trackedConfigs: { [`configmap/${config}`]: "flagger-checksum" },
        conditions: [
          {
            type: "Promoted",
            status: promoted ? "True" : scene.phase === "Failed" ? "False" : "Unknown",
            reason: scene.phase,
            message: "written by Flagger",
            lastUpdateTime: now,
            lastTransitionTime: now,
          },
        ],
      },
    },
    "status",
  );

  // The deployment controller has recorded both Deployments: from here only others' writes change them.
  await waitForDeployment(namespace, `${name}-primary`, isSettled, "status settled");
  await waitForDeployment(namespace, name, isSettled, "status settled");
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

/** The resourceVersion of every object initialization must leave alone. */
export async function versions(namespace: string, name: string): Promise<Record<string, string | undefined>> {
  const objects = {
    target: admin.get(RESOURCES.deployments, namespace, name),
    primary: admin.get(RESOURCES.deployments, namespace, `${name}-primary`),
    route: admin.get(RESOURCES.httpRoutes, namespace, name),
    apex: admin.get(RESOURCES.services, namespace, name),
    primaryService: admin.get(RESOURCES.services, namespace, `${name}-primary`),
    canaryService: admin.get(RESOURCES.services, namespace, `${name}-canary`),
    configCopy: admin.get(RESOURCES.configMaps, namespace, `${name}-config-primary`),
  };
  const entries = await Promise.all(
    Object.entries(objects).map(async ([key, object]) => [key, (await object).metadata?.resourceVersion]),
  );
  return Object.fromEntries(entries);
}
