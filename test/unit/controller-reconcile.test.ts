import assert from "node:assert/strict";
import { describe, it } from "node:test";
import type { V1Deployment } from "@kubernetes/client-node";
import {
  COMMAND_ANNOTATIONS,
  type CommandMetadata,
  commandEvent,
  commandWriter,
  lastCommandPatch,
  readCommand,
  removalPatch,
} from "../../src/controller/commands.ts";
import {
  type CanaryObject,
  problemStatusPatch,
  type ReconcileInput,
  reconcileCanary,
  showsProblem,
  targetRefOf,
  targetRevision,
} from "../../src/controller/reconcile.ts";
import type { ConfigObject } from "../../src/kube/configs.ts";

const target: V1Deployment = {
  metadata: { name: "app", namespace: "web" },
  spec: {
    selector: { matchLabels: { app: "app" } },
    template: {
      metadata: { labels: { app: "app" } },
      spec: {
        containers: [{ name: "app", image: "app:1" }],
        volumes: [{ name: "c", configMap: { name: "settings" } }],
      },
    },
  },
};
const settings: ConfigObject = { metadata: { name: "settings" }, data: { level: "1" } };
const spec = {
  targetRef: { apiVersion: "apps/v1", kind: "Deployment", name: "app" },
  service: { port: 80 },
  analysis: { interval: "1m", threshold: 5, stepWeight: 10, maxWeight: 50 },
};

function input(canary: Partial<CanaryObject> & { spec?: unknown }, overrides: Partial<ReconcileInput> = {}) {
  return {
    canary: { metadata: { name: "app", namespace: "web", generation: 3 }, ...canary } as CanaryObject,
    target: (kind: string, name: string) => (kind === "Deployment" && name === "app" ? target : undefined),
    config: (kind: string, name: string) =>
      kind === "ConfigMap" && name === "settings" ? settings : undefined,
    configTracking: true,
    defaults: {},
    policy: { eventWebhook: undefined, crossNamespaceRefs: true },
    nowMs: 1_000_000,
    finalizeTimeoutMs: 60_000,
    ...overrides,
  } satisfies ReconcileInput;
}

