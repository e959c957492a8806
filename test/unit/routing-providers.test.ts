import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { ApplicationFailure } from "@temporalio/common";
import { buildHttpRoute, parseHttpRoute } from "../../activities/routing/gatewayapi.ts";
import {
  buildDestinationRule,
  buildVirtualService,
  parseVirtualService,
} from "../../activities/routing/istio.ts";
import { knativeRouter } from "../../activities/routing/knative.ts";
import { kubernetesRouter } from "../../activities/routing/kubernetes.ts";
import {
  combine,
  mergeGateway,
  mergeIstio,
  toGatewayMatch,
  toIstioMatch,
} from "../../activities/routing/match.ts";
import { routerFor } from "../../activities/routing/registry.ts";
import { compact } from "../../activities/routing/router.ts";
import { buildService, servicePorts } from "../../activities/services.ts";
import { NON_RETRYABLE_ERRORS } from "../../workflows/activity-port.ts";
import { routeTo } from "../../workflows/decisions/routes.ts";
import { spec } from "./helpers/specs.ts";

describe("match conversion", () => {
  it("turns Istio string matches into Gateway API matches", () => {
    assert.deepEqual(
      toGatewayMatch(
        {
          uri: { prefix: "/api" },
          method: "get",
          headers: {
            "x-a": { exact: "1" },
            "x-b": { prefix: "v1." },
            "x-c": { suffix: ".test" },
            "x-d": { regex: "a+" },
          },
          queryParams: { q: { exact: "1" } },
        },
        "analysis.match[0]",
        "gatewayapi:v1",
      ),
      {
        path: { type: "PathPrefix", value: "/api" },
        method: "GET",
        headers: [
          { name: "x-a", type: "Exact", value: "1" },
          { name: "x-b", type: "RegularExpression", value: "^v1\\..*" },
          { name: "x-c", type: "RegularExpression", value: ".*\\.test$" },
          { name: "x-d", type: "RegularExpression", value: "a+" },
        ],
        queryParams: [{ name: "q", type: "Exact", value: "1" }],
      },
    );
    assert.deepEqual(toGatewayMatch({ uri: { regex: "/v[0-9]+" } }, "m", "p").path, {
      type: "RegularExpression",
      value: "/v[0-9]+",
    });
    assert.deepEqual(toGatewayMatch({ headers: [{ name: "x", value: "y" }] }, "m", "p").headers, [
      { type: "Exact", name: "x", value: "y" },
    ]);
  });

  it("rejects what the Gateway API cannot express, naming the field", () => {
    assert.throws(
      () => toGatewayMatch({ sourceLabels: { app: "x" } }, "analysis.match[1]", "gatewayapi:v1"),
      (err: unknown) =>
        err instanceof ApplicationFailure &&
        err.type === NON_RETRYABLE_ERRORS.invalidSpec &&
        /analysis\.match\[1\]\.sourceLabels is not supported by the gatewayapi:v1 provider/.test(err.message),
    );
  });

  it("turns Gateway API matches into Istio matches and keeps Istio's own", () => {
    assert.deepEqual(
      toIstioMatch({
        path: { type: "PathPrefix", value: "/x" },
        method: "POST",
        headers: [{ name: "cookie", value: "a=b", type: "RegularExpression" }],
        sourceLabels: { app: "client" },
      }),
      {
        uri: { prefix: "/x" },
        method: { exact: "POST" },
        headers: { cookie: { regex: "a=b" } },
        sourceLabels: { app: "client" },
      },
    );
  });

  it("combines A/B conditions with service conditions", () => {
    assert.deepEqual(
      combine([1, 2], [], (a, b) => a + b),
      [1, 2],
    );
    assert.deepEqual(
      combine([1, 2], [10, 20], (a, b) => a + b),
      [11, 21, 12, 22],
    );
    assert.deepEqual(
      mergeGateway(
        { path: { type: "PathPrefix", value: "/" }, headers: [{ type: "Exact", name: "a", value: "1" }] },
        {
          headers: [{ type: "Exact", name: "b", value: "2" }],
        },
      ),
      {
        path: { type: "PathPrefix", value: "/" },
        headers: [
          { type: "Exact", name: "a", value: "1" },
          { type: "Exact", name: "b", value: "2" },
        ],
      },
    );
    assert.deepEqual(
      mergeIstio(
        { uri: { prefix: "/" }, headers: { a: { exact: "1" } } },
        { headers: { b: { exact: "2" } } },
      ),
      {
        uri: { prefix: "/" },
        headers: { a: { exact: "1" }, b: { exact: "2" } },
      },
    );
  });
});

