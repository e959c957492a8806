/**
 * The builtin metrics' PromQL for every provider, compared with the query Flagger renders for
 * the same Canary (namespace test, target and service podinfo, interval 1m). Flagger's queries
 * are written out here from its documented observers, with the one documented difference:
 * the success rate's numerator is `(… or vector(0))`. Whitespace and trailing commas in label
 * sets do not count.
 */
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { type BuiltinQuery, builtinQuery } from "../../activities/metrics/builtin.ts";
import { PROVIDERS, type Provider } from "../../src/api/canary.ts";

const vars = {
  namespace: "test",
  target: "podinfo",
  service: "podinfo",
  interval: "1m",
  ingress: "podinfo",
  route: "podinfo-route",
};

function normalize(query: string): string {
  return query.replace(/\s+/g, "").replace(/,}/g, "}");
}

function query(result: BuiltinQuery): string {
  assert.ok("query" in result, `expected a query, got: ${"missing" in result ? result.missing : ""}`);
  return result.query;
}

/** success rate over `series{selector}` with `ok` marking non-5xx, as Flagger writes it (plus `or vector(0)`). */
function successRate(series: string, selector: string, ok: string): string {
  return `(sum(rate(${series}{${selector},${ok}}[1m])) or vector(0)) / sum(rate(${series}{${selector}}[1m])) * 100`;
}

function p99(buckets: string, selector: string, scale = ""): string {
  return `histogram_quantile(0.99, sum(rate(${buckets}{${selector}}[1m])) by (le))${scale}`;
}

const pods = 'kubernetes_namespace="test",kubernetes_pod_name=~"podinfo-[0-9a-zA-Z]+(-[0-9a-zA-Z]+)"';
const http = {
  "request-success-rate": successRate("http_request_duration_seconds_count", pods, 'status!~"5.*"'),
  "request-duration": p99("http_request_duration_seconds_bucket", pods, " * 1000"),
};
const envoy = (selector: string) => ({
  "request-success-rate": successRate("envoy_cluster_upstream_rq", selector, 'envoy_response_code!~"5.*"'),
  "request-duration": p99("envoy_cluster_upstream_rq_time_bucket", selector),
});
const istio = {
  "request-success-rate":
    '(sum(rate(istio_requests_total{reporter="destination",destination_workload_namespace="test",destination_workload="podinfo",response_code!~"5.."}[1m])) or vector(0))' +
    ' / sum(rate(istio_requests_total{reporter="destination",destination_workload_namespace="test",destination_workload="podinfo"}[1m])) * 100',
  "request-duration": p99(
    "istio_request_duration_milliseconds_bucket",
    'reporter="destination",destination_workload_namespace="test",destination_workload="podinfo"',
  ),
};
const nginx = 'namespace="test",ingress="podinfo",canary!=""';
const traefik = 'service=~"test-podinfo-canary-[0-9a-zA-Z-]+@kubernetescrd"';
const linkerd = 'namespace="test",deployment=~"podinfo",direction="inbound"';
const osm = 'destination_namespace="test",destination_kind="Deployment",destination_name="podinfo"';
const apisix = 'route=~"test_podinfo-route-podinfo-canary_.+"';
const skipper = 'route=~"kube(ew)?_test__podinfo_canary__.*__podinfo_canary(_[0-9]+)?"';

const expected: Record<Provider, Record<"request-success-rate" | "request-duration", string>> = {
  istio,
  // Flagger falls back to Istio's names for SMI, whose data plane it cannot know.
  "smi:v1alpha1": istio,
  "smi:v1alpha2": istio,
  "smi:v1alpha3": istio,
  kubernetes: http,
  "gatewayapi:v1": http,
  "gatewayapi:v1beta1": http,
  contour: envoy('envoy_cluster_name=~"test_podinfo-canary_[0-9a-zA-Z-]+"'),
  gloo: envoy('envoy_cluster_name=~"test-podinfo-canaryupstream-[0-9a-zA-Z-]+_[0-9a-zA-Z-]+"'),
  kuma: envoy('service=~"podinfo-canary_test_svc_[0-9a-zA-Z-]+"'),
  appmesh: envoy(pods),
  "appmesh:v1beta2": envoy(pods),
  knative: envoy('envoy_cluster_name=~"test/podinfo-route"'),
  nginx: {
    "request-success-rate": successRate("nginx_ingress_controller_requests", nginx, 'status!~"5.*"'),
    "request-duration": `sum(rate(nginx_ingress_controller_response_duration_seconds_sum{${nginx}}[1m])) / sum(rate(nginx_ingress_controller_response_duration_seconds_count{${nginx}}[1m])) * 1000`,
  },
  traefik: {
    "request-success-rate": successRate(
      "traefik_service_request_duration_seconds_bucket",
      `${traefik},le="+Inf"`,
      'code!~"5.."',
    ),
    "request-duration": p99("traefik_service_request_duration_seconds_bucket", traefik, " * 1000"),
  },
  linkerd: {
    "request-success-rate": successRate("response_total", linkerd, 'classification!="failure"'),
    "request-duration": p99("response_latency_ms_bucket", linkerd),
  },
  osm: {
    "request-success-rate": successRate("osm_request_total", osm, 'response_code!~"5.*"'),
    "request-duration": p99("osm_request_duration_ms_bucket", osm),
  },
  apisix: {
    "request-success-rate": successRate("apisix_http_status", apisix, 'code!~"5.."'),
    "request-duration": p99("apisix_http_latency_bucket", `type=~"request",${apisix}`),
  },
  skipper: {
    "request-success-rate": successRate(
      "skipper_response_duration_seconds_bucket",
      `${skipper},le="+Inf"`,
      'code!~"5.."',
    ),
    "request-duration": `sum(rate(skipper_serve_route_duration_seconds_sum{${skipper}}[1m])) / sum(rate(skipper_serve_route_duration_seconds_count{${skipper}}[1m])) * 1000`,
  },
};

