/** The router for a Canary's provider: `spec.provider`, already defaulted to the operator's. */
import { type Provider, SUPPORTED_PROVIDERS, type SupportedProvider } from "../../src/api/canary.ts";
import { invalidSpec } from "../errors.ts";
import { gatewayApiRouter, gatewayApiV1beta1Router } from "./gatewayapi.ts";
import { istioRouter } from "./istio.ts";
import { kubernetesRouter } from "./kubernetes.ts";
import type { Router } from "./router.ts";

// Keyed by the supported list, which validation also reads: a router cannot exist unlisted or lack one.
const routers: Record<SupportedProvider, Router> = {
  "gatewayapi:v1": gatewayApiRouter,
  "gatewayapi:v1beta1": gatewayApiV1beta1Router,
  istio: istioRouter,
  kubernetes: kubernetesRouter,
};

export { SUPPORTED_PROVIDERS };

export function routerFor(provider: Provider): Router {
  const router = (routers as Partial<Record<Provider, Router>>)[provider];
  if (!router) {
    throw invalidSpec(
      `provider ${provider} is not supported yet: set spec.provider to one of ${SUPPORTED_PROVIDERS.join(", ")}`,
    );
  }
  return router;
}
