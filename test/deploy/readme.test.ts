/**
 * The README's first canary is true: the operator accepts its Canary, and the API server accepts
 * both objects (server-side dry run, so nothing is stored).
 */
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, it } from "node:test";
import { validateCanary } from "../../src/api/validate.ts";
import { dryRunApply, parseManifests, repo, restrictedNamespace } from "./support.ts";

const namespace = restrictedNamespace("deploy-readme");

/** The first YAML block of the README's "Install on a cluster" section. */
function firstCanaryYaml(): string {
  const readme = readFileSync(join(repo, "README.md"), "utf8");
  const section = readme.split(/^## Install on a cluster$/m)[1]?.split(/^## /m)[0];
  assert.ok(section, 'README has a section "Install on a cluster"');
  const block = section.match(/^```yaml\n([\s\S]*?)^```$/m)?.[1];
  assert.ok(block, "the section has a YAML block");
  return block;
}

describe("README: Install on a cluster", () => {
  it("shows a Deployment and a Canary that targets it, which the operator accepts", () => {
    const objects = parseManifests(firstCanaryYaml());
    assert.deepEqual(
      objects.map((o) => o.kind),
      ["Deployment", "Canary"],
    );
    const canary = objects[1] as { spec?: { targetRef?: { name?: string } } };
    assert.equal(canary.spec?.targetRef?.name, objects[0]?.metadata?.name);
    const validation = validateCanary(canary.spec);
    assert.ok(validation.ok, `the Canary is invalid: ${validation.ok ? "" : validation.errors.join("; ")}`);
    assert.deepEqual(validation.warnings, []);
  });

  it("is accepted by the API server and its CRD schema", async () => {
    const yaml = firstCanaryYaml().replaceAll(/^( {2}namespace:) demo$/gm, `$1 ${namespace}`);
    const result = await dryRunApply(yaml);
    assert.equal(result.code, 0, result.stderr);
    assert.match(result.stdout, /canary\.flagger\.app\/hello created \(server dry run\)/);
  });
});