describe("HTTPRoute", () => {
  const canary = spec({ stepWeight: 10, mirror: true, mirrorWeight: 25 }, { provider: "gatewayapi:v1" });

  it("round-trips weights and mirroring", () => {
    for (const routes of [routeTo(0), routeTo(0, true), routeTo(30), routeTo(100)]) {
      assert.deepEqual(parseHttpRoute(canary, buildHttpRoute(canary, "ns", routes)), routes);
    }
  });

  it("leaves out what the spec does not set", () => {
    const route = buildHttpRoute(canary, "ns", routeTo(10));
    assert.deepEqual(route.spec, {
      rules: [
        {
          backendRefs: [
            { name: "podinfo-primary", port: 9898, weight: 90 },
            { name: "podinfo-canary", port: 9898, weight: 10 },
          ],
        },
      ],
    });
  });

  it("rewrites and header modifiers become filters", () => {
    const withFilters = spec(
      { stepWeight: 10 },
      {
        provider: "gatewayapi:v1",
        service: {
          port: 80,
          rewrite: { uri: "/v2", type: "ReplaceFullPath", authority: "b.test" },
          headers: { response: { add: { "x-served-by": "canary" } } },
        },
      },
    );
    const [rule] = (buildHttpRoute(withFilters, "ns", routeTo(0)).spec as { rules: { filters: unknown[] }[] })
      .rules;
    assert.deepEqual(rule?.filters, [
      {
        type: "ResponseHeaderModifier",
        responseHeaderModifier: { add: [{ name: "x-served-by", value: "canary" }] },
      },
      {
        type: "URLRewrite",
        urlRewrite: { hostname: "b.test", path: { type: "ReplaceFullPath", replaceFullPath: "/v2" } },
      },
    ]);
  });
});

describe("VirtualService", () => {
  it("round-trips weights and mirroring; a delegate has no hosts or gateways", () => {
    const canary = spec({ stepWeight: 10, mirror: true }, { provider: "istio" });
    for (const routes of [routeTo(0), routeTo(0, true), routeTo(50)]) {
      assert.deepEqual(parseVirtualService(canary, buildVirtualService(canary, "ns", routes)), routes);
    }
    const delegate = spec(
      { stepWeight: 10 },
      { provider: "istio", service: { port: 80, delegation: true, hosts: ["x"], gateways: ["g"] } },
    );
    const vs = buildVirtualService(delegate, "ns", routeTo(0)).spec as Record<string, unknown>;
    assert.equal(vs.hosts, undefined);
    assert.equal(vs.gateways, undefined);
  });

  it("builds hosts and destination ports as Flagger does, so a VirtualService it wrote needs no rewrite", () => {
    const build = (service: Record<string, unknown>) =>
      buildVirtualService(
        spec({ stepWeight: 10 }, { provider: "istio", service: { port: 80, ...service } }),
        "ns",
        routeTo(0),
      ).spec as { hosts: string[]; http: { route: { destination: unknown }[] }[] };
    const gateway = {
      gateways: ["public-gateway.istio-system.svc.cluster.local"],
      hosts: ["app.example.test"],
    };
    assert.deepEqual(build(gateway).hosts, ["app.example.test", "podinfo"], "the apex host last");
    assert.deepEqual(build({ hosts: ["podinfo", "app.example.test"] }).hosts, [
      "podinfo",
      "app.example.test",
    ]);
    assert.deepEqual(build({ hosts: ["*"] }).hosts, ["*"], "a wildcard covers the apex host");
    const destination = (service: Record<string, unknown>) => build(service).http[0]?.route[0]?.destination;
    assert.deepEqual(destination(gateway), { host: "podinfo-primary" }, "the Service's only port");
    assert.deepEqual(destination({ portDiscovery: true }), { host: "podinfo-primary" }, "in the mesh");
    assert.deepEqual(destination({ ...gateway, portDiscovery: true }), {
      host: "podinfo-primary",
      port: { number: 80 },
    });
    assert.deepEqual(destination({ ...gateway, gateways: ["mesh", "g"], portDiscovery: true }), {
      host: "podinfo-primary",
    });
  });

  it("reads a single unweighted destination as all traffic", () => {
    const canary = spec({ stepWeight: 10 }, { provider: "istio" });
    const vs = { spec: { http: [{ route: [{ destination: { host: "podinfo-primary" } }] }] } };
    assert.deepEqual(parseVirtualService(canary, vs as never), routeTo(0));
  });

  it("DestinationRules carry the traffic policy", () => {
    const canary = spec(
      { stepWeight: 10 },
      { provider: "istio", service: { port: 80, trafficPolicy: { tls: { mode: "DISABLE" } } } },
    );
    assert.deepEqual(buildDestinationRule(canary, "ns", "podinfo-canary").spec, {
      host: "podinfo-canary",
      trafficPolicy: { tls: { mode: "DISABLE" } },
    });
  });
});

describe("Services", () => {
  it("select the primary, the canary, and (switched) the canary for the apex", () => {
    const canary = spec({ iterations: 2 }, { provider: "kubernetes" });
    const label = { key: "app", value: "podinfo" };
    const ports = servicePorts(canary, undefined);
    assert.deepEqual(ports, [{ name: "http", protocol: "TCP", port: 9898, targetPort: 9898 }]);
    assert.deepEqual(buildService(canary, "ns", "apex", label, ports).spec?.selector, {
      app: "podinfo-primary",
    });
    assert.deepEqual(buildService(canary, "ns", "apex", label, ports, true).spec?.selector, {
      app: "podinfo",
    });
    assert.deepEqual(buildService(canary, "ns", "canary", label, ports).spec?.selector, { app: "podinfo" });
    assert.deepEqual(buildService(canary, "ns", "primary", label, ports).spec?.selector, {
      app: "podinfo-primary",
    });
  });
});

