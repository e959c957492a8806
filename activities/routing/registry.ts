/** The router for a Canary's provider: `spec.provider`, already defaulted to the operator's. */
import type { Provider } from "../../src/api/canary.ts";
import { invalidSpec } from "../errors.ts";
import { GATEWAY_PROVIDER, gatewayApiRouter } from "./gatewayapi.ts";
import { istioRouter } from "./istio.ts";
import { kubernetesRouter } from "./kubernetes.ts";
import type { Router } from "./router.ts";

const routers: Partial<Record<Provider, Router>> = {
  [GATEWAY_PROVIDER]: gatewayApiRouter,
  istio: istioRouter,
  kubernetes: kubernetesRouter,
};

export const SUPPORTED_PROVIDERS = Object.keys(routers) as Provider[];

export function routerFor(provider: Provider): Router {
  const router = routers[provider];
  if (!router) {
    throw invalidSpec(
      `provider ${provider} is not supported yet: set spec.provider to one of ${SUPPORTED_PROVIDERS.join(", ")}`,
    );
  }
  return router;
}
