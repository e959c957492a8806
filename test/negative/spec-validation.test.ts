/**
 * The negative suite for specs: bad Canaries, MetricTemplates and AlertProviders, each with the
 * exact message its author reads in the Canary's status (the field, what is wrong, what to do).
 * Valid manifests in the style of Flagger's documentation must still pass.
 */
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import type { Provider } from "../../src/api/canary.ts";
import { validateAlertProvider, validateCanary, validateMetricTemplate } from "../../src/api/validate.ts";
import { flaggerStyle } from "./flagger-style.ts";

type Spec = Record<string, unknown>;

/** A valid progressive canary; each case changes one thing. */
function canary(analysis: Spec = {}, extra: Spec = {}): Spec {
  return {
    targetRef: { apiVersion: "apps/v1", kind: "Deployment", name: "podinfo" },
    service: { port: 9898 },
    analysis: { interval: "1m", stepWeight: 10, ...analysis },
    ...extra,
  };
}

const knativeService = { apiVersion: "serving.knative.dev/v1", kind: "Service", name: "web" };

function hook(extra: Spec = {}): Spec {
  return { name: "load-test", url: "http://loadtester.test/", ...extra };
}

const long = (n: number) => `a${"b".repeat(n - 1)}`;
const URL_RULE = 'must be an absolute http(s) URL such as "http://loadtester.test/"';
const TOKEN_RULE = "must be an HTTP token (letters, digits and !#$%&'*+-.^_`|~, no spaces)";

interface Case {
  readonly title: string;
  readonly input: unknown;
  /** Every error the author reads, in order. */
  readonly errors: readonly string[];
  readonly defaultProvider?: Provider;
}

