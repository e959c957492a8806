/**
 * Regenerates the routing CRDs the test world installs, from the Go modules pinned in
 * tools/versions.json. Each source names its module, the files in it and, for a file holding
 * many CRDs, which ones to keep. Run: node test/data/crds/update.ts [output…] (needs Go and the
 * module proxy), then `npx biome format --write test/data/crds`; without arguments it regenerates
 * every file.
 */
import { execFileSync } from "node:child_process";
import { readFileSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { dumpYaml, loadAllYaml } from "@kubernetes/client-node";
import { versions } from "../../../tools/catalog.ts";

const here = dirname(fileURLToPath(import.meta.url));

interface Source {
  /** The file written here. */
  readonly output: string;
  readonly module: string;
  /** Key of tools/versions.json holding the module's version. */
  readonly version: keyof typeof versions;
  /** Paths inside the module. */
  readonly files: readonly string[];
  /** CRD names to keep; all CRDs of the files when absent. */
  readonly keep?: readonly string[];
}

const sources: readonly Source[] = [
  {
    output: "gateway-api-httproutes.yaml",
    module: "sigs.k8s.io/gateway-api",
    version: "gateway-api",
    files: ["config/crd/standard/gateway.networking.k8s.io_httproutes.yaml"],
  },
  {
    output: "istio-networking.yaml",
    module: "istio.io/api",
    version: "istio-api",
    files: ["kubernetes/customresourcedefinitions.gen.yaml"],
    keep: ["virtualservices.networking.istio.io", "destinationrules.networking.istio.io"],
  },
  {
    output: "knative-serving.yaml",
    module: "knative.dev/serving",
    version: "knative-serving",
    files: ["config/core/300-resources/service.yaml", "config/core/300-resources/revision.yaml"],
  },
  {
    output: "contour-httpproxies.yaml",
    module: "github.com/projectcontour/contour",
    version: "contour",
    files: ["examples/contour/01-crds.yaml"],
    keep: ["httpproxies.projectcontour.io"],
  },
  {
    output: "traefik-traefikservices.yaml",
    module: "github.com/traefik/traefik/v3",
    version: "traefik",
    files: ["docs/content/reference/dynamic-configuration/kubernetes-crd-definition-v1.yml"],
    keep: ["traefikservices.traefik.io"],
  },
  {
    output: "keda-scaledobjects.yaml",
    module: "github.com/kedacore/keda/v2",
    version: "keda",
    files: ["config/crd/bases/keda.sh_scaledobjects.yaml"],
  },
];

function moduleDir(module: string, version: string): string {
  const out = execFileSync("go", ["mod", "download", "-json", `${module}@${version}`], {
    env: { ...process.env, GOFLAGS: "-mod=mod" },
  });
  return (JSON.parse(out.toString()) as { Dir: string }).Dir;
}

const wanted = process.argv.slice(2);
for (const source of sources) {
  if (wanted.length > 0 && !wanted.includes(source.output)) continue;
  const dir = moduleDir(source.module, versions[source.version]);
  const [only] = source.files;
  if (!source.keep && source.files.length === 1 && only !== undefined) {
    // A file of CRDs alone is kept byte for byte.
    writeFileSync(join(here, source.output), readFileSync(join(dir, only)));
    process.stdout.write(`${source.output}: ${only}\n`);
    continue;
  }
  const docs = source.files.flatMap((file) => loadAllYaml(readFileSync(join(dir, file), "utf8")));
  const crds = docs.filter((doc) => (doc as { kind?: string } | null)?.kind === "CustomResourceDefinition");
  const name = (doc: unknown) => (doc as { metadata?: { name?: string } }).metadata?.name ?? "";
  const kept = source.keep ? crds.filter((doc) => source.keep?.includes(name(doc))) : crds;
  if (source.keep && kept.length !== source.keep.length) {
    throw new Error(`${source.module}: found ${kept.length} of the CRDs ${source.keep.join(", ")}`);
  }
  writeFileSync(join(here, source.output), kept.map((doc) => dumpYaml(doc)).join("---\n"));
  process.stdout.write(`${source.output}: ${kept.map(name).join(", ")}\n`);
}