/** Label matchers in any order: sort the matchers inside each `{…}`. */
function canonical(query: string): string {
  return normalize(query).replace(
    /\{([^}]*)\}/g,
    (_, inner: string) =>
      `{${inner
        .split(/,(?=[a-z_]+[=!])/)
        .sort()
        .join(",")}}`,
  );
}

describe("builtin metrics: the query Flagger renders for the same Canary", () => {
  for (const provider of PROVIDERS) {
    for (const metric of ["request-success-rate", "request-duration"] as const) {
      test(`${provider} ${metric}`, () => {
        assert.equal(
          canonical(
            query(
              builtinQuery(
                provider,
                metric,
                provider === "knative" ? { ...vars, route: "podinfo-route" } : vars,
              ),
            ),
          ),
          canonical(expected[provider][metric]),
        );
      });
    }
  }
});

describe("builtin metrics: names and what a Canary must give", () => {
  test("istio's success rate is exact, label order and all", () => {
    assert.equal(query(builtinQuery("istio", "request-success-rate", vars)), istio["request-success-rate"]);
  });

  test("where the data plane names series after the Service, service.name is used, not the target", () => {
    const named = { ...vars, service: "frontend" };
    assert.match(query(builtinQuery("traefik", "request-success-rate", named)), /test-frontend-canary-/);
    assert.match(query(builtinQuery("gloo", "request-success-rate", named)), /test-frontend-canaryupstream-/);
    assert.match(query(builtinQuery("kuma", "request-success-rate", named)), /frontend-canary_test_svc_/);
    assert.match(query(builtinQuery("contour", "request-success-rate", named)), /test_frontend-canary_/);
    assert.match(
      query(builtinQuery("apisix", "request-success-rate", named)),
      /test_podinfo-route-frontend-canary_/,
    );
  });

  test("a dot in a name is matched literally in a regex", () => {
    assert.match(
      query(builtinQuery("contour", "request-success-rate", { ...vars, service: "a.b" })),
      /test_a\\\\\.b-canary_/,
    );
    assert.match(
      query(builtinQuery("kubernetes", "request-duration", { ...vars, target: "a.b" })),
      /"a\\\\\.b-\[0-9a-zA-Z\]/,
    );
  });

  test("nginx and skipper need ingressRef, apisix routeRef, and knative the latest revision: said, not an empty match", () => {
    const bare = { namespace: "test", target: "podinfo", service: "podinfo", interval: "1m" };
    assert.deepEqual(builtinQuery("nginx", "request-success-rate", bare), {
      missing: "ingressRef is not set",
    });
    assert.deepEqual(builtinQuery("skipper", "request-duration", bare), { missing: "ingressRef is not set" });
    assert.deepEqual(builtinQuery("apisix", "request-success-rate", bare), {
      missing: "routeRef is not set",
    });
    assert.deepEqual(builtinQuery("knative", "request-success-rate", bare), {
      missing: "the Knative Service has no latest created revision yet",
    });
  });

  test("the http observer's regex keeps the primary's pods out", () => {
    const regex = new RegExp(`^${"podinfo-[0-9a-zA-Z]+(-[0-9a-zA-Z]+)"}$`);
    assert.ok(regex.test("podinfo-7d9c8b6f5-x2k4q"));
    assert.ok(!regex.test("podinfo-primary-6f5d4c3b2-q8w7e"));
  });
});
