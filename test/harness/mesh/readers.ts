/**
 * TEST CODE ONLY: the mesh simulator's reader for each kind of routing object. A provider's
 * reader lives in its own file here; add it to this table to simulate the provider's traffic.
 */
import { readApisixRouteSplit } from "./apisix.ts";
import { readAppMeshV1beta1Split, readAppMeshV1beta2Split } from "./appmesh.ts";
import { readHttpProxySplit } from "./contour.ts";
import { readHttpRouteSplit, readHttpRouteV1beta1Split } from "./gatewayapi.ts";
import { readRouteTableSplit } from "./gloo.ts";
import { readVirtualServiceSplit } from "./istio.ts";
import { readKnativeSplit } from "./knative.ts";
import { readTrafficRouteSplit } from "./kuma.ts";
import { readNginxSplit } from "./nginx.ts";
import { readServiceSplit } from "./service.ts";
import { readSkipperSplit } from "./skipper.ts";
import { readTrafficSplit } from "./smi.ts";
import type { SplitReader } from "./split.ts";
import { readTraefikServiceSplit } from "./traefik.ts";

export const readers = {
  virtualservice: readVirtualServiceSplit,
  httproute: readHttpRouteSplit,
  "httproute-v1beta1": readHttpRouteV1beta1Split,
  service: readServiceSplit,
  nginx: readNginxSplit,
  skipper: readSkipperSplit,
  trafficsplit: readTrafficSplit,
  contour: readHttpProxySplit,
  traefik: readTraefikServiceSplit,
  gloo: readRouteTableSplit,
  apisix: readApisixRouteSplit,
  kuma: readTrafficRouteSplit,
  appmesh: readAppMeshV1beta1Split,
  "appmesh-v1beta2": readAppMeshV1beta2Split,
  knative: readKnativeSplit,
} satisfies Record<string, SplitReader>;

export type RouterKind = keyof typeof readers;
