/**
 * A Kubernetes Service target (Flagger's "service canary"): the user's Service is the apex and
 * stays theirs; the operator keeps two copies of it, `<name>-canary` (the Service as it is now)
 * and `<name>-primary` (as it was last promoted), and the router moves traffic between them.
 * What runs behind the Service is the user's: nothing is scaled, and a copy is ready once it
 * exists, as in Flagger.
 */
import type { V1Service, V1ServicePort } from "@kubernetes/client-node";
import { targetTypeOf } from "../src/api/canary.ts";
import { type ResolvedCanarySpec, serviceNames } from "../src/api/defaults.ts";
import type { KubeClient } from "../src/kube/client.ts";
import { type CanaryIdentity, REVISION_ANNOTATION } from "../src/kube/metadata.ts";
import { RESOURCES } from "../src/kube/resources.ts";
import { serviceRevision } from "../src/kube/service-revision.ts";
import type {
  InitializeResult,
  ReadinessReport,
  Target,
  WaitReadyOptions,
} from "../workflows/activity-port.ts";
import { PRIMARY_ONLY, sameRoute } from "../workflows/decisions/routes.ts";
import { failUnlessReady, required } from "./errors.ts";
import { adopt, checkWritable } from "./ownership.ts";
import { routerFor } from "./routing/registry.ts";
import type { RouterContext } from "./routing/router.ts";
import { includedLabels, withoutTooling } from "./workload-primary.ts";

export function isServiceTarget(spec: Pick<ResolvedCanarySpec, "targetRef">): boolean {
  return targetTypeOf(spec.targetRef) === "Service";
}

type CopyRole = "primary" | "canary";

/**
 * A copy of the target Service under another name. What the API server allocates for each
 * Service (its cluster IPs, node ports) is left out so the copy gets its own; a headless target
 * gives a headless copy. The copy records the revision it was made from.
 */
export function buildServiceCopy(
  target: V1Service,
  name: string,
  spec: Pick<ResolvedCanarySpec, "service">,
  includeLabelPrefixes: readonly string[],
): V1Service {
  const {
    clusterIP,
    clusterIPs: _clusterIPs,
    healthCheckNodePort: _healthCheckNodePort,
    ...rest
  } = target.spec ?? {};
  const ports = rest.ports?.map(({ nodePort: _nodePort, ...port }): V1ServicePort => port);
  const distribution = spec.service.trafficDistribution;
  return {
    metadata: {
      name,
      namespace: target.metadata?.namespace,
      labels: includedLabels(target.metadata?.labels, includeLabelPrefixes),
      annotations: {
        ...withoutTooling(target.metadata?.annotations),
        [REVISION_ANNOTATION]: serviceRevision(target),
      },
    },
    spec: {
      ...rest,
      ...(ports === undefined ? {} : { ports }),
      ...(clusterIP === "None" ? { clusterIP } : {}),
      ...(distribution === undefined ? {} : { trafficDistribution: distribution }),
    },
  };
}

export interface ServiceTargetActivities {
  initialize(target: Target, owner: CanaryIdentity): Promise<InitializeResult>;
  /** The canary copy follows the target again, before an analysis. */
  syncCanary(target: Target, owner: CanaryIdentity): Promise<void>;
  primaryReadiness(target: Target): Promise<ReadinessReport>;
  canaryReadiness(target: Target): Promise<ReadinessReport>;
  waitCanaryReady(target: Target, options: WaitReadyOptions): Promise<void>;
  promote(target: Target, owner: CanaryIdentity): Promise<void>;
}

export function createServiceTargetActivities(deps: {
  readonly kube: KubeClient;
  readonly now: () => number;
  readonly includeLabelPrefixes: readonly string[];
  readonly routing: (target: Target) => RouterContext;
}): ServiceTargetActivities {
  const { kube, now, routing } = deps;

  function readTargetService(target: Target): Promise<V1Service> {
    const { namespace } = target.ref;
    const { name } = target.spec.targetRef;
    return required(
      kube.get<V1Service>(RESOURCES.services, namespace, name),
      `Service ${namespace}/${name} (spec.targetRef)`,
      "create it, or point spec.targetRef.name at an existing Service",
    );
  }

  /** Writes one copy of the target; the copies are the Canary's own, like a workload's primary. */
  async function applyCopy(target: Target, role: CopyRole, service: V1Service, owner: CanaryIdentity) {
    const { namespace } = target.ref;
    const name = serviceNames(target.spec)[role];
    checkWritable(
      kube,
      await kube.find<V1Service>(RESOURCES.services, namespace, name),
      {
        kind: "Service",
        namespace,
        name,
      },
      owner,
      { fix: `delete it, or rename the Service ${target.spec.targetRef.name}` },
    );
    const desired = buildServiceCopy(service, name, target.spec, deps.includeLabelPrefixes);
    const applied = await kube.apply<V1Service>(RESOURCES.services, namespace, name, desired);
    await adopt(kube, RESOURCES.services, applied, owner);
    return applied;
  }

  async function copyReadiness(target: Target, role: CopyRole): Promise<ReadinessReport> {
    const name = serviceNames(target.spec)[role];
    const copy = await kube.find<V1Service>(RESOURCES.services, target.ref.namespace, name);
    return copy
      ? { ready: true, message: `the ${role} is ready` }
      : {
          ready: false,
          message:
            role === "primary"
              ? `Service ${target.ref.namespace}/${name} (the primary) not found: delete and recreate the Canary to initialize it again`
              : `Service ${target.ref.namespace}/${name} (the canary) not found`,
        };
  }

  return {
    /**
     * The canary copy follows the target; the primary copy is made once, from the target as it is
     * then, and later only by promotion: an existing primary serves the last promoted version.
     */
    async initialize(target, owner) {
      const { namespace } = target.ref;
      const service = await readTargetService(target);
      await applyCopy(target, "canary", service, owner);
      const name = serviceNames(target.spec).primary;
      let primary = await kube.find<V1Service>(RESOURCES.services, namespace, name);
      if (primary) {
        checkWritable(kube, primary, { kind: "Service", namespace, name }, owner, {
          fix: `delete it, or rename the Service ${target.spec.targetRef.name}`,
        });
        await adopt(kube, RESOURCES.services, primary, owner);
      } else {
        primary = await applyCopy(target, "primary", service, owner);
      }
      const router = routerFor(target.spec.provider);
      await router.reconcile(routing(target), owner);
      if (!sameRoute(await router.getRoutes(routing(target)), PRIMARY_ONLY)) {
        await router.setRoutes(routing(target), PRIMARY_ONLY);
      }
      return { primaryRevision: primary.metadata?.annotations?.[REVISION_ANNOTATION] };
    },

    async syncCanary(target, owner) {
      await applyCopy(target, "canary", await readTargetService(target), owner);
    },

    primaryReadiness: (target) => copyReadiness(target, "primary"),
    canaryReadiness: (target) => copyReadiness(target, "canary"),

    async waitCanaryReady(target, options) {
      failUnlessReady(
        await copyReadiness(target, "canary"),
        target.spec.progressDeadlineSeconds,
        options,
        now(),
      );
    },

    /** The primary copy takes the target's spec as it is now (its allocated addresses kept). */
    async promote(target, owner) {
      await applyCopy(target, "primary", await readTargetService(target), owner);
      await routerFor(target.spec.provider).reconcile(routing(target), owner);
    },
  };
}
