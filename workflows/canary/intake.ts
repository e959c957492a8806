/**
 * Messages into the canary workflow: the handlers of its signals, updates and queries, which
 * check what they receive and queue it in the inbox, and the main loop's side, which takes each
 * queued message, feeds it to the state machine and answers the update that sent it.
 */
import { ApplicationFailure, condition, log, setHandler } from "@temporalio/workflow";
import type { GateType } from "../../src/api/canary.ts";
import {
  type CheckedCommandInput,
  type Command,
  checkCommand,
  checkCommandInput,
  checkRevisionMessage,
  projectStatus,
} from "../decisions/index.ts";
import {
  type ApproveInput,
  abortSignal,
  abortUpdate,
  approveSignal,
  approveUpdate,
  type CanaryStatusView,
  type CommandInput,
  type CommandResult,
  deleteSignal,
  legacyDeleteSignal,
  legacyRevisionSignal,
  MESSAGE_DESCRIPTIONS,
  pauseSignal,
  pauseUpdate,
  type RevisionMessage,
  resumeSignal,
  resumeUpdate,
  retrySignal,
  retryUpdate,
  revisionSignal,
  skipSignal,
  skipUpdate,
  specQuery,
  statusQuery,
} from "../messages.ts";
import { feed, feedQuietly, Stalled } from "./effects.ts";
import { INTERNAL_NAMES_PATCH, REPEATED_REVISION_PATCH, RESYNC_STATUS_PATCH } from "./patches.ts";
import { statusView, syncStatus } from "./reporting.ts";
import type { InboxItem, Run } from "./run.ts";

/** How long an update waits for its command to be applied before answering that it is still queued. */
export const UPDATE_WAIT = "1m";

/**
 * Sets every handler, in the order the workflow has always set them: a signal that arrived
 * before its handler is delivered when the handler is set.
 */
export function listen(run: Run): void {
  setHandler(specQuery, (wanted) => run.knownSpecs.get(wanted));
  listenToController(run);
  listenToCommands(run);
  setHandler(statusQuery, (): CanaryStatusView => statusView(run));
}

/** A signal nobody's validator saw: dropped, and said so where an operator looks. */
function dropMalformed(run: Run, signal: string, reason: string): void {
  run.remember({ message: `Ignored a malformed ${signal} signal: ${reason}` });
  log.warn("ignored a malformed signal", { signal, reason });
}

/** The controller's signals: a revision (target revision and spec) and a delete. */
function listenToController(run: Run): void {
  const isRepeat = (message: RevisionMessage): boolean =>
    run.lastReceived !== undefined &&
    !message.resyncStatus &&
    message.revision === run.lastReceived.revision &&
    message.generation === run.lastReceived.generation &&
    JSON.stringify(message.spec) === JSON.stringify(run.lastReceived.spec);
  const onRevision = (input: RevisionMessage): void => {
    let message = input;
    if (run.hardened()) {
      const checked = checkRevisionMessage(input);
      if (!checked.ok) {
        dropMalformed(run, "revision", checked.reason);
        return;
      }
      message = checked.value;
    }
    if (isRepeat(message) && run.applies(REPEATED_REVISION_PATCH)) return;
    run.lastReceived = message;
    run.inbox.push({ kind: "revision", message });
  };
  const onDelete = (): void => {
    run.inbox.push({ kind: "delete" });
  };
  const internal = { description: MESSAGE_DESCRIPTIONS.internal };
  setHandler(revisionSignal, onRevision, internal);
  setHandler(deleteSignal, onDelete, internal);
  if (!run.applies(INTERNAL_NAMES_PATCH)) {
    setHandler(legacyRevisionSignal, onRevision, internal);
    setHandler(legacyDeleteSignal, onDelete, internal);
  }
}

/** The operator's commands, each both a signal and an update whose validator rejects with a reason. */
function listenToCommands(run: Run): void {
  const enqueue = (name: Command["name"], input: CommandInput & { gate?: GateType }): number => {
    const id = run.nextCommandId++;
    run.inbox.push({
      kind: "command",
      id,
      command: { name, by: input.by || "unknown", reason: input.reason ?? "", gate: input.gate },
    });
    return id;
  };
  /** The input with long texts cut, or unchanged when it does not check (a validator rejected it already). */
  const trimmed = (input: CommandInput | ApproveInput): CommandInput | CheckedCommandInput => {
    const checked = checkCommandInput(input);
    return checked.ok ? checked.value : input;
  };
  const signalCommand = (name: Command["name"]) => (input: CommandInput | ApproveInput) => {
    if (!run.hardened()) {
      enqueue(name, input);
      return;
    }
    const checked = checkCommandInput(input);
    if (!checked.ok) {
      dropMalformed(run, name, checked.reason);
      return;
    }
    enqueue(name, checked.value);
  };
  for (const [signal, name] of [
    [approveSignal, "approve"],
    [skipSignal, "skip"],
    [abortSignal, "abort"],
    [pauseSignal, "pause"],
    [resumeSignal, "resume"],
    [retrySignal, "retry"],
  ] as const) {
    setHandler(signal, signalCommand(name), { description: MESSAGE_DESCRIPTIONS[name] });
  }

  /** An update is validated against the current state, applied by the main loop, then answered. */
  const updateCommand =
    (name: Command["name"]) =>
    async (input: CommandInput | ApproveInput): Promise<CommandResult> => {
      const id = enqueue(name, trimmed(input));
      if (!run.hardened()) await condition(() => run.applied.has(id));
      else if (!(await condition(() => run.applied.has(id), UPDATE_WAIT))) {
        throw ApplicationFailure.nonRetryable(
          `${name} is queued but not applied yet: the canary is busy (${run.busyWith || "working"}); ` +
            "it is applied as soon as that ends",
          "CommandPending",
        );
      }
      const outcome = run.applied.get(id) as { ok: boolean; message: string };
      // The state may have moved between validation and application: then the caller learns why.
      if (!outcome.ok) throw ApplicationFailure.nonRetryable(outcome.message, "CommandRejected");
      return { accepted: true, phase: run.state.phase, message: outcome.message };
    };
  const validator = (name: Command["name"]) => (input: CommandInput | ApproveInput) => {
    const checked = checkCommandInput(input);
    if (!checked.ok) throw new Error(`${name}: ${checked.reason}`);
    const check = checkCommand(run.state, { name, gate: checked.value.gate });
    if (!check.ok) throw new Error(check.reason);
  };
  for (const [update, name] of [
    [approveUpdate, "approve"],
    [skipUpdate, "skip"],
    [abortUpdate, "abort"],
    [pauseUpdate, "pause"],
    [resumeUpdate, "resume"],
    [retryUpdate, "retry"],
  ] as const) {
    setHandler(update, updateCommand(name), {
      validator: validator(name),
      description: MESSAGE_DESCRIPTIONS[name],
    });
  }
}