const canaryCases: Case[] = [
  // ---- weights and steps ----
  {
    title: "stepWeight above 100",
    input: canary({ stepWeight: 120 }),
    errors: ["analysis.stepWeight must be an integer between 0 and 100, got 120"],
  },
  {
    title: "stepWeights going down",
    input: canary({ stepWeight: undefined, stepWeights: [10, 5, 20] }),
    errors: ["analysis.stepWeights must be strictly increasing, got [10, 5, 20]"],
  },
  {
    title: "stepWeights repeating a step",
    input: canary({ stepWeight: undefined, stepWeights: [10, 10] }),
    errors: ["analysis.stepWeights must be strictly increasing, got [10, 10]"],
  },
  {
    title: "stepWeights empty",
    input: canary({ stepWeight: undefined, stepWeights: [] }),
    errors: ["analysis.stepWeights must be a non-empty list of weights, got []"],
  },
  {
    title: "a step weight of 0",
    input: canary({ stepWeight: undefined, stepWeights: [0, 50] }),
    errors: ["analysis.stepWeights[0] must be an integer between 1 and 100, got 0"],
  },
  {
    title: "maxWeight above 100",
    input: canary({ maxWeight: 150 }),
    errors: ["analysis.maxWeight must be an integer between 0 and 100, got 150"],
  },
  {
    title: "negative mirrorWeight",
    input: canary({ mirror: true, mirrorWeight: -5 }),
    errors: ["analysis.mirrorWeight must be an integer between 0 and 100, got -5"],
  },
  {
    title: "no strategy at all",
    input: canary({ stepWeight: undefined }),
    errors: [
      "analysis needs analysis.stepWeight or analysis.stepWeights (canary) or analysis.iterations (blue/green, A/B testing with analysis.match)",
    ],
  },

  // ---- intervals, iterations and other loop bounds ----
  {
    title: "negative interval",
    input: canary({ interval: "-1m" }),
    errors: ['analysis.interval must be at least 0s, got "-1m"'],
  },
  {
    title: "huge interval",
    input: canary({ interval: "48h" }),
    errors: ['analysis.interval must be at most 24h, got "48h"'],
  },
  {
    title: "unit-less interval",
    input: canary({ interval: "60" }),
    errors: [
      'analysis.interval must be a duration such as "1m" or "30s" (missing unit after 60; units: ns, us, ms, s, m, h), got "60"',
    ],
  },
  {
    title: "interval as a number",
    input: canary({ interval: 60 }),
    errors: ['analysis.interval must be a duration such as "1m" or "30s", got 60'],
  },
  {
    title: "fractional milliseconds",
    input: canary({ interval: "100500us" }),
    errors: [
      'analysis.interval must be a whole number of milliseconds, such as "1m" or "30s": timers and timeouts count milliseconds, got "100500us"',
    ],
  },
  {
    // Flagger reads 0 as unset: this is a Canary with no strategy.
    title: "zero iterations",
    input: canary({ stepWeight: undefined, iterations: 0 }),
    errors: [
      "analysis needs analysis.stepWeight or analysis.stepWeights (canary) or analysis.iterations (blue/green, A/B testing with analysis.match)",
    ],
  },
  {
    title: "huge iterations",
    input: canary({ stepWeight: undefined, iterations: 1_000_000 }),
    errors: ["analysis.iterations must be an integer between 0 and 1000, got 1000000"],
  },
  {
    title: "fractional iterations",
    input: canary({ stepWeight: undefined, iterations: 2.5 }),
    errors: ["analysis.iterations must be an integer between 0 and 1000, got 2.5"],
  },
  {
    title: "huge threshold",
    input: canary({ threshold: 5000 }),
    errors: ["analysis.threshold must be an integer between 0 and 1000, got 5000"],
  },
  {
    title: "zero progress deadline",
    input: canary({}, { progressDeadlineSeconds: 0 }),
    errors: ["progressDeadlineSeconds must be an integer between 1 and 86400, got 0"],
  },
  {
    title: "webhook timeout over an hour",
    input: canary({ webhooks: [hook({ timeout: "2h" })] }),
    errors: ['analysis.webhooks[0].timeout must be at most 1h, got "2h"'],
  },
  {
    title: "zero webhook timeout",
    input: canary({ webhooks: [hook({ timeout: "0s" })] }),
    errors: ['analysis.webhooks[0].timeout must be at least 1ms, got "0s"'],
  },
  {
    title: "endless webhook retries",
    input: canary({ webhooks: [hook({ retries: 1000 })] }),
    errors: ["analysis.webhooks[0].retries must be an integer between 0 and 100, got 1000"],
  },
  {
    title: "gate timeout beyond 30 days",
    input: canary({ gateTimeout: "1000h" }),
    errors: ['analysis.gateTimeout must be at most 720h, got "1000h"'],
  },
  {
    title: "more metrics than a Canary may have",
    input: canary({
      metrics: Array.from({ length: 51 }, (_, i) => ({
        name: `m${i}`,
        templateRef: { name: "t" },
        thresholdRange: { max: 1 },
      })),
    }),
    errors: [
      'analysis.metrics must be a list of at most 50 items, got [{"name":"m0","templateRef":{"name":"t"},"thresholdRange":{"max":1}},{"name":...',
    ],
  },

  // ---- metric windows as Prometheus takes them ----
  {
    title: "fractional metric interval",
    input: canary({
      metrics: [{ name: "request-duration", interval: "1.5m", thresholdRange: { max: 500 } }],
    }),
    errors: [
      'analysis.metrics[0].interval must be a Prometheus duration such as "1m" or "30s" (whole numbers with units y, w, d, h, m, s or ms, largest first), got "1.5m"',
    ],
  },
  {
    title: "metric interval units out of order",
    input: canary({
      metrics: [{ name: "request-duration", interval: "30s1m", thresholdRange: { max: 500 } }],
    }),
    errors: [
      'analysis.metrics[0].interval must be a Prometheus duration such as "1m" or "30s" (whole numbers with units y, w, d, h, m, s or ms, largest first), got "30s1m"',
    ],
  },
  {
    title: "metric interval with a Go-only unit",
    input: canary({
      metrics: [{ name: "request-duration", interval: "500us", thresholdRange: { max: 500 } }],
    }),
    errors: [
      'analysis.metrics[0].interval must be a Prometheus duration such as "1m" or "30s" (whole numbers with units y, w, d, h, m, s or ms, largest first), got "500us"',
    ],
  },
  {
    title: "zero metric interval",
    input: canary({ metrics: [{ name: "request-duration", interval: "0s", thresholdRange: { max: 500 } }] }),
    errors: ['analysis.metrics[0].interval must be at least 1s, got "0s"'],
  },
  {
    title: "metric interval of days",
    input: canary({ metrics: [{ name: "request-duration", interval: "2d", thresholdRange: { max: 500 } }] }),
    errors: ['analysis.metrics[0].interval must be at most 24h, got "2d"'],
  },

  // ---- route timeouts for the Gateway API ----
  {
    title: "fractional route timeout with the Gateway API",
    input: canary({}, { provider: "gatewayapi:v1", service: { port: 9898, timeout: "1.5s" } }),
    errors: [
      'service.timeout must be a Gateway API duration for provider gatewayapi:v1 (whole numbers with h, m, s or ms, such as "30s" or "1m30s"), got "1.5s"',
    ],
  },
  {
    title: "backend timeout longer than the request's",
    input: canary(
      {},
      { provider: "gatewayapi:v1", service: { port: 9898, timeout: "10s", backendTimeout: "30s" } },
    ),
    errors: [
      "service.backendTimeout (30s) must not exceed service.timeout (10s): the Gateway API refuses a backend timeout longer than the request's",
    ],
  },

  // ---- addresses ----
  {
    title: "ftp webhook",
    input: canary({ webhooks: [hook({ url: "ftp://hooks.test/" })] }),
    errors: [`analysis.webhooks[0].url ${URL_RULE}, got ftp://hooks.test/`],
  },
  {
    title: "file webhook",
    input: canary({ webhooks: [hook({ url: "file:///etc/passwd" })] }),
    errors: [`analysis.webhooks[0].url ${URL_RULE}, got file:///etc/passwd`],
  },
  {
    title: "javascript webhook",
    input: canary({ webhooks: [hook({ url: "javascript:alert(1)" })] }),
    errors: [`analysis.webhooks[0].url ${URL_RULE}, got "javascript:alert(1)"`],
  },
  {
    title: "relative webhook",
    input: canary({ webhooks: [hook({ url: "/hooks/load" })] }),
    errors: [`analysis.webhooks[0].url ${URL_RULE}, got "/hooks/load"`],
  },
  {
    title: "webhook with user info and no host",
    input: canary({ webhooks: [hook({ url: "http://admin:secret@" })] }),
    errors: [`analysis.webhooks[0].url ${URL_RULE}, got "http://admin:secret@"`],
  },
  {
    title: "webhook with credentials (not echoed back)",
    input: canary({ webhooks: [hook({ url: "https://admin:secret@hooks.test/load" })] }),
    errors: [
      "analysis.webhooks[0].url must not hold credentials (user:password@): they are not sent and would show in statuses and events; remove them and use a Secret (secretRef) where the resource has one, got hooks.test",
    ],
  },
  {
    title: "metricsServer without a scheme",
    input: canary({}, { metricsServer: "prometheus:9090" }),
    errors: [`metricsServer ${URL_RULE}, got prometheus:9090`],
  },

  // ---- duplicates and threshold ranges ----
  {
    title: "duplicate metric",
    input: canary({
      metrics: [
        { name: "request-duration", thresholdRange: { max: 500 } },
        { name: "request-duration", thresholdRange: { max: 300 } },
      ],
    }),
    errors: ["analysis.metrics[1].name must be unique, got request-duration twice"],
  },
  {
    title: "duplicate webhook of one type",
    input: canary({ webhooks: [hook(), hook()] }),
    errors: ["analysis.webhooks[1].name must be unique among rollout webhooks, got load-test twice"],
  },
  {
    title: "threshold range no value can pass",
    input: canary({ metrics: [{ name: "request-success-rate", thresholdRange: { min: 99, max: 90 } }] }),
    errors: ["analysis.metrics[0].thresholdRange.min (99) must not exceed max (90)"],
  },

  // ---- targets, providers and autoscalers ----
  {
    title: "missing target",
    input: { service: { port: 9898 }, analysis: { stepWeight: 10 } },
    errors: ["targetRef is required"],
  },
  {
    title: "StatefulSet target",
    input: canary({}, { targetRef: { apiVersion: "apps/v1", kind: "StatefulSet", name: "db" } }),
    errors: ["targetRef.kind must be one of Deployment, DaemonSet, Service, got StatefulSet"],
  },
  {
    title: "knative with a Deployment target",
    input: canary({}, { provider: "knative" }),
    errors: [
      "provider knative routes Knative Services only, but targetRef is a Deployment: point targetRef at a Knative Service (apiVersion serving.knative.dev/v1, kind Service), or choose another provider",
    ],
  },
  {
    title: "operator default provider knative with a Deployment target",
    input: canary(),
    defaultProvider: "knative",
    errors: [
      "provider is unset and the operator's default provider knative routes Knative Services only, but targetRef is a Deployment: set provider to one that routes it",
    ],
  },
  {
    title: "Knative Service target with another provider",
    input: canary({}, { provider: "istio", targetRef: knativeService }),
    errors: [
      "targetRef is a Knative Service, which only provider knative routes: set provider to knative (got istio)",
    ],
  },
  {
    title: "Kubernetes Service target with provider knative",
    input: canary({}, { provider: "knative", targetRef: { apiVersion: "v1", kind: "Service", name: "web" } }),
    errors: [
      "provider knative cannot route a Kubernetes Service target (it routes Knative Services only): choose a mesh or gateway provider such as gatewayapi:v1 or istio, or set targetRef.apiVersion to serving.knative.dev/v1 for a Knative Service",
    ],
  },
  {
    title: "Service target of neither API",
    input: canary(
      {},
      { provider: "istio", targetRef: { apiVersion: "apps/v1", kind: "Service", name: "web" } },
    ),
    errors: [
      "targetRef.apiVersion apps/v1 is not a Service API: with kind Service, use v1 for a Kubernetes Service (traffic moves between its -primary and -canary copies) or serving.knative.dev/v1 for a Knative Service (provider knative)",
    ],
  },
  {
    title: "Kubernetes Service target with provider kubernetes, another service name and an autoscaler",
    input: canary(
      {},
      {
        provider: "kubernetes",
        targetRef: { apiVersion: "v1", kind: "Service", name: "web" },
        service: { port: 9898, name: "shop" },
        autoscalerRef: { apiVersion: "autoscaling/v2", kind: "HorizontalPodAutoscaler", name: "web" },
      },
    ),
    errors: [
      "provider kubernetes cannot route a Kubernetes Service target (it switches the apex Service's selector between workloads, and here the apex is the target itself): choose a mesh or gateway provider such as gatewayapi:v1 or istio",
      "service.name must be unset or web with a Kubernetes Service target: the target is the apex Service, and its -primary and -canary copies are named after it",
      "autoscalerRef cannot be used with a Kubernetes Service target (nothing behind the Service is scaled): remove autoscalerRef",
    ],
  },
  {
    title: "Knative Service target with an autoscaler",
    input: canary(
      {},
      {
        provider: "knative",
        targetRef: knativeService,
        autoscalerRef: { apiVersion: "autoscaling/v2", kind: "HorizontalPodAutoscaler", name: "web" },
      },
    ),
    errors: [
      "autoscalerRef cannot be used with a Knative Service target (Knative scales its revisions itself): remove autoscalerRef",
    ],
  },
  {
    title: "nginx without the Ingress it routes from",
    input: canary({}, { provider: "nginx" }),
    errors: ["provider nginx needs ingressRef: set it to the Ingress that routes to the apex Service"],
  },
  {
    title: "apisix without the route it routes from",
    input: canary({}, { provider: "apisix" }),
    errors: ["provider apisix needs routeRef: set it to the ApisixRoute that routes to the apex Service"],
  },
  {
    title: "unknown provider",
    input: canary({}, { provider: "envoy" }),
    errors: [
      "provider must be one of apisix, appmesh, appmesh:v1beta2, contour, gatewayapi:v1, gatewayapi:v1beta1, gloo, istio, knative, kubernetes, kuma, linkerd, nginx, osm, skipper, smi:v1alpha1, smi:v1alpha2, smi:v1alpha3, traefik, got envoy",
    ],
  },
  {
    title: "autoscaler kind Flagger does not know either",
    input: canary(
      {},
      {
        autoscalerRef: {
          apiVersion: "autoscaling.k8s.io/v1",
          kind: "VerticalPodAutoscaler",
          name: "podinfo",
        },
      },
    ),
    errors: ["autoscalerRef.kind must be HorizontalPodAutoscaler or ScaledObject, got VerticalPodAutoscaler"],
  },
  {
    title: "DaemonSet with an autoscaler",
    input: canary(
      {},
      {
        targetRef: { apiVersion: "apps/v1", kind: "DaemonSet", name: "agent" },
        autoscalerRef: { apiVersion: "autoscaling/v2", kind: "HorizontalPodAutoscaler", name: "agent" },
      },
    ),
    errors: [
      "autoscalerRef cannot be used with a DaemonSet target (DaemonSets have no replicas to scale): remove autoscalerRef",
    ],
  },

  // ---- names, after their suffixes ----
  {
    title: "target name not a Kubernetes name",
    input: canary({}, { targetRef: { apiVersion: "apps/v1", kind: "Deployment", name: "PodInfo" } }),
    errors: [
      "targetRef.name must be a Kubernetes object name (lowercase letters, digits, '-' and '.', starting and ending with a letter or digit, at most 253 characters), got PodInfo",
    ],
  },
  {
    title: "target name that cannot be a Service name",
    input: canary({}, { targetRef: { apiVersion: "apps/v1", kind: "Deployment", name: "web.v2" } }),
    errors: [
      "targetRef.name web.v2 is also the Service name while service.name is unset, and a Service name must be a DNS-1035 label (lowercase letters, digits and '-', starting with a letter): set service.name",
    ],
  },
  {
    title: "target name too long once suffixed for its Services",
    input: canary({}, { targetRef: { apiVersion: "apps/v1", kind: "Deployment", name: long(60) } }),
    errors: [
      `targetRef.name is too long: the Service ${long(60)}-primary would have 68 characters, more than the 63 a Service name may have: set service.name to a name of at most 55 characters`,
    ],
  },
  {
    title: "service name too long once suffixed",
    input: canary({}, { service: { port: 9898, name: long(56) } }),
    errors: [
      `service.name is too long: the Service ${long(56)}-primary would have 64 characters, more than the 63 a Service name may have: use a name of at most 55 characters`,
    ],
  },
  {
    title: "service name starting with a digit",
    input: canary({}, { service: { port: 9898, name: "1web" } }),
    errors: [
      "service.name must be a DNS-1035 label (lowercase letters, digits and '-', starting with a letter and ending with a letter or digit, at most 63 characters), got \"1web\"",
    ],
  },
  {
    title: "target name too long for its primary Deployment",
    input: canary(
      {},
      {
        targetRef: { apiVersion: "apps/v1", kind: "Deployment", name: long(250) },
        service: { port: 9898, name: "web" },
      },
    ),
    errors: [
      `targetRef.name is too long: the primary's Deployment ${long(20)}...-primary would have 258 characters, more than the 253 a name may have: use a name of at most 245 characters`,
    ],
  },
  {
    title: "autoscaler name too long for its primary copy",
    input: canary(
      {},
      {
        autoscalerRef: { apiVersion: "autoscaling/v2", kind: "HorizontalPodAutoscaler", name: long(248) },
      },
    ),
    errors: [
      `autoscalerRef.name is too long: the primary's HorizontalPodAutoscaler ${long(20)}...-primary would have 256 characters, more than the 253 a name may have: use a name of at most 245 characters`,
    ],
  },
  {
    title: "template reference to a namespace that cannot exist",
    input: canary({
      metrics: [
        {
          name: "errors",
          templateRef: { name: "errors", namespace: "Ops_Team" },
          thresholdRange: { max: 1 },
        },
      ],
    }),
    errors: [
      "analysis.metrics[0].templateRef.namespace must be a DNS-1123 label (lowercase letters, digits and '-', starting and ending with a letter or digit, at most 63 characters), got Ops_Team",
    ],
  },

  // ---- cookies and headers ----
  {
    title: "cookie name with a space",
    input: canary({ sessionAffinity: { cookieName: "canary cookie" } }),
    errors: [`analysis.sessionAffinity.cookieName ${TOKEN_RULE}, got "canary cookie"`],
  },
  {
    title: "cookie name with '='",
    input: canary({ sessionAffinity: { cookieName: "canary=1" } }),
    errors: [`analysis.sessionAffinity.cookieName ${TOKEN_RULE}, got "canary=1"`],
  },
  {
    title: "one cookie for both sides",
    input: canary({ sessionAffinity: { cookieName: "flagger", primaryCookieName: "flagger" } }),
    errors: [
      "analysis.sessionAffinity.primaryCookieName must differ from cookieName (flagger), or one cookie would send users both ways: rename one",
    ],
  },
  {
    title: "cookie domain given as a URL",
    input: canary({ sessionAffinity: { cookieName: "flagger", domain: "https://example.com" } }),
    errors: [
      'analysis.sessionAffinity.domain must be a cookie domain such as "example.com" (a host name, no scheme, port or path), got https://example.com',
    ],
  },
  {
    title: "cookie path with ';'",
    input: canary({ sessionAffinity: { cookieName: "flagger", path: "/;Secure" } }),
    errors: [
      'analysis.sessionAffinity.path must be a cookie path such as "/" (starting with /, visible ASCII characters but ";"), got "/;Secure"',
    ],
  },
  {
    title: "cookie lifetime beyond what browsers keep",
    input: canary({ sessionAffinity: { cookieName: "flagger", maxAge: 1_000_000_000 } }),
    errors: ["analysis.sessionAffinity.maxAge must be an integer between 0 and 34560000, got 1000000000"],
  },
  {
    title: "header name with a space (Istio style)",
    input: canary({
      stepWeight: undefined,
      iterations: 5,
      match: [{ headers: { "x user": { exact: "qa" } } }],
    }),
    errors: [
      `analysis.match[0].headers["x user"] is not a valid HTTP header name ("x user"): use letters, digits and !#$%&'*+-.^_\`|~, without spaces or colons, at most 256 characters`,
    ],
  },
  {
    title: "header name with a colon (Gateway API style)",
    input: canary(
      {},
      {
        provider: "gatewayapi:v1",
        service: { port: 9898, match: [{ headers: [{ name: "x:canary", value: "1" }] }] },
      },
    ),
    errors: [
      `service.match[0].headers[0].name is not a valid HTTP header name ("x:canary"): use letters, digits and !#$%&'*+-.^_\`|~, without spaces or colons, at most 256 characters`,
    ],
  },

  // ---- size ----
  {
    title: "spec too large for the workflow's messages",
    input: canary({ webhooks: [hook({ metadata: { cmd: "x".repeat(200 * 1024) } })] }),
    errors: [
      "spec is too large: 201 KiB with defaults applied, more than the 128 KiB a Canary may hold (it travels in the rollout's workflow messages): shorten the largest values, such as webhook metadata, templateVariables or match lists",
    ],
  },
];

