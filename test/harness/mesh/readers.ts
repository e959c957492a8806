/**
 * TEST CODE ONLY: the mesh simulator's reader for each kind of routing object. A provider's
 * reader lives in its own file here; add it to this table to simulate the provider's traffic.
 */
import { readHttpRouteSplit, readHttpRouteV1beta1Split } from "./gatewayapi.ts";
import { readVirtualServiceSplit } from "./istio.ts";
import { readServiceSplit } from "./service.ts";
import type { SplitReader } from "./split.ts";

export const readers = {
  virtualservice: readVirtualServiceSplit,
  httproute: readHttpRouteSplit,
  "httproute-v1beta1": readHttpRouteV1beta1Split,
  service: readServiceSplit,
} satisfies Record<string, SplitReader>;

export type RouterKind = keyof typeof readers;
