/**
 * Regenerates the routing CRDs the test world installs, from the Go modules pinned in
 * tools/versions.json: Gateway API's standard-channel HTTPRoute, and Istio's VirtualService and
 * DestinationRule. Run: node test/data/crds/update.ts (needs Go and the module proxy).
 */
import { execFileSync } from "node:child_process";
import { readFileSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { dumpYaml, loadAllYaml } from "@kubernetes/client-node";
import { versions } from "../../../tools/catalog.ts";

const here = dirname(fileURLToPath(import.meta.url));

function moduleDir(module: string, version: string): string {
  const out = execFileSync("go", ["mod", "download", "-json", `${module}@${version}`], {
    env: { ...process.env, GOFLAGS: "-mod=mod" },
  });
  return (JSON.parse(out.toString()) as { Dir: string }).Dir;
}

const gateway = moduleDir("sigs.k8s.io/gateway-api", versions["gateway-api"]);
writeFileSync(
  join(here, "gateway-api-httproutes.yaml"),
  readFileSync(join(gateway, "config/crd/standard/gateway.networking.k8s.io_httproutes.yaml")),
);

const istio = moduleDir("istio.io/api", versions["istio-api"]);
const wanted = new Set(["virtualservices.networking.istio.io", "destinationrules.networking.istio.io"]);
const docs = loadAllYaml(
  readFileSync(join(istio, "kubernetes/customresourcedefinitions.gen.yaml"), "utf8"),
).filter((doc) => wanted.has((doc as { metadata?: { name?: string } }).metadata?.name ?? ""));
if (docs.length !== wanted.size)
  throw new Error(`found ${docs.length} of the Istio CRDs ${[...wanted].join(", ")}`);
writeFileSync(join(here, "istio-networking.yaml"), docs.map((doc) => dumpYaml(doc)).join("---\n"));
