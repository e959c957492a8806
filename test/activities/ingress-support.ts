/**
 * Shared pieces of the Ingress-based router tests (nginx, skipper): the user's Ingress, the
 * router's context and owner for calling a router directly, and the failure a refusal raises.
 */
import assert from "node:assert/strict";
import type { V1Ingress } from "@kubernetes/client-node";
import { ApplicationFailure } from "@temporalio/common";
import { DEFAULT_WORKLOAD_SETTINGS } from "../../activities/kubernetes.ts";
import type { RouterContext } from "../../activities/routing/router.ts";
import type { CanarySpec } from "../../src/api/canary.ts";
import { applyDefaults, type ResolvedCanarySpec } from "../../src/api/defaults.ts";
import type { KubeClient } from "../../src/kube/client.ts";
import type { CanaryIdentity } from "../../src/kube/metadata.ts";
import { RESOURCES } from "../../src/kube/resources.ts";
import { NON_RETRYABLE_ERRORS } from "../../workflows/activity-port.ts";
import { admin, canarySpec } from "./kube-support.ts";

/**
 * The user's Ingress: `/` to `service`, `/static` to another Service, with metadata of the
 * user's, of kubectl and of Flux.
 */
export function userIngress(
  name: string,
  service: string,
  annotations: Record<string, string> = {},
): V1Ingress {
  return {
    metadata: {
      name,
      labels: { app: name, "kustomize.toolkit.fluxcd.io/name": "apps" },
      annotations: { "kubectl.kubernetes.io/last-applied-configuration": "{}", ...annotations },
    },
    spec: {
      ingressClassName: "edge",
      rules: [
        {
          host: `${name}.example.test`,
          http: {
            paths: [
              {
                path: "/",
                pathType: "Prefix",
                backend: { service: { name: service, port: { number: 80 } } },
              },
              {
                path: "/static",
                pathType: "Prefix",
                backend: { service: { name: "assets", port: { name: "http" } } },
              },
            ],
          },
        },
      ],
    },
  };
}

export function ingressCanarySpec(
  provider: "nginx" | "skipper",
  target: string,
  overrides: Partial<CanarySpec> = {},
): CanarySpec {
  return canarySpec(target, {
    provider,
    ingressRef: { apiVersion: "networking.k8s.io/v1", kind: "Ingress", name: target },
    ...overrides,
  });
}

export async function readIngress(namespace: string, name: string): Promise<V1Ingress> {
  return admin.get<V1Ingress>(RESOURCES.ingresses, namespace, name);
}

export async function ingressNames(namespace: string): Promise<string[]> {
  const list = await admin.list<V1Ingress>(RESOURCES.ingresses, namespace);
  return list.items.map((i) => i.metadata?.name ?? "").sort();
}

export function routerContext(kube: KubeClient, namespace: string, spec: ResolvedCanarySpec): RouterContext {
  return { kube, namespace, spec, revision: undefined, settings: DEFAULT_WORKLOAD_SETTINGS };
}

/** The spec with defaults but without validation, for refusals validation may one day catch first. */
export function unvalidated(spec: CanarySpec): ResolvedCanarySpec {
  return applyDefaults(spec);
}

export async function canaryOwner(namespace: string, name: string): Promise<CanaryIdentity> {
  const canary = await admin.get<{ metadata: { uid: string } }>(RESOURCES.canaries, namespace, name);
  return { name, uid: canary.metadata.uid };
}

/** Asserts `promise` fails with a non-retryable failure of `type` whose message matches `message`. */
export async function rejectsWith(
  promise: Promise<unknown>,
  type: keyof typeof NON_RETRYABLE_ERRORS,
  message: RegExp,
): Promise<void> {
  await assert.rejects(promise, (err: unknown) => {
    assert.ok(err instanceof ApplicationFailure, String(err));
    assert.equal(err.type, NON_RETRYABLE_ERRORS[type]);
    assert.match(err.message, message);
    return true;
  });
}
