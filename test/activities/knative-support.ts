/** Knative Serving as its controller would leave it, written by the test user: the world runs no Knative. */
import { RESOURCES } from "../../src/kube/resources.ts";
import { admin } from "./kube-support.ts";

/** A Knative Service as the user applies it, with the revision Knative would have created. */
export async function knativeService(
  namespace: string,
  name: string,
  traffic?: Record<string, unknown>[],
): Promise<void> {
  await admin.create(RESOURCES.knativeServices, namespace, {
    metadata: { name, labels: { team: "a" } },
    spec: {
      template: { spec: { containers: [{ image: "example.test/hello:1" }] } },
      ...(traffic ? { traffic } : {}),
    },
  });
  await createdRevision(namespace, name, `${name}-00001`);
}

/** What Knative's controller records when a change to the template creates a revision. */
export async function createdRevision(namespace: string, name: string, revision: string): Promise<void> {
  await admin.mergePatch(
    RESOURCES.knativeServices,
    namespace,
    name,
    { status: { latestCreatedRevisionName: revision, latestReadyRevisionName: revision } },
    "status",
  );
}

/** The Service's `spec.traffic` the router writes for a split. */
export function split(percentToLatest: number, primary: string) {
  return [
    { latestRevision: true, percent: percentToLatest },
    { revisionName: primary, latestRevision: false, percent: 100 - percentToLatest },
  ];
}
