/**
 * The skipper router against the real API server, as the operator's service account: initialize
 * creates only the canary copy of the user's Ingress (owned, each path to the apex Service split
 * into the primary and canary Services) and never touches the user's; weight steps and the
 * blue/green switch are one patch each, write Skipper's backend weights and route predicate, and
 * round trip through getRoutes; a reconcile with nothing changed writes nothing; finalize deletes
 * the copy; A/B testing, mirroring and a missing ingressRef are refused.
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { SKIPPER_ANNOTATIONS as A, skipperRouter } from "../../activities/routing/skipper.ts";
import { RESOURCES } from "../../src/kube/resources.ts";
import { PRIMARY_ONLY, routeTo } from "../../workflows/decisions/routes.ts";
import {
  canaryOwner,
  ingressCanarySpec,
  ingressNames,
  readIngress,
  rejectsWith,
  routerContext,
  unvalidated,
  userIngress,
} from "./ingress-support.ts";
import {
  admin,
  createAvailable,
  createCanary,
  deployment,
  operatorActivities,
  testNamespace,
} from "./kube-support.ts";

const namespace = testNamespace("routing-skipper");

/** The copy's routing annotations, backend weights parsed. */
async function routing(name: string): Promise<{ weights: unknown; predicate?: string }> {
  const annotations = (await readIngress(namespace, name)).metadata?.annotations ?? {};
  return {
    weights: JSON.parse(annotations[A.backendWeights] ?? "null"),
    predicate: annotations[A.predicate],
  };
}