const templateCases: Case[] = [
  {
    title: "MetricTemplate with an ftp address",
    input: { provider: { type: "prometheus", address: "ftp://prometheus.test/" }, query: "up" },
    errors: [`provider.address ${URL_RULE}, got ftp://prometheus.test/`],
  },
  {
    title: "MetricTemplate with credentials in its address",
    input: { provider: { type: "prometheus", address: "http://user:pw@prometheus.test:9090" }, query: "up" },
    errors: [
      "provider.address must not hold credentials (user:password@): they are not sent and would show in statuses and events; remove them and use a Secret (secretRef) where the resource has one, got prometheus.test:9090",
    ],
  },
  {
    title: "MetricTemplate without a query",
    input: { provider: { type: "prometheus" }, query: "" },
    errors: ['query must be a non-empty query, got ""'],
  },
];

const alertCases: Case[] = [
  {
    title: "AlertProvider with a relative address",
    input: { type: "slack", address: "hooks/slack" },
    errors: [`address ${URL_RULE}, got hooks/slack`],
  },
  {
    title: "AlertProvider with a javascript proxy",
    input: { type: "msteams", address: "https://teams.test/hook", proxy: "javascript:void(0)" },
    errors: [`proxy ${URL_RULE}, got "javascript:void(0)"`],
  },
  {
    title: "AlertProvider with neither address nor secret",
    input: { type: "discord" },
    errors: ["address is required unless secretRef names a Secret holding it: set address or secretRef"],
  },
];

