/**
 * MetricTemplate `spec.provider.type` → provider. Adding CloudWatch, InfluxDB or Stackdriver is
 * one file exporting a MetricProviderFactory and one line here.
 */
import type { MetricTemplateSpec } from "../../src/api/canary.ts";
import { cloudWatchProvider } from "./cloudwatch.ts";
import { datadogProvider } from "./datadog.ts";
import { dynatraceProvider } from "./dynatrace.ts";
import { externalMetricsProvider } from "./external-metrics.ts";
import { graphiteProvider } from "./graphite.ts";
import { influxDbProvider } from "./influxdb.ts";
import { keptnProvider } from "./keptn.ts";
import { newRelicProvider } from "./newrelic.ts";
import { prometheusProvider } from "./prometheus.ts";
import {
  type MetricProvider,
  type MetricProviderFactory,
  MetricQueryError,
  type ProviderSettings,
} from "./provider.ts";
import { splunkProvider } from "./splunk.ts";
import { stackdriverProvider } from "./stackdriver.ts";

export type MetricProviderType = MetricTemplateSpec["provider"]["type"];

export const metricProviders: Readonly<Partial<Record<MetricProviderType, MetricProviderFactory>>> = {
  prometheus: prometheusProvider,
  datadog: datadogProvider,
  graphite: graphiteProvider,
  newrelic: newRelicProvider,
  dynatrace: dynatraceProvider,
  cloudwatch: cloudWatchProvider,
  influxdb: influxDbProvider,
  stackdriver: stackdriverProvider,
  splunk: splunkProvider,
  keptn: keptnProvider,
  externalmetrics: externalMetricsProvider,
};

export function createMetricProvider(type: MetricProviderType, settings: ProviderSettings): MetricProvider {
  const factory = metricProviders[type];
  if (factory === undefined) {
    throw new MetricQueryError(
      "config",
      `metric provider type ${type} is not supported; supported: ${Object.keys(metricProviders).join(", ")}`,
    );
  }
  return factory(settings);
}
