import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { builtinProviders, builtinQuery } from "../../activities/metrics/builtin.ts";

const vars = { namespace: "test", target: "podinfo", service: "podinfo-svc", interval: "1m" };

describe("builtinQuery", () => {
  test("istio success rate: non-5xx over all requests at the destination workload, in percent", () => {
    assert.equal(
      builtinQuery("istio", "request-success-rate", vars),
      '(sum(rate(istio_requests_total{reporter="destination",destination_workload_namespace="test",destination_workload="podinfo",response_code!~"5.."}[1m])) or vector(0))' +
        ' / sum(rate(istio_requests_total{reporter="destination",destination_workload_namespace="test",destination_workload="podinfo"}[1m])) * 100',
    );
  });

  test("istio duration: p99 of the destination histogram in milliseconds", () => {
    assert.equal(
      builtinQuery("istio", "request-duration", vars),
      'histogram_quantile(0.99, sum by (le) (rate(istio_request_duration_milliseconds_bucket{reporter="destination",destination_workload_namespace="test",destination_workload="podinfo"}[1m])))',
    );
  });

  for (const provider of ["gatewayapi:v1", "gatewayapi:v1beta1", "kubernetes", "contour"] as const) {
    test(`${provider}: Envoy's upstream cluster of the canary service`, () => {
      const success = builtinQuery(provider, "request-success-rate", vars) ?? "";
      assert.match(
        success,
        /envoy_cluster_upstream_rq\{envoy_cluster_name=~"test_podinfo-svc-canary_\[0-9a-zA-Z-\]\+",envoy_response_code!~"5\.\."\}\[1m\]/,
      );
      assert.match(
        builtinQuery(provider, "request-duration", vars) ?? "",
        /^histogram_quantile\(0\.99, sum by \(le\) \(rate\(envoy_cluster_upstream_rq_time_bucket\{envoy_cluster_name=~"test_podinfo-svc-canary_/,
      );
    });
  }

  test("a dot in a name is matched literally in the cluster regex", () => {
    const query = builtinQuery("gatewayapi:v1", "request-success-rate", { ...vars, service: "a.b" }) ?? "";
    assert.match(query, /test_a\\\\\.b-canary_/);
  });

  test("providers without known data-plane names have no builtin query", () => {
    assert.equal(builtinQuery("linkerd", "request-success-rate", vars), undefined);
    assert.ok(!builtinProviders().includes("linkerd"));
  });
});
