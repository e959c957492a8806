/** The router for a Canary's provider: `spec.provider`, already defaulted to the operator's. */
import type { Provider } from "../../src/api/canary.ts";
import { apisixRouter } from "./apisix.ts";
import { appMeshRouter, appMeshV1beta2Router } from "./appmesh.ts";
import { contourRouter } from "./contour.ts";
import { gatewayApiRouter, gatewayApiV1beta1Router } from "./gatewayapi.ts";
import { glooRouter } from "./gloo.ts";
import { istioRouter } from "./istio.ts";
import { knativeRouter } from "./knative.ts";
import { kubernetesRouter } from "./kubernetes.ts";
import { kumaRouter } from "./kuma.ts";
import { nginxRouter } from "./nginx.ts";
import type { Router } from "./router.ts";
import { skipperRouter } from "./skipper.ts";
import { smiRouters } from "./smi.ts";
import { traefikRouter } from "./traefik.ts";

// Keyed by every provider name the API accepts: none can lack a router.
const routers: Record<Provider, Router> = {
  appmesh: appMeshRouter,
  "appmesh:v1beta2": appMeshV1beta2Router,
  apisix: apisixRouter,
  contour: contourRouter,
  "gatewayapi:v1": gatewayApiRouter,
  "gatewayapi:v1beta1": gatewayApiV1beta1Router,
  gloo: glooRouter,
  istio: istioRouter,
  knative: knativeRouter,
  kubernetes: kubernetesRouter,
  kuma: kumaRouter,
  nginx: nginxRouter,
  skipper: skipperRouter,
  traefik: traefikRouter,
  ...smiRouters,
};

export function routerFor(provider: Provider): Router {
  return routers[provider];
}
