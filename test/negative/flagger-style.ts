/**
 * Canary specs shaped like the ones Flagger's documentation walks through (Istio, blue/green,
 * A/B testing, Gateway API, gates, KEDA): validation and the CRD must both keep accepting them.
 */

type Spec = Record<string, unknown>;

export const flaggerStyle: readonly (readonly [string, Spec])[] = [
  [
    "Istio progressive canary with HPA, load test and acceptance test",
    {
      provider: "istio",
      targetRef: { apiVersion: "apps/v1", kind: "Deployment", name: "podinfo" },
      progressDeadlineSeconds: 60,
      autoscalerRef: { apiVersion: "autoscaling/v2beta2", kind: "HorizontalPodAutoscaler", name: "podinfo" },
      service: {
        port: 9898,
        targetPort: 9898,
        gateways: ["istio-ingressgateway.istio-system.svc.cluster.local"],
        hosts: ["app.example.com"],
        trafficPolicy: { tls: { mode: "DISABLE" } },
        retries: {
          attempts: 3,
          perTryTimeout: "1s",
          retryOn: "gateway-error,connect-failure,refused-stream",
        },
      },
      analysis: {
        interval: "1m",
        threshold: 5,
        maxWeight: 50,
        stepWeight: 10,
        metrics: [
          { name: "request-success-rate", thresholdRange: { min: 99 }, interval: "1m" },
          { name: "request-duration", thresholdRange: { max: 500 }, interval: "30s" },
        ],
        webhooks: [
          {
            name: "acceptance-test",
            type: "pre-rollout",
            url: "http://flagger-loadtester.test/",
            timeout: "30s",
            metadata: { type: "bash", cmd: "curl -sd 'test' http://podinfo-canary:9898/token | grep token" },
          },
          {
            name: "load-test",
            url: "http://flagger-loadtester.test/",
            timeout: "5s",
            metadata: { cmd: "hey -z 1m -q 10 -c 2 http://podinfo-canary.test:9898/" },
          },
        ],
      },
    },
  ],
  [
    "kubernetes provider blue/green",
    {
      provider: "kubernetes",
      targetRef: { apiVersion: "apps/v1", kind: "Deployment", name: "podinfo" },
      progressDeadlineSeconds: 60,
      service: { port: 80, targetPort: "http", portDiscovery: true },
      analysis: {
        interval: "30s",
        threshold: 2,
        iterations: 10,
        metrics: [{ name: "request-success-rate", thresholdRange: { min: 99 }, interval: "1m" }],
        webhooks: [
          { name: "smoke-test", type: "pre-rollout", url: "http://flagger-loadtester.test/", timeout: "15s" },
          { name: "helm-test", type: "pre-rollout", url: "http://flagger-helmtester.test/", timeout: "3m" },
        ],
      },
    },
  ],
  [
    "Istio A/B testing on a header and a cookie",
    {
      targetRef: { apiVersion: "apps/v1", kind: "Deployment", name: "abtest" },
      service: { port: 9898 },
      analysis: {
        interval: "1m",
        threshold: 10,
        iterations: 10,
        match: [
          { headers: { "x-canary": { exact: "insider" } } },
          { headers: { cookie: { regex: "^(.*?;)?(canary=always)(;.*)?$" } } },
        ],
        metrics: [{ name: "request-success-rate", thresholdRange: { min: 99 }, interval: "1m" }],
      },
    },
  ],
  [
    "Gateway API canary with step weights, timeouts and session affinity",
    {
      provider: "gatewayapi:v1",
      targetRef: { apiVersion: "apps/v1", kind: "Deployment", name: "podinfo" },
      service: {
        port: 9898,
        timeout: "30s",
        backendTimeout: "10s",
        hosts: ["www.example.com"],
        gatewayRefs: [{ name: "gateway", namespace: "istio-ingress" }],
      },
      analysis: {
        interval: "1m",
        threshold: 5,
        stepWeights: [5, 10, 15, 20, 25, 35, 45, 60, 75, 90],
        sessionAffinity: { cookieName: "flagger-cookie", maxAge: 21600 },
        metrics: [{ name: "request-duration", thresholdRange: { max: 500 }, interval: "1m" }],
      },
    },
  ],
  [
    "manual gates, rollback hook and alerts",
    {
      targetRef: { apiVersion: "apps/v1", kind: "Deployment", name: "podinfo" },
      service: { port: 9898 },
      analysis: {
        interval: "15s",
        threshold: 10,
        maxWeight: 50,
        stepWeight: 5,
        alerts: [
          { name: "on-call", severity: "error", providerRef: { name: "on-call", namespace: "flagger" } },
        ],
        webhooks: [
          { name: "gate", type: "confirm-rollout", url: "http://flagger-loadtester.test/gate/approve" },
          { name: "promote", type: "confirm-promotion", url: "http://flagger-loadtester.test/gate/halt" },
          { name: "rollback", type: "rollback", url: "http://flagger-loadtester.test/rollback/check" },
          { name: "notify", type: "post-rollout", url: "https://hooks.example.com/notify?team=web" },
        ],
      },
    },
  ],
  [
    "blue/green with a KEDA ScaledObject",
    {
      provider: "kubernetes",
      targetRef: { apiVersion: "apps/v1", kind: "Deployment", name: "podinfo" },
      autoscalerRef: {
        apiVersion: "keda.sh/v1alpha1",
        kind: "ScaledObject",
        name: "podinfo-so",
        primaryScalerQueries: {
          "prom-trigger": 'sum(rate(http_requests_total{ app="podinfo-primary" }[30s]))',
        },
        primaryScalerReplicas: { minReplicas: 2, maxReplicas: 5 },
      },
      progressDeadlineSeconds: 60,
      service: { port: 80, targetPort: 9898, name: "podinfo-svc", portDiscovery: true },
      analysis: {
        interval: "15s",
        threshold: 5,
        iterations: 5,
        metrics: [
          { name: "request-success-rate", interval: "1m", thresholdRange: { min: 99 } },
          { name: "request-duration", interval: "30s", thresholdRange: { max: 500 } },
        ],
      },
    },
  ],
];