function errorsOf(result: { ok: true } | { ok: false; errors: readonly string[] }): readonly string[] {
  return result.ok ? [] : result.errors;
}

describe("bad Canaries are refused with the field and the fix", () => {
  for (const { title, input, errors, defaultProvider } of canaryCases) {
    test(title, () => {
      assert.deepEqual(errorsOf(validateCanary(input, { defaultProvider })), errors);
    });
  }
});

describe("bad MetricTemplates and AlertProviders are refused with the field and the fix", () => {
  for (const { title, input, errors } of templateCases) {
    test(title, () => assert.deepEqual(errorsOf(validateMetricTemplate(input)), errors));
  }
  for (const { title, input, errors } of alertCases) {
    test(title, () => assert.deepEqual(errorsOf(validateAlertProvider(input)), errors));
  }
});

test("the suite holds at least 30 bad inputs", () => {
  assert.ok(canaryCases.length + templateCases.length + alertCases.length >= 30);
});

describe("manifests in the style of Flagger's documentation still pass", () => {
  for (const [title, spec] of flaggerStyle) {
    test(title, () => {
      const result = validateCanary(spec);
      assert.ok(result.ok, `expected valid, got:\n${errorsOf(result).join("\n")}`);
    });
  }

  test("a Prometheus MetricTemplate and a Slack AlertProvider", () => {
    const template = validateMetricTemplate({
      provider: { type: "prometheus", address: "http://prometheus.istio-system:9090" },
      query: 'sum(rate(http_requests_total{namespace="{{ namespace }}",status!~"5.*"}[{{ interval }}]))',
    });
    assert.ok(template.ok, errorsOf(template).join("\n"));
    const alert = validateAlertProvider({
      type: "slack",
      channel: "on-call-alerts",
      username: "flagger",
      address: "https://hooks.slack.com/services/T0/B0/XYZ",
    });
    assert.ok(alert.ok, errorsOf(alert).join("\n"));
  });
});