describe("reconcileCanary", () => {
  it("sends the revision and generation of a valid Canary", () => {
    const decision = reconcileCanary(input({ spec }));
    assert.equal(decision.kind, "revision");
    if (decision.kind !== "revision") return;
    assert.equal(decision.generation, 3);
    assert.equal(decision.revision, targetRevision(target, input({}).config, true));
    assert.equal(decision.addFinalizer, false);
    assert.equal(decision.resyncStatus, false);
  });

  it("a config change changes the revision; with tracking off it does not", () => {
    const before = targetRevision(target, () => settings, true);
    const changed: ConfigObject = { ...settings, data: { level: "2" } };
    assert.notEqual(
      targetRevision(target, () => changed, true),
      before,
    );
    assert.equal(
      targetRevision(target, () => changed, false),
      targetRevision(target, () => settings, false),
    );
  });

  it("an invalid spec is a problem naming the field", () => {
    const decision = reconcileCanary(input({ spec: { ...spec, analysis: { interval: "soon" } } }));
    assert.equal(decision.kind, "problem");
    if (decision.kind !== "problem") return;
    assert.equal(decision.reason, "InvalidSpec");
    assert.match(decision.message, /analysis\.interval must be a duration/);
  });

  it("a missing target is a problem that says what to create", () => {
    const decision = reconcileCanary(
      input({ spec: { ...spec, targetRef: { ...spec.targetRef, name: "nope" } } }),
    );
    assert.deepEqual(
      decision.kind === "problem" && [decision.reason, /Deployment web\/nope/.test(decision.message)],
      ["TargetNotFound", true],
    );
  });

  it("a Knative Service's revision is the latest Knative created; none yet tells the workflow nothing", () => {
    const knativeSpec = {
      ...spec,
      provider: "knative",
      targetRef: { apiVersion: "serving.knative.dev/v1", kind: "Service", name: "app" },
    };
    const service = (latestCreatedRevisionName?: string) => (type: string, name: string) =>
      type === "KnativeService" && name === "app" ? { status: { latestCreatedRevisionName } } : undefined;
    const decision = reconcileCanary(input({ spec: knativeSpec }, { target: service("app-00002") }));
    assert.equal(decision.kind, "revision");
    if (decision.kind === "revision") assert.equal(decision.revision, "app-00002");
    assert.deepEqual(reconcileCanary(input({ spec: knativeSpec }, { target: service() })), { kind: "none" });
    assert.deepEqual(reconcileCanary(input({ spec: knativeSpec }, { target: () => undefined })), {
      kind: "problem",
      reason: "TargetNotFound",
      message:
        "Knative Service web/app (spec.targetRef) not found: create it, or point spec.targetRef.name at an existing Knative Service",
    });
    assert.deepEqual(targetRefOf({ metadata: { name: "app", namespace: "web" }, spec: knativeSpec }), {
      type: "KnativeService",
      name: "app",
    });
  });

  it("a Kubernetes Service's revision is its spec: any change to it is a new one", () => {
    const serviceSpec = {
      ...spec,
      provider: "gatewayapi:v1",
      targetRef: { apiVersion: "v1", kind: "Service", name: "app" },
    };
    const service = (port: number) => (type: string, name: string) =>
      type === "Service" && name === "app"
        ? {
            metadata: { name, resourceVersion: `${port}` },
            spec: { selector: { app: "green" }, ports: [{ port }] },
          }
        : undefined;
    const revision = (port: number) => {
      const decision = reconcileCanary(input({ spec: serviceSpec }, { target: service(port) }));
      assert.equal(decision.kind, "revision");
      return decision.kind === "revision" ? decision.revision : "";
    };
    assert.equal(revision(80), revision(80), "metadata is not part of it");
    assert.notEqual(revision(80), revision(8080));
    assert.deepEqual(reconcileCanary(input({ spec: serviceSpec }, { target: () => undefined })), {
      kind: "problem",
      reason: "TargetNotFound",
      message:
        "Service web/app (spec.targetRef) not found: create it, or point spec.targetRef.name at an existing Service",
    });
    assert.deepEqual(targetRefOf({ metadata: { name: "app", namespace: "web" }, spec: serviceSpec }), {
      type: "Service",
      name: "app",
    });
  });

  it("revertOnDeletion asks for the finalizer, once", () => {
    const asked = reconcileCanary(input({ spec: { ...spec, revertOnDeletion: true } }));
    assert.equal(asked.kind === "revision" && asked.addFinalizer, true);
    const present = reconcileCanary(
      input({
        spec: { ...spec, revertOnDeletion: true },
        metadata: { name: "app", namespace: "web", finalizers: ["finalizer.flagger.app"] },
      }),
    );
    assert.equal(present.kind === "revision" && present.addFinalizer, false);
  });

  it("a problem shown in status is cleared through the workflow once it is gone", () => {
    const status = problemStatusPatch(undefined, "TargetNotFound", "gone", "2026-01-01T00:00:00Z");
    const decision = reconcileCanary(input({ spec, status }));
    assert.equal(decision.kind === "revision" && decision.resyncStatus, true);
    assert.equal(showsProblem(status, "TargetNotFound", "gone"), true);
    assert.equal(showsProblem(status, "TargetNotFound", "other"), false);
  });

  it("a deleted Canary with the finalizer is finalized until the timeout, without it nothing is done", () => {
    const deleting = (finalizers: string[]) =>
      reconcileCanary(
        input({
          spec,
          metadata: {
            name: "app",
            namespace: "web",
            finalizers,
            deletionTimestamp: new Date(1_000_000 - 20_000).toISOString(),
          },
        }),
      );
    assert.deepEqual(deleting(["finalizer.flagger.app"]), { kind: "finalize", giveUpInMs: 40_000 });
    assert.deepEqual(deleting([]), { kind: "none" });
  });

  it("--no-cross-namespace-refs refuses templates elsewhere; --event-webhook is added where none is declared", () => {
    const crossing = {
      ...spec,
      analysis: {
        ...spec.analysis,
        metrics: [{ name: "m", templateRef: { name: "t", namespace: "ops" }, thresholdRange: { max: 1 } }],
      },
    };
    const refused = reconcileCanary(
      input({ spec: crossing }, { policy: { eventWebhook: undefined, crossNamespaceRefs: false } }),
    );
    assert.equal(refused.kind, "problem");
    assert.match(
      refused.kind === "problem" ? refused.message : "",
      /analysis\.metrics\[0\]\.templateRef refers to namespace ops/,
    );
    const withHook = reconcileCanary(
      input({ spec }, { policy: { eventWebhook: "http://events.example.test/", crossNamespaceRefs: true } }),
    );
    const hooks = withHook.kind === "revision" ? withHook.spec.analysis.webhooks : [];
    assert.deepEqual(
      hooks.map((w) => [w.type, w.url]),
      [["event", "http://events.example.test/"]],
    );
  });
});

