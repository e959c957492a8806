/**
 * What a user has in the cluster before a Canary of each traffic provider, and the spec fields
 * that name it: the Ingress nginx and skipper copy, the ApisixRoute apisix copies, App Mesh's
 * mesh. Shared by the end-to-end provider test and `bench:api`.
 */
import type { CanarySpec, Provider } from "../../src/api/canary.ts";
import { RESOURCES } from "../../src/kube/resources.ts";
import { admin } from "./kube-support.ts";

export interface ProviderFixture {
  readonly provider: Provider;
  /** Routes all or nothing (blue/green only): its step is the switch to the canary. */
  readonly switchOnly?: true;
  /** Creates the user's objects for the Canary `name` (target and apex Service `name`); returns the spec fields naming them. */
  prepare(name: string): Promise<Partial<CanarySpec>>;
}

const nothing = async (): Promise<Partial<CanarySpec>> => ({});

/** The user's Ingress for the apex Service. */
async function ingress(namespace: string, name: string): Promise<Partial<CanarySpec>> {
  await admin.create(RESOURCES.ingresses, namespace, {
    metadata: { name },
    spec: {
      rules: [
        {
          host: `${name}.example.test`,
          http: {
            paths: [{ path: "/", pathType: "Prefix", backend: { service: { name, port: { number: 80 } } } }],
          },
        },
      ],
    },
  });
  return { ingressRef: { apiVersion: "networking.k8s.io/v1", kind: "Ingress", name } };
}

/** The user's ApisixRoute for the apex Service. */
async function apisixRoute(namespace: string, name: string): Promise<Partial<CanarySpec>> {
  await admin.create(RESOURCES.apisixRoutes, namespace, {
    metadata: { name: `${name}-route` },
    spec: {
      http: [
        {
          name: "main",
          match: { hosts: [`${name}.example.test`], paths: ["/*"] },
          backends: [{ serviceName: name, servicePort: 80 }],
        },
      ],
    },
  });
  return { routeRef: { apiVersion: "apisix.apache.org/v2", kind: "ApisixRoute", name: `${name}-route` } };
}

const appMesh = async (): Promise<Partial<CanarySpec>> => ({
  service: { port: 80, targetPort: 8080, meshName: "global" },
});

/** The providers whose target is a Deployment, with what each needs first. */
export function providerFixtures(namespace: string): ProviderFixture[] {
  return [
    { provider: "apisix", prepare: (name) => apisixRoute(namespace, name) },
    { provider: "appmesh", prepare: appMesh },
    { provider: "appmesh:v1beta2", prepare: appMesh },
    { provider: "contour", prepare: nothing },
    { provider: "gatewayapi:v1", prepare: nothing },
    { provider: "gatewayapi:v1beta1", prepare: nothing },
    { provider: "gloo", prepare: nothing },
    { provider: "istio", prepare: nothing },
    { provider: "kubernetes", switchOnly: true, prepare: nothing },
    { provider: "kuma", prepare: nothing },
    { provider: "linkerd", prepare: nothing },
    { provider: "nginx", prepare: (name) => ingress(namespace, name) },
    { provider: "osm", prepare: nothing },
    { provider: "skipper", prepare: (name) => ingress(namespace, name) },
    { provider: "smi:v1alpha1", prepare: nothing },
    { provider: "smi:v1alpha2", prepare: nothing },
    { provider: "smi:v1alpha3", prepare: nothing },
    { provider: "traefik", prepare: nothing },
  ];
}
