/**
 * Shared by the router tests: a router refuses specs it cannot route, with an InvalidSpec naming
 * the field, before writing anything (only the listed reads happen).
 */
import assert from "node:assert/strict";
import { ApplicationFailure } from "@temporalio/common";
import { DEFAULT_WORKLOAD_SETTINGS } from "../../activities/kubernetes.ts";
import type { Router } from "../../activities/routing/router.ts";
import type { CanarySpec } from "../../src/api/canary.ts";
import { RESOURCES } from "../../src/kube/resources.ts";
import { NON_RETRYABLE_ERRORS } from "../../workflows/activity-port.ts";
import { admin, operatorClient, resolve } from "./kube-support.ts";

/** One case: a Canary name, its spec, and the refusal's message. */
export type Refusal = readonly [string, CanarySpec, RegExp];

export async function expectRefusals(
  router: Router,
  namespace: string,
  cases: readonly Refusal[],
  reads: Readonly<Record<string, number>>,
): Promise<void> {
  const kube = operatorClient();
  for (const [name, spec, message] of cases) {
    await admin.create(RESOURCES.canaries, namespace, { metadata: { name, namespace }, spec });
    const canary = await admin.get<{ metadata: { uid: string } }>(RESOURCES.canaries, namespace, name);
    const ctx = {
      kube,
      namespace,
      spec: resolve(spec),
      revision: undefined,
      settings: DEFAULT_WORKLOAD_SETTINGS,
    };
    const attempt = await kube.counter.measure(() =>
      router.reconcile(ctx, { name, uid: canary.metadata.uid }).then(
        () => assert.fail(`${name}: accepted`),
        (error: unknown) => {
          assert.ok(error instanceof ApplicationFailure, String(error));
          assert.equal(error.type, NON_RETRYABLE_ERRORS.invalidSpec);
          assert.match(error.message, message);
        },
      ),
    );
    assert.deepEqual(attempt.requests, reads, `${name}: nothing written`);
  }
}