describe("commands by annotation", () => {
  const { command, reason, by, gate, id } = COMMAND_ANNOTATIONS;
  /** The managed fields of a Canary whose command annotation `manager` wrote at `time`. */
  const writtenBy = (manager: string, time: string) => ({
    manager,
    operation: "Update",
    time,
    fieldsV1: { "f:metadata": { "f:annotations": { [`f:${command}`]: {}, [`f:${reason}`]: {} } } },
  });
  const metadata = (annotations: Record<string, string>, time = "2026-01-01T10:00:00Z"): CommandMetadata => ({
    annotations: { "team.example/owner": "payments", ...annotations },
    managedFields: [
      { manager: "kubectl-client-side-apply", time: "2026-01-01T12:00:00Z", fieldsV1: { "f:spec": {} } },
      writtenBy("kubectl-annotate", time),
    ],
  });
  const sent = (annotations: Record<string, string>) => {
    const request = readCommand(metadata(annotations), []);
    assert.equal(request?.kind, "send", request?.kind === "reject" ? request.message : "");
    return request as Extract<typeof request, { kind: "send" }>;
  };
  const rejected = (annotations: Record<string, string>) => {
    const request = readCommand(metadata(annotations), []);
    assert.equal(request?.kind, "reject");
    return request as Extract<typeof request, { kind: "reject" }>;
  };

  it("no command annotation is no command, even with a reason written ahead of it", () => {
    assert.equal(readCommand(metadata({}), []), undefined);
    assert.equal(readCommand(metadata({ [reason]: "soon" }), []), undefined);
    assert.equal(readCommand({}, []), undefined);
  });

  it("a command with reason and by is sent as written, and acknowledged by a Normal Event", () => {
    const request = sent({ [command]: " abort ", [reason]: "p99 too high", [by]: "alice" });
    assert.equal(request.command, "abort");
    assert.deepEqual(request.input, { by: "alice", reason: "p99 too high" });
    assert.deepEqual(commandEvent(request, { accepted: true, message: "aborted: rolled back" }), {
      type: "Normal",
      reason: "CommandAccepted",
      message: 'abort by alice ("p99 too high"): aborted: rolled back',
    });
  });

  it("without command-by, by names the tool that wrote the annotation, from managedFields", () => {
    assert.equal(sent({ [command]: "pause" }).input.by, "annotation (kubectl-annotate)");
    const fromGitOps = readCommand(
      {
        annotations: { [command]: "pause" },
        managedFields: [
          writtenBy("kubectl-annotate", "2026-01-01T10:00:00Z"),
          writtenBy("kustomize-controller", "2026-01-01T11:00:00Z"),
        ],
      },
      [],
    );
    assert.equal(fromGitOps?.by, "annotation (kustomize-controller)");
    assert.equal(readCommand({ annotations: { [command]: "pause" } }, [])?.by, "annotation");
    assert.equal(commandWriter(undefined), undefined);
  });

  it("an unknown command is rejected with a Warning that names the commands, and removed", () => {
    const request = rejected({ [command]: "rollback", [reason]: "bad", [by]: "bob" });
    assert.match(
      request.message,
      /unknown command "rollback"; use one of approve, skip, abort, pause, resume, retry/,
    );
    const event = commandEvent(request, { accepted: false, message: request.message });
    assert.equal(event.type, "Warning");
    assert.equal(event.reason, "CommandRejected");
    assert.match(event.message, /^rollback by bob \("bad"\) rejected: .*unknown command/);
    assert.deepEqual(
      removalPatch(request.present)
        .filter((o) => o.op === "remove")
        .map((o) => o.path),
      [
        "/metadata/annotations/durable-canary.io~1command",
        "/metadata/annotations/durable-canary.io~1command-reason",
        "/metadata/annotations/durable-canary.io~1command-by",
      ],
    );
  });

  it("an empty command-by is rejected: who commands is never blank", () => {
    assert.match(rejected({ [command]: "abort", [by]: "  " }).message, /command-by is empty/);
  });

  it("an oversized reason or by is rejected with the limit, and status keeps it cut", () => {
    const long = "x".repeat(513);
    const request = rejected({ [command]: "abort", [reason]: long });
    assert.match(request.message, /command-reason is 513 characters long; at most 512/);
    const status = lastCommandPatch(request, { accepted: false, message: request.message }, "t");
    assert.equal((status.reason as string).length, 512);
    assert.match(rejected({ [command]: "abort", [by]: "y".repeat(129) }).message, /at most 128/);
  });

  it("a gate is for approve only, and must be a gate", () => {
    assert.deepEqual(sent({ [command]: "approve", [gate]: "confirm-promotion" }).input, {
      by: "annotation (kubectl-annotate)",
      gate: "confirm-promotion",
    });
    assert.match(rejected({ [command]: "skip", [gate]: "confirm-promotion" }).message, /approve only/);
    assert.match(rejected({ [command]: "approve", [gate]: "confirm" }).message, /unknown gate "confirm"/);
  });

  it("the removal patch removes each annotation only if it still holds what was read", () => {
    const request = sent({ [command]: "resume", [id]: "7" });
    assert.deepEqual(removalPatch(request.present), [
      { op: "test", path: "/metadata/annotations/durable-canary.io~1command", value: "resume" },
      { op: "remove", path: "/metadata/annotations/durable-canary.io~1command" },
      { op: "test", path: "/metadata/annotations/durable-canary.io~1command-id", value: "7" },
      { op: "remove", path: "/metadata/annotations/durable-canary.io~1command-id" },
    ]);
  });

  it("a command already acknowledged (same name and id) is a repeat; another command with that id is not", () => {
    const handled = [{ name: "pause", id: "42" }];
    assert.equal(readCommand(metadata({ [command]: "pause", [id]: "42" }), handled)?.kind, "repeat");
    assert.equal(readCommand(metadata({ [command]: "resume", [id]: "42" }), handled)?.kind, "send");
    assert.equal(readCommand(metadata({ [command]: "pause", [id]: "43" }), handled)?.kind, "send");
    // A rejected command applied again is not rejected (and told) again.
    assert.equal(
      readCommand(metadata({ [command]: "nope", [id]: "1" }), [{ name: "nope", id: "1" }])?.kind,
      "repeat",
    );
  });

  it("without command-id, the same metadata is the same command, and the same command written later is a new one", () => {
    const first = readCommand(metadata({ [command]: "pause" }), []);
    assert.equal(readCommand(metadata({ [command]: "pause" }), [])?.id, first?.id);
    const handled = [{ name: "pause", id: first?.id ?? "" }];
    assert.equal(readCommand(metadata({ [command]: "pause" }), handled)?.kind, "repeat");
    assert.equal(
      readCommand(metadata({ [command]: "pause" }, "2026-01-01T10:05:00Z"), handled)?.kind,
      "send",
    );
  });

  it("status.lastCommand clears the fields a previous command set", () => {
    const request = sent({ [command]: "pause" });
    const status = lastCommandPatch(request, { accepted: true, message: "paused" }, "2026-01-01T10:00:01Z");
    assert.deepEqual(status, {
      name: "pause",
      by: "annotation (kubectl-annotate)",
      reason: null,
      gate: null,
      id: request.id,
      accepted: true,
      message: "paused",
      at: "2026-01-01T10:00:01Z",
    });
  });
});
