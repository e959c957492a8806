/**
 * Operator commands given as annotations on the Canary, for those who change the cluster only
 * through the Kubernetes API (GitOps, kubectl): what the annotations say, checked before anything
 * reaches Temporal, and how they are acknowledged and removed. Pure functions; the controller
 * carries them out. Who may command is Kubernetes RBAC's decision: patch on canaries.
 */
import { createHash } from "node:crypto";
import { MAX_BY_LENGTH, MAX_REASON_LENGTH } from "../../workflows/decisions/inputs.ts";
import { type ApproveInput, COMMANDS, type Command } from "../../workflows/messages.ts";
import { GATE_TYPES, type GateType } from "../api/canary.ts";
import type { JsonPatchOperation } from "../kube/client.ts";

const PREFIX = "durable-canary.io/command";

export const COMMAND_ANNOTATIONS = {
  command: PREFIX,
  reason: `${PREFIX}-reason`,
  by: `${PREFIX}-by`,
  gate: `${PREFIX}-gate`,
  id: `${PREFIX}-id`,
} as const;

/** Longest command-id kept: a counter, a commit SHA or a UUID fits. */
export const MAX_ID_LENGTH = 128;

export interface LastCommand {
  readonly name: string;
  readonly by: string;
  readonly reason?: string;
  readonly gate?: GateType;
  readonly id: string;
  readonly accepted: boolean;
  readonly message: string;
  readonly at: string;
}

interface ManagedFieldsEntry {
  readonly manager?: string;
  readonly time?: string | Date;
  readonly fieldsV1?: unknown;
}

export interface CommandMetadata {
  readonly annotations?: Readonly<Record<string, string>>;
  readonly managedFields?: readonly ManagedFieldsEntry[];
}

export interface CommandCommon {
  /** The command annotations as read: removed only if still the same. */
  readonly present: Readonly<Record<string, string>>;
  readonly name: string;
  readonly by: string;
  readonly reason: string | undefined;
  readonly gate: GateType | undefined;
  readonly id: string;
}

export type CommandRequest =
  /** Valid: sent to the workflow as an update. */
  | (CommandCommon & { readonly kind: "send"; readonly command: Command; readonly input: ApproveInput })
  /** Invalid: acknowledged as rejected, never sent. */
  | (CommandCommon & { readonly kind: "reject"; readonly message: string })
  /** Already acknowledged (a GitOps tool applied it again): removed, not sent again. */
  | (CommandCommon & { readonly kind: "repeat" });

/**
 * The command the annotations give, or undefined when there is none. The other command-*
 * annotations without a command are left alone: they may be a command being written.
 */
export function readCommand(
  metadata: CommandMetadata,
  handled: readonly Pick<LastCommand, "name" | "id">[],
): CommandRequest | undefined {
  const annotations = metadata.annotations ?? {};
  const written = annotations[COMMAND_ANNOTATIONS.command];
  if (written === undefined) return undefined;
  const present: Record<string, string> = {};
  for (const key of Object.values(COMMAND_ANNOTATIONS)) {
    const value = annotations[key];
    if (value !== undefined) present[key] = value;
  }
  const name = written.trim();
  const writer = commandWriter(metadata.managedFields);
  const givenBy = annotations[COMMAND_ANNOTATIONS.by];
  const givenReason = annotations[COMMAND_ANNOTATIONS.reason];
  const givenGate = annotations[COMMAND_ANNOTATIONS.gate]?.trim();
  const givenId = annotations[COMMAND_ANNOTATIONS.id]?.trim();
  const gate = (GATE_TYPES as readonly string[]).includes(givenGate ?? "")
    ? (givenGate as GateType)
    : undefined;
  const by =
    givenBy?.trim() ||
    (writer?.manager ? `annotation (${writer.manager})`.slice(0, MAX_BY_LENGTH) : "annotation");
  const reason = givenReason?.trim() || undefined;
  const id =
    givenId ||
    createHash("sha256")
      .update(JSON.stringify([name, gate, reason, by, writer?.manager, writer?.time]))
      .digest("hex")
      .slice(0, 16);
  const common: CommandCommon = {
    present,
    name,
    by,
    reason: reason?.slice(0, MAX_REASON_LENGTH),
    gate,
    id: id.slice(0, MAX_ID_LENGTH),
  };
  // Before any check, so that a rejected command applied again (GitOps) is not rejected again.
  if (handled.some((c) => c.name === name && c.id === common.id)) return { ...common, kind: "repeat" };
  const problem = problemOf(name, givenBy, reason, givenGate, givenId);
  if (problem !== undefined) return { ...common, kind: "reject", message: problem };
  return {
    ...common,
    kind: "send",
    command: name as Command,
    input: { by, ...(reason === undefined ? {} : { reason }), ...(gate === undefined ? {} : { gate }) },
  };
}