/** Handles every queued message, oldest first; "terminated" once a delete has been carried out. */
export async function drainInbox(run: Run): Promise<"continue" | "terminated"> {
  while (run.inbox.length > 0) {
    const item = run.inbox.shift() as InboxItem;
    let outcome: "continue" | "terminated";
    try {
      outcome = await handle(run, item);
    } catch (err) {
      // The message was applied; its effects wait in the queue.
      if (!(err instanceof Stalled)) throw err;
      outcome = "continue";
    }
    if (outcome === "terminated") {
      if (run.hardened()) answerLeftCommands(run);
      return "terminated";
    }
  }
  return "continue";
}

/** Commands that arrived after the delete: their updates learn the canary is gone. */
function answerLeftCommands(run: Run): void {
  for (const item of run.inbox) {
    if (item.kind === "command") run.applied.set(item.id, { ok: false, message: "the Canary was deleted" });
  }
}

/**
 * One message into the state machine. A plain function passing on its handler's promise: an
 * extra await would move the loop's calls against the report lanes' in recorded histories.
 */
function handle(run: Run, item: InboxItem): Promise<"continue" | "terminated"> {
  switch (item.kind) {
    case "revision":
      return handleRevision(run, item.message);
    case "delete":
      return handleDelete(run);
    case "command":
      return handleCommand(run, item.id, item.command);
  }
}

async function handleRevision(run: Run, message: RevisionMessage): Promise<"continue"> {
  const stale = message.generation < run.generation;
  // A stale message's spec is old, but its revision is still news.
  if (stale && !run.hardened()) return "continue";
  if (!stale) {
    if ((message.generation > run.generation || message.resyncStatus) && run.applies(RESYNC_STATUS_PATCH)) {
      run.synced = "";
      // Another writer (the controller) may have changed the status: compare with a fresh read.
      run.statusMayBeStale = true;
    }
    run.generation = message.generation;
    run.useSpec(message.spec);
  }
  if (run.initialized) await feed(run, { type: "revision", revision: message.revision });
  else run.pendingRevision = message.revision;
  return "continue";
}

async function handleDelete(run: Run): Promise<"terminated"> {
  if (!run.spec) return "terminated";
  if (!run.hardened()) {
    await feed(run, { type: "delete" });
    await feed(run, { type: "terminated" });
    syncStatus(run);
    return "terminated";
  }
  // Best-effort: what cannot be reverted is reported, and the canary is gone all the same.
  run.unfinished = [];
  await feedQuietly(run, { type: "delete" });
  run.unfinished = [];
  await feedQuietly(run, { type: "terminated" });
  syncStatus(run);
  return "terminated";
}

async function handleCommand(run: Run, id: number, command: Command): Promise<"continue"> {
  const check = checkCommand(run.state, command);
  run.remember({
    message: check.ok ? `${command.name} accepted` : `${command.name} ignored: ${check.reason}`,
    by: command.by,
    reason: command.reason,
  });
  const gate = run.state.gate?.type;
  // An aborted rollout's rollback supersedes whatever was still to be done for it.
  if (run.hardened() && check.ok && command.name === "abort") run.unfinished = [];
  try {
    await feed(run, { type: "command", command });
    // An approved traffic or promotion gate takes its step now, not at the next interval.
    if (check.ok && command.name === "approve" && gate !== "confirm-rollout")
      await feed(run, { type: "advance" });
  } catch (err) {
    if (!(err instanceof Stalled)) throw err;
  }
  if (check.ok && (command.name === "resume" || command.name === "retry")) {
    run.nextStepAtMs = undefined;
    // Time spent paused is not the canary's fault: its progress deadline starts again.
    run.readyDeadlineAtMs = undefined;
  }
  const pending = run.stall ? ` (not carried out yet: ${run.stall.reason}; retrying)` : "";
  run.applied.set(id, {
    ok: check.ok,
    message: check.ok
      ? `${command.name}: ${projectStatus(run.state).condition.message}${pending}`
      : check.reason,
  });
  return "continue";
}
