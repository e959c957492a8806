/**
 * The nginx router against the real API server, as the operator's service account: initialize
 * creates only the canary copy of the user's Ingress (owned, backends on the canary Service,
 * ingress-nginx's canary annotations) and never touches the user's; weight steps, A/B rules and
 * the blue/green switch are one patch each and round trip through getRoutes; a reconcile with
 * nothing changed writes nothing; finalize deletes the copy; what ingress-nginx cannot do is refused.
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { NGINX_ANNOTATIONS as A, nginxRouter } from "../../activities/routing/nginx.ts";
import type { HttpMatch } from "../../src/api/canary.ts";
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
  resolve,
  testNamespace,
} from "./kube-support.ts";

const namespace = testNamespace("routing-nginx");

async function workload(name: string): Promise<void> {
  await createAvailable(deployment(namespace, name, 1));
}

async function annotations(name: string): Promise<Record<string, string>> {
  return (await readIngress(namespace, name)).metadata?.annotations ?? {};
}

/** The copy's canary annotations only. */
async function canaryAnnotations(name: string): Promise<Record<string, string>> {
  return Object.fromEntries(Object.entries(await annotations(name)).filter(([k]) => k.startsWith(A.canary)));
}

describe("nginx router", () => {
  it("creates an owned canary copy of the user's Ingress and steps its weight, one patch a step", async () => {
    await workload("web");
    await admin.create(
      RESOURCES.ingresses,
      namespace,
      userIngress("web", "web", {
        "nginx.ingress.kubernetes.io/rewrite-target": "/",
        // The user's own canary settings would contradict the copy's: not copied.
        "nginx.ingress.kubernetes.io/canary-weight-total": "1000",
      }),
    );
    const user = await readIngress(namespace, "web");
    const target = await createCanary(namespace, "web", ingressCanarySpec("nginx", "web"));
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
        ["/", "web-canary", { number: 80 }],
        ["/static", "assets", { name: "http" }],
      ],
    );
    assert.equal(copy.spec?.rules?.[0]?.host, "web.example.test");
    assert.deepEqual(copy.metadata?.labels, { app: "web" }, "Flux's label is not copied");
    assert.deepEqual(copy.metadata?.annotations, {
      "nginx.ingress.kubernetes.io/rewrite-target": "/",
      [A.canary]: "true",
      [A.weight]: "0",
    });
    assert.equal(
      (await readIngress(namespace, "web")).metadata?.resourceVersion,
      user.metadata?.resourceVersion,
      "the user's Ingress is never written",
    );
    assert.deepEqual(await activities.getRoutes(target), PRIMARY_ONLY);

    // Someone else annotates the copy (external-dns, a policy controller...).
    await admin.mergePatch(RESOURCES.ingresses, namespace, "web-canary", {
      metadata: { annotations: { "external-dns.alpha.kubernetes.io/ttl": "60" } },
    });

    for (const weight of [20, 40]) {
      const step = await kube.counter.measure(() => activities.setRoutes(target, routeTo(weight)));
      assert.deepEqual(step.requests, { "patch ingresses": 1 }, "one request per step");
      assert.deepEqual(await canaryAnnotations("web-canary"), {
        [A.canary]: "true",
        [A.weight]: String(weight),
      });
      assert.deepEqual(await activities.getRoutes(target), routeTo(weight));
    }
    copy = await readIngress(namespace, "web-canary");
    assert.equal(copy.metadata?.annotations?.["external-dns.alpha.kubernetes.io/ttl"], "60");
    await activities.setRoutes(target, routeTo(40));
    assert.equal(
      (await readIngress(namespace, "web-canary")).metadata?.resourceVersion,
      copy.metadata?.resourceVersion,
      "the same routes again write nothing",
    );

    const ctx = routerContext(kube, namespace, target.spec);
    const again = await kube.counter.measure(() => nginxRouter.reconcile(ctx, owner));
    assert.deepEqual(again.requests, { "get ingresses": 2 }, "a reconcile with nothing changed only reads");

    // The user changes their Ingress: the copy follows, keeping its weight and others' annotations.
    await admin.mergePatch(RESOURCES.ingresses, namespace, "web", {
      metadata: { annotations: { "nginx.ingress.kubernetes.io/rewrite-target": null } },
    });
    await nginxRouter.reconcile(ctx, owner);
    assert.equal(
      (await annotations("web-canary"))["nginx.ingress.kubernetes.io/rewrite-target"],
      undefined,
      "an annotation the user dropped is dropped from the copy",
    );
    await admin.mergePatch(RESOURCES.ingresses, namespace, "web", {
      metadata: { annotations: { "nginx.ingress.kubernetes.io/proxy-body-size": "8m" } },
      spec: { ingressClassName: "public" },
    });
    await nginxRouter.reconcile(ctx, owner);
    copy = await readIngress(namespace, "web-canary");
    assert.equal(copy.spec?.ingressClassName, "public");
    assert.deepEqual(copy.metadata?.annotations, {
      "nginx.ingress.kubernetes.io/proxy-body-size": "8m",
      "external-dns.alpha.kubernetes.io/ttl": "60",
      [A.canary]: "true",
      [A.weight]: "40",
    });
    const settled = await kube.counter.measure(() => nginxRouter.reconcile(ctx, owner));
    assert.deepEqual(settled.requests, { "get ingresses": 2 });

    // Promotion (or rollback) ends with everything on the primary.
    await activities.setRoutes(target, PRIMARY_ONLY);
    assert.deepEqual(await canaryAnnotations("web-canary"), { [A.canary]: "true", [A.weight]: "0" });
    assert.deepEqual(await activities.getRoutes(target), PRIMARY_ONLY);

    await activities.finalize(target, true);
    await activities.finalize(target, true);
    assert.deepEqual(await ingressNames(namespace), ["web"], "finalize deletes the copy");
    const after = await readIngress(namespace, "web");
    assert.equal(after.spec?.rules?.[0]?.http?.paths[0]?.backend.service?.name, "web");
  });

  it("A/B testing: a header's exact value and a cookie send requests to the canary", async () => {
    await workload("shop");
    await admin.create(RESOURCES.ingresses, namespace, userIngress("shop", "shop"));
    const target = await createCanary(
      namespace,
      "shop",
      ingressCanarySpec("nginx", "shop", {
        analysis: {
          interval: "1s",
          iterations: 2,
          match: [
            { headers: { "x-canary": { exact: "insider" } } },
            { headers: { cookie: { exact: "canary" } } },
          ],
        },
      }),
    );
    const { kube, activities } = operatorActivities();
    await activities.initialize(target);
    assert.deepEqual(await canaryAnnotations("shop-canary"), { [A.canary]: "true", [A.weight]: "0" });

    const step = await kube.counter.measure(() => activities.setRoutes(target, routeTo(100)));
    assert.deepEqual(step.requests, { "patch ingresses": 1 });
    assert.deepEqual(await canaryAnnotations("shop-canary"), {
      [A.canary]: "true",
      [A.weight]: "0",
      [A.header]: "x-canary",
      [A.headerValue]: "insider",
      [A.cookie]: "canary",
    });
    assert.deepEqual(await activities.getRoutes(target), routeTo(100));

    const owner = await canaryOwner(namespace, "shop");
    const again = await kube.counter.measure(() =>
      nginxRouter.reconcile(routerContext(kube, namespace, target.spec), owner),
    );
    assert.deepEqual(again.requests, { "get ingresses": 2 }, "mid-analysis, a reconcile keeps the rules");

    // The spec turns into a canary rollout while the rules are on: a reconcile drops them.
    const rollout = resolve(
      ingressCanarySpec("nginx", "shop", { analysis: { interval: "1s", stepWeight: 10 } }),
    );
    await nginxRouter.reconcile(routerContext(kube, namespace, rollout), owner);
    assert.deepEqual(await canaryAnnotations("shop-canary"), { [A.canary]: "true", [A.weight]: "0" });
    assert.deepEqual(await nginxRouter.getRoutes(routerContext(kube, namespace, rollout)), PRIMARY_ONLY);
    await activities.setRoutes(target, routeTo(100));

    await activities.setRoutes(target, PRIMARY_ONLY);
    assert.deepEqual(
      await canaryAnnotations("shop-canary"),
      { [A.canary]: "true", [A.weight]: "0" },
      "the rules are gone: every request goes to the primary",
    );
    assert.deepEqual(await activities.getRoutes(target), PRIMARY_ONLY);
  });

  it("A/B testing: a header's regular expression becomes canary-by-header-pattern", async () => {
    await admin.create(RESOURCES.ingresses, namespace, userIngress("search", "search"));
    const target = await createCanary(
      namespace,
      "search",
      ingressCanarySpec("nginx", "search", {
        analysis: {
          interval: "1s",
          iterations: 2,
          match: [{ headers: [{ name: "x-user", value: "^beta-[0-9]+$", type: "RegularExpression" }] }],
        },
      }),
    );
    const { kube } = operatorActivities();
    const ctx = routerContext(kube, namespace, target.spec);
    await nginxRouter.reconcile(ctx, await canaryOwner(namespace, "search"));
    await nginxRouter.setRoutes(ctx, routeTo(100));
    assert.deepEqual(await canaryAnnotations("search-canary"), {
      [A.canary]: "true",
      [A.weight]: "0",
      [A.header]: "x-user",
      [A.headerPattern]: "^beta-[0-9]+$",
    });
    assert.deepEqual(await nginxRouter.getRoutes(ctx), routeTo(100));
  });

  it("blue/green switches the whole weight and back", async () => {
    await admin.create(RESOURCES.ingresses, namespace, userIngress("cart", "cart"));
    const target = await createCanary(
      namespace,
      "cart",
      ingressCanarySpec("nginx", "cart", { analysis: { interval: "1s", iterations: 2 } }),
    );
    const { kube } = operatorActivities();
    const ctx = routerContext(kube, namespace, target.spec);
    await nginxRouter.reconcile(ctx, await canaryOwner(namespace, "cart"));
    const step = await kube.counter.measure(() => nginxRouter.setRoutes(ctx, routeTo(100)));
    assert.deepEqual(step.requests, { "patch ingresses": 1 });
    assert.deepEqual(await canaryAnnotations("cart-canary"), { [A.canary]: "true", [A.weight]: "100" });
    assert.deepEqual(await nginxRouter.getRoutes(ctx), routeTo(100));
    await nginxRouter.setRoutes(ctx, PRIMARY_ONLY);
    assert.deepEqual(await nginxRouter.getRoutes(ctx), PRIMARY_ONLY);
  });

  it("refuses what ingress-nginx cannot do, naming the field", async () => {
    const { kube } = operatorActivities();
    const nobody = { name: "nobody", uid: "00000000-0000-0000-0000-000000000000" };
    const refuse = (overrides: Parameters<typeof ingressCanarySpec>[2], message: RegExp) =>
      rejectsWith(
        nginxRouter.reconcile(
          routerContext(kube, namespace, unvalidated(ingressCanarySpec("nginx", "web", overrides))),
          nobody,
        ),
        "invalidSpec",
        message,
      );
    await refuse({ ingressRef: undefined }, /set ingressRef to the Ingress .* that routes to Service web/);
    await refuse(
      { analysis: { interval: "1s", stepWeight: 10, mirror: true } },
      /analysis\.mirror is not supported/,
    );
    await refuse(
      { analysis: { interval: "1s", stepWeight: 10, sessionAffinity: { cookieName: "c" } } },
      /analysis\.sessionAffinity is not supported/,
    );
    const ab = (match: HttpMatch[]) => ({ analysis: { interval: "1s", iterations: 2, match } });
    await refuse(
      ab([{ uri: { prefix: "/api" } }]),
      /analysis\.match\[0\]\.uri is not supported by the nginx provider/,
    );
    await refuse(
      ab([{ headers: { cookie: { regex: "canary=.*" } } }]),
      /analysis\.match\[0\]\.headers\.cookie must be exact/,
    );
    await refuse(
      ab([{ headers: { "x-a": { exact: "1" }, cookie: { exact: "c" } } }]),
      /analysis\.match\[0\] must hold exactly one header .* not 2/,
    );
    await refuse(
      ab([{ headers: { "x-a": { exact: "1" } } }, { headers: { "x-b": { exact: "2" } } }]),
      /analysis\.match\[1\]\.headers\.x-b: ingress-nginx routes by one header only/,
    );

    // The Ingress must exist, route to the apex Service, and its copy's name must be free.
    const spec = (name: string) =>
      unvalidated(
        ingressCanarySpec("nginx", "web", {
          ingressRef: { apiVersion: "networking.k8s.io/v1", kind: "Ingress", name },
        }),
      );
    await rejectsWith(
      nginxRouter.reconcile(routerContext(kube, namespace, spec("missing")), nobody),
      "targetNotFound",
      /Ingress .*\/missing \(ingressRef\) not found/,
    );
    await admin.create(RESOURCES.ingresses, namespace, userIngress("elsewhere", "other"));
    await rejectsWith(
      nginxRouter.reconcile(routerContext(kube, namespace, spec("elsewhere")), nobody),
      "invalidSpec",
      /Ingress elsewhere \(ingressRef\) has no rule path whose backend is Service web/,
    );
    await admin.create(RESOURCES.ingresses, namespace, userIngress("taken", "web"));
    await admin.create(RESOURCES.ingresses, namespace, userIngress("taken-canary", "web"));
    await rejectsWith(
      nginxRouter.reconcile(routerContext(kube, namespace, spec("taken")), nobody),
      "invalidSpec",
      /Ingress .*\/taken-canary exists and is not owned by Canary/,
    );
  });
});