describe("skipper router", () => {
  it("creates an owned copy splitting the user's paths between primary and canary, one patch a step", async () => {
    await createAvailable(deployment(namespace, "web", 1));
    await admin.create(
      RESOURCES.ingresses,
      namespace,
      userIngress("web", "web", {
        [A.predicate]: 'Method("GET") && Weight(100)',
        "zalando.org/skipper-filter": 'setRequestHeader("X-Env", "prod")',
      }),
    );
    const user = await readIngress(namespace, "web");
    const target = await createCanary(namespace, "web", ingressCanarySpec("skipper", "web"));
    const { kube, activities } = operatorActivities();
    await activities.initialize(target);

    assert.deepEqual(await ingressNames(namespace), ["web", "web-canary"]);
    let copy = await readIngress(namespace, "web-canary");
    const owner = await canaryOwner(namespace, "web");
    assert.deepEqual(
      copy.metadata?.ownerReferences?.map((r) => [r.kind, r.name, r.uid, r.controller]),
      [["Canary", "web", owner.uid, true]],
    );
    assert.equal(copy.spec?.ingressClassName, "edge");
    assert.deepEqual(
      copy.spec?.rules?.[0]?.http?.paths.map((p) => [
        p.path,
        p.backend.service?.name,
        p.backend.service?.port,
      ]),
      [
        ["/", "web-primary", { number: 80 }],
        ["/static", "assets", { name: "http" }],
        ["/", "web-canary", { number: 80 }],
      ],
    );
    assert.deepEqual(copy.metadata?.labels, { app: "web" }, "Flux's label is not copied");
    assert.deepEqual(copy.metadata?.annotations, {
      "zalando.org/skipper-filter": 'setRequestHeader("X-Env", "prod")',
      [A.backendWeights]: '{"web-primary":100,"web-canary":0}',
      // No traffic on the canary: the copy's route is off and the user's Ingress serves.
      [A.predicate]: "False()",
      [A.routingPredicate]: 'Weight(100) && Method("GET")',
    });
    assert.equal(
      (await readIngress(namespace, "web")).metadata?.resourceVersion,
      user.metadata?.resourceVersion,
      "the user's Ingress is never written",
    );
    assert.deepEqual(await activities.getRoutes(target), PRIMARY_ONLY);

    for (const weight of [20, 40]) {
      const step = await kube.counter.measure(() => activities.setRoutes(target, routeTo(weight)));
      assert.deepEqual(step.requests, { "patch ingresses": 1 }, "one request per step");
      assert.deepEqual(await routing("web-canary"), {
        weights: { "web-primary": 100 - weight, "web-canary": weight },
        predicate: 'Weight(100) && Method("GET")',
      });
      assert.deepEqual(await activities.getRoutes(target), routeTo(weight));
    }
    copy = await readIngress(namespace, "web-canary");
    await activities.setRoutes(target, routeTo(40));
    assert.equal(
      (await readIngress(namespace, "web-canary")).metadata?.resourceVersion,
      copy.metadata?.resourceVersion,
      "the same routes again write nothing",
    );

    const ctx = routerContext(kube, namespace, target.spec);
    const again = await kube.counter.measure(() => skipperRouter.reconcile(ctx, owner));
    assert.deepEqual(again.requests, { "get ingresses": 2 }, "a reconcile with nothing changed only reads");

    // The user's predicates change: the copy follows, keeping its weights.
    await admin.mergePatch(RESOURCES.ingresses, namespace, "web", {
      metadata: { annotations: { [A.predicate]: 'Method("POST")' } },
    });
    await skipperRouter.reconcile(ctx, owner);
    assert.deepEqual(await routing("web-canary"), {
      weights: { "web-primary": 60, "web-canary": 40 },
      predicate: 'Weight(100) && Method("POST")',
    });

    // Blue/green's switch, then promotion (or rollback) with everything on the primary.
    await activities.setRoutes(target, routeTo(100));
    assert.deepEqual(await routing("web-canary"), {
      weights: { "web-primary": 0, "web-canary": 100 },
      predicate: 'Weight(100) && Method("POST")',
    });
    assert.deepEqual(await activities.getRoutes(target), routeTo(100));
    await activities.setRoutes(target, PRIMARY_ONLY);
    assert.deepEqual(await routing("web-canary"), {
      weights: { "web-primary": 100, "web-canary": 0 },
      predicate: "False()",
    });
    assert.deepEqual(await activities.getRoutes(target), PRIMARY_ONLY);
    const settled = await kube.counter.measure(() => skipperRouter.reconcile(ctx, owner));
    assert.deepEqual(settled.requests, { "get ingresses": 2 });

    await activities.finalize(target, true);
    await activities.finalize(target, true);
    assert.deepEqual(await ingressNames(namespace), ["web"], "finalize deletes the copy");
    assert.equal(
      (await readIngress(namespace, "web")).metadata?.annotations?.[A.predicate],
      'Method("POST")',
      "the user's Ingress is as they left it",
    );
  });

  it("refuses A/B testing, mirroring, session affinity and a missing ingressRef, naming the field", async () => {
    const { kube } = operatorActivities();
    const nobody = { name: "nobody", uid: "00000000-0000-0000-0000-000000000000" };
    const refuse = (overrides: Parameters<typeof ingressCanarySpec>[2], message: RegExp) =>
      rejectsWith(
        skipperRouter.reconcile(
          routerContext(kube, namespace, unvalidated(ingressCanarySpec("skipper", "web", overrides))),
          nobody,
        ),
        "invalidSpec",
        message,
      );
    await refuse({ ingressRef: undefined }, /set ingressRef to the Ingress .* that routes to Service web/);
    await refuse(
      { analysis: { interval: "1s", iterations: 2, match: [{ headers: { "x-canary": { exact: "1" } } }] } },
      /analysis\.match is not supported by the skipper provider/,
    );
    await refuse(
      { analysis: { interval: "1s", stepWeight: 10, mirror: true } },
      /analysis\.mirror is not supported/,
    );
    await refuse(
      { analysis: { interval: "1s", stepWeight: 10, sessionAffinity: { cookieName: "c" } } },
      /analysis\.sessionAffinity is not supported/,
    );
  });
});