describe("registry", () => {
  it("chooses by provider", () => {
    assert.equal(routerFor("kubernetes"), kubernetesRouter);
    assert.equal(routerFor("knative"), knativeRouter);
  });

  it("compact drops undefined values and empty lists only", () => {
    assert.deepEqual(compact({ a: undefined, b: [], c: {}, d: 0, e: "" }), { c: {}, d: 0, e: "" });
  });
});

describe("session affinity", () => {
  const affinity = { cookieName: "canary-session", maxAge: 600, path: "/", secure: true, httpOnly: true };
  const sticky = (provider: "gatewayapi:v1" | "istio", extra: Record<string, unknown> = {}) =>
    spec({ stepWeight: 10, sessionAffinity: { ...affinity, ...extra } }, { provider });

  it("puts a cookie rule in front of the HTTPRoute split, and the canary's responses set the cookie", () => {
    const route = buildHttpRoute(sticky("gatewayapi:v1"), "ns", routeTo(20), "7c9d5f");
    assert.deepEqual((route.spec as { rules: unknown[] }).rules, [
      {
        matches: [
          {
            headers: [
              { type: "RegularExpression", name: "Cookie", value: "(.*; *)?canary-session=7c9d5f(;.*)?" },
            ],
          },
        ],
        backendRefs: [
          { name: "podinfo-primary", port: 9898, weight: 0 },
          { name: "podinfo-canary", port: 9898, weight: 100 },
        ],
      },
      {
        backendRefs: [
          { name: "podinfo-primary", port: 9898, weight: 80 },
          {
            name: "podinfo-canary",
            port: 9898,
            weight: 20,
            filters: [
              {
                type: "ResponseHeaderModifier",
                responseHeaderModifier: {
                  add: [
                    {
                      name: "Set-Cookie",
                      value: "canary-session=7c9d5f; Max-Age=600; Path=/; Secure; HttpOnly",
                    },
                  ],
                },
              },
            ],
          },
        ],
      },
    ]);
    assert.deepEqual(parseHttpRoute(sticky("gatewayapi:v1"), route), routeTo(20));
  });

  it("keeps users of the primary there too with primaryCookieName", () => {
    const canary = sticky("gatewayapi:v1", { primaryCookieName: "primary-session" });
    const rules = (
      buildHttpRoute(canary, "ns", routeTo(30), "r2").spec as { rules: Record<string, unknown>[] }
    ).rules;
    assert.equal(rules.length, 3);
    assert.deepEqual(rules[1]?.backendRefs, [
      { name: "podinfo-primary", port: 9898, weight: 100 },
      { name: "podinfo-canary", port: 9898, weight: 0 },
    ]);
    assert.match(JSON.stringify(rules[1]?.matches), /primary-session=r2/);
    assert.match(JSON.stringify(rules[2]?.backendRefs), /Set-Cookie.*primary-session=r2; Max-Age=600/);
  });

  it("adds nothing without a split, a revision or the canary strategy", () => {
    const canary = sticky("gatewayapi:v1");
    for (const [routes, revision] of [
      [routeTo(0), "r2"],
      [routeTo(100), "r2"],
      [routeTo(20), undefined],
    ] as const) {
      assert.deepEqual(buildHttpRoute(canary, "ns", routes, revision), buildHttpRoute(canary, "ns", routes));
      assert.equal(
        (buildHttpRoute(canary, "ns", routes, revision).spec as { rules: unknown[] }).rules.length,
        1,
      );
    }
    const blueGreen = spec({ iterations: 3, sessionAffinity: affinity }, { provider: "gatewayapi:v1" });
    assert.equal(
      (buildHttpRoute(blueGreen, "ns", routeTo(50), "r2").spec as { rules: unknown[] }).rules.length,
      1,
    );
  });

  it("routes by cookie in the VirtualService, with Set-Cookie on the canary destination", () => {
    const canary = sticky("istio");
    const vs = buildVirtualService(canary, "ns", routeTo(40), "7c9d5f");
    const http = (vs.spec as { http: Record<string, unknown>[] }).http;
    assert.deepEqual(http[0]?.match, [
      { headers: { cookie: { regex: "(.*; *)?canary-session=7c9d5f(;.*)?" } } },
    ]);
    assert.deepEqual(http[0]?.route, [
      { destination: { host: "podinfo-primary" }, weight: 0 },
      { destination: { host: "podinfo-canary" }, weight: 100 },
    ]);
    assert.deepEqual(http[1]?.route, [
      { destination: { host: "podinfo-primary" }, weight: 60 },
      {
        destination: { host: "podinfo-canary" },
        weight: 40,
        headers: {
          response: { add: { "Set-Cookie": "canary-session=7c9d5f; Max-Age=600; Path=/; Secure; HttpOnly" } },
        },
      },
    ]);
    assert.deepEqual(parseVirtualService(canary, vs), routeTo(40));
  });
});
