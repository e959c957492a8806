/**
 * Shared by the CRD tests: kubectl against the test world (its output and exit code, the input
 * as JSON on stdin), and the generated Canary CRD moved to a test's own group, so other tests
 * using the world's flagger.app CRDs never see it.
 */
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { customResourceDefinitions } from "../../src/kube/crds.ts";
import { requireBinary } from "../../tools/catalog.ts";
import { worldEnv } from "../harness/world-env.ts";

export interface Result {
  readonly code: number | null;
  readonly out: string;
}

export function kubectl(args: string[], input?: unknown): Promise<Result> {
  return new Promise((resolve, reject) => {
    const child = spawn(requireBinary("kubectl"), ["--kubeconfig", worldEnv().kubeconfig, ...args]);
    let out = "";
    child.stdout.on("data", (chunk: Buffer) => {
      out += chunk.toString();
    });
    child.stderr.on("data", (chunk: Buffer) => {
      out += chunk.toString();
    });
    child.on("error", reject);
    child.on("close", (code) => resolve({ code, out }));
    child.stdin.end(input === undefined ? "" : JSON.stringify(input));
  });
}

export async function mustRun(args: string[], input?: unknown): Promise<void> {
  const result = await kubectl(args, input);
  assert.equal(result.code, 0, `kubectl ${args.join(" ")}: ${result.out}`);
}

/**
 * The generated Canary CRD under `group`, with `names` of its own when given (else Canary's,
 * without categories, so it is not in anyone's `kubectl get all`).
 */
export function canaryCrdIn(group: string, names?: Record<string, string>): Record<string, unknown> {
  const crd = structuredClone(customResourceDefinitions()["canaries.yaml"]) as {
    metadata: { name: string };
    spec: { group: string; names: Record<string, unknown> };
  };
  if (names) crd.spec.names = names;
  else delete crd.spec.names.categories;
  crd.metadata.name = `${crd.spec.names.plural}.${group}`;
  crd.spec.group = group;
  return crd;
}
