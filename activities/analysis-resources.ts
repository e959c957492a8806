/**
 * The objects analysis reads from the cluster: MetricTemplates, AlertProviders and the Secrets they
 * reference, and a Knative target's latest revision (its builtin metrics' series are named after it). Metrics and alerts depend on this small interface, not on a Kubernetes client, so the
 * worker can hand in whichever client it shares and tests can hand in plain objects.
 */
import { ApiException, CoreV1Api, CustomObjectsApi, type KubeConfig } from "@kubernetes/client-node";
import { API_GROUP } from "../src/api/canary.ts";
import { errorMessage } from "../src/log.ts";

export interface AnalysisResources {
  /** The MetricTemplate's `spec` as stored (unvalidated), or undefined if there is none. */
  metricTemplate(namespace: string, name: string): Promise<unknown>;
  /** The AlertProvider's `spec` as stored (unvalidated), or undefined if there is none. */
  alertProvider(namespace: string, name: string): Promise<unknown>;
  /** The Secret's data decoded as UTF-8, or undefined if there is none. */
  secret(namespace: string, name: string): Promise<Readonly<Record<string, string>> | undefined>;
  /** The Knative Service's `status.latestCreatedRevisionName`, or undefined if it has none. */
  latestKnativeRevision(namespace: string, name: string): Promise<string | undefined>;
}

/** A read the cluster refused or could not answer; the message says what to fix. */
export class AnalysisResourceError extends Error {
  override name = "AnalysisResourceError";
}

const FLAGGER_VERSION = "v1beta1";

/** Reads the objects with @kubernetes/client-node (the operator's credentials). */
export function kubeAnalysisResources(kc: KubeConfig): AnalysisResources {
  const custom = kc.makeApiClient(CustomObjectsApi);
  const core = kc.makeApiClient(CoreV1Api);

  async function readSpec(plural: string, kind: string, namespace: string, name: string): Promise<unknown> {
    const object = await orUndefined(
      () =>
        custom.getNamespacedCustomObject({
          group: API_GROUP,
          version: FLAGGER_VERSION,
          namespace,
          plural,
          name,
        }) as Promise<{ spec?: unknown }>,
      { verb: "get", resource: `${plural}.${API_GROUP}`, kind, namespace, name },
    );
    return object?.spec;
  }

  return {
    metricTemplate: (namespace, name) => readSpec("metrictemplates", "MetricTemplate", namespace, name),
    alertProvider: (namespace, name) => readSpec("alertproviders", "AlertProvider", namespace, name),
    async secret(namespace, name) {
      const secret = await orUndefined(() => core.readNamespacedSecret({ namespace, name }), {
        verb: "get",
        resource: "secrets",
        kind: "Secret",
        namespace,
        name,
      });
      if (secret === undefined) return undefined;
      const data: Record<string, string> = {};
      for (const [key, value] of Object.entries(secret.data ?? {})) {
        data[key] = Buffer.from(value, "base64").toString("utf8");
      }
      // stringData is write-only on a real API server, but an object built by hand may carry it.
      return { ...data, ...(secret.stringData ?? {}) };
    },
    async latestKnativeRevision(namespace, name) {
      const service = await orUndefined(
        () =>
          custom.getNamespacedCustomObject({
            group: "serving.knative.dev",
            version: "v1",
            namespace,
            plural: "services",
            name,
          }) as Promise<{ status?: { latestCreatedRevisionName?: string } }>,
        { verb: "get", resource: "services.serving.knative.dev", kind: "Knative Service", namespace, name },
      );
      return service?.status?.latestCreatedRevisionName;
    },
  };
}

interface ReadTarget {
  readonly verb: string;
  readonly resource: string;
  readonly kind: string;
  readonly namespace: string;
  readonly name: string;
}

/** Runs a read; a 404 (object or CRD missing) is undefined, other failures say what to fix. */
async function orUndefined<T>(read: () => Promise<T>, target: ReadTarget): Promise<T | undefined> {
  try {
    return await read();
  } catch (error) {
    if (error instanceof ApiException) {
      if (error.code === 404) return undefined;
      const what = `${target.kind} ${target.namespace}/${target.name}`;
      if (error.code === 401 || error.code === 403) {
        throw new AnalysisResourceError(
          `cannot read ${what}: forbidden; the operator's role needs "${target.verb}" on ${target.resource} in namespace ${target.namespace}`,
        );
      }
      throw new AnalysisResourceError(`cannot read ${what}: the API server answered ${error.code}`);
    }
    throw new AnalysisResourceError(
      `cannot read ${target.kind} ${target.namespace}/${target.name}: ${errorMessage(error)}`,
    );
  }
}