/** Why the annotations do not make a command, or undefined when they do. */
function problemOf(
  name: string,
  by: string | undefined,
  reason: string | undefined,
  gate: string | undefined,
  id: string | undefined,
): string | undefined {
  const { command: commandKey, by: byKey, reason: reasonKey, gate: gateKey, id: idKey } = COMMAND_ANNOTATIONS;
  if (!(COMMANDS as readonly string[]).includes(name)) {
    return `${commandKey}: unknown command ${JSON.stringify(name)}; use one of ${COMMANDS.join(", ")}`;
  }
  if (by !== undefined && by.trim() === "") {
    return `${byKey} is empty: name who sends the command, or leave the annotation out`;
  }
  if (by !== undefined && by.trim().length > MAX_BY_LENGTH) {
    return `${byKey} is ${by.trim().length} characters long; at most ${MAX_BY_LENGTH}`;
  }
  if (reason !== undefined && reason.length > MAX_REASON_LENGTH) {
    return `${reasonKey} is ${reason.length} characters long; at most ${MAX_REASON_LENGTH}`;
  }
  if (gate !== undefined && name !== "approve") return `${gateKey} applies to approve only, not ${name}`;
  if (gate !== undefined && !(GATE_TYPES as readonly string[]).includes(gate)) {
    return `${gateKey}: unknown gate ${JSON.stringify(gate)}; use one of ${GATE_TYPES.join(", ")}`;
  }
  if (id !== undefined && (id === "" || id.length > MAX_ID_LENGTH)) {
    return `${idKey} must be 1 to ${MAX_ID_LENGTH} characters long`;
  }
  return undefined;
}

/**
 * The field manager that last wrote the command annotation (kubectl-annotate, argocd-controller,
 * kustomize-controller, …) and when: Kubernetes keeps no user on the object, but this says which
 * tool, and tells one writing of a command from the next.
 */
export function commandWriter(
  managedFields: readonly ManagedFieldsEntry[] | undefined,
): { readonly manager: string | undefined; readonly time: string | undefined } | undefined {
  const key = `f:${COMMAND_ANNOTATIONS.command}`;
  let found: ManagedFieldsEntry | undefined;
  for (const entry of managedFields ?? []) {
    const fields = entry.fieldsV1 as { "f:metadata"?: { "f:annotations"?: Record<string, unknown> } };
    if (fields?.["f:metadata"]?.["f:annotations"]?.[key] === undefined) continue;
    if (found === undefined || timeOf(entry) >= timeOf(found)) found = entry;
  }
  if (found === undefined) return undefined;
  const time = found.time === undefined ? undefined : new Date(found.time).toISOString();
  return { manager: found.manager, time };
}

function timeOf(entry: ManagedFieldsEntry): number {
  return entry.time === undefined ? 0 : new Date(entry.time).getTime();
}

/**
 * A JSON patch that removes the command annotations only if each still holds what was read: a
 * command written meanwhile fails the patch (422) and is read at the next reconcile, never lost.
 */
export function removalPatch(present: Readonly<Record<string, string>>): JsonPatchOperation[] {
  return Object.entries(present).flatMap(([key, value]) => {
    const path = `/metadata/annotations/${key.replaceAll("~", "~0").replaceAll("/", "~1")}`;
    return [
      { op: "test", path, value },
      { op: "remove", path },
    ] satisfies JsonPatchOperation[];
  });
}

/** status.lastCommand for a command and its outcome; the merge patch sets every field (null clears). */
export function lastCommandPatch(
  request: CommandCommon,
  outcome: { readonly accepted: boolean; readonly message: string },
  at: string,
): Record<keyof LastCommand, unknown> {
  return {
    name: request.name,
    by: request.by,
    reason: request.reason ?? null,
    gate: request.gate ?? null,
    id: request.id,
    accepted: outcome.accepted,
    message: outcome.message,
    at,
  };
}

/** The Kubernetes Event that tells of a command: Normal when applied, Warning with the reason when not. */
export function commandEvent(
  request: CommandCommon,
  outcome: { readonly accepted: boolean; readonly message: string },
): { readonly type: "Normal" | "Warning"; readonly reason: string; readonly message: string } {
  const who = `${request.name}${request.gate ? ` ${request.gate}` : ""} by ${request.by}`;
  const why = request.reason ? ` (${JSON.stringify(request.reason)})` : "";
  return outcome.accepted
    ? { type: "Normal", reason: "CommandAccepted", message: `${who}${why}: ${outcome.message}` }
    : { type: "Warning", reason: "CommandRejected", message: `${who}${why} rejected: ${outcome.message}` };
}
