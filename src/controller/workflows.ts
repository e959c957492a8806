/**
 * The controller's only way into Temporal: signal-with-start of `revision`, `delete`, operator
 * commands given by annotation (as updates), and whether a canary's workflow runs. Every call is
 * bounded, so an unreachable Temporal makes a reconcile fail (and retry) instead of hanging.
 */
import { type Client, WorkflowNotFoundError, WorkflowUpdateFailedError } from "@temporalio/client";
import { ApplicationFailure } from "@temporalio/common";
import type { CanaryRef } from "../../workflows/activity-port.ts";
import {
  type ApproveInput,
  type Command,
  commandUpdates,
  deleteSignal,
  type RevisionMessage,
  revisionSignal,
  workflowId,
} from "../../workflows/messages.ts";

/** A command's outcome as the workflow answered it: applied (or queued), or rejected and why. */
export interface CommandOutcome {
  readonly accepted: boolean;
  readonly message: string;
}

export interface CanaryWorkflows {
  /** Sends the revision, starting the canary's workflow when none runs. */
  sendRevision(ref: CanaryRef, message: RevisionMessage): Promise<void>;
  /** Signals `delete`; false when no workflow runs. */
  sendDelete(ref: CanaryRef): Promise<boolean>;
  isRunning(ref: CanaryRef): Promise<boolean>;
  /**
   * Sends an operator command as an update. The same `updateId` is one command however often it
   * is sent: Temporal answers a repeat with the first outcome, so a retried reconcile never applies
   * a command twice. Throws only when Temporal did not answer.
   */
  sendCommand(
    ref: CanaryRef,
    command: Command,
    input: ApproveInput,
    updateId: string,
  ): Promise<CommandOutcome>;
  /** The canaries whose workflows run on this install's task queue. */
  listRunning(): Promise<CanaryRef[]>;
}

/** "canary/<namespace>/<name>" back into its Canary; undefined for any other workflow ID. */
export function canaryOfWorkflow(id: string): CanaryRef | undefined {
  const match = /^canary\/([^/]+)\/([^/]+)$/.exec(id);
  return match ? { namespace: match[1] as string, name: match[2] as string } : undefined;
}

const callTimeoutMs = 10_000;
/**
 * A command waits for the workflow to apply it; a busy workflow answers "queued" within a minute
 * (the workflow's own wait), so this bound only ends a call that Temporal never answers.
 */
const commandTimeoutMs = 75_000;

/**
 * A Temporal call that fails after `ms`. The gRPC deadline bounds it on the wire; the timer bounds
 * it here too, since a call on a connection that lost its server can wait for the channel longer
 * than its deadline.
 */
export function boundedCall<T>(client: Client, ms: number, call: () => Promise<T>): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`Temporal did not answer within ${ms / 1000}s`)), ms);
  });
  return Promise.race([client.withDeadline(Date.now() + ms, call) as Promise<T>, timeout]).finally(() =>
    clearTimeout(timer),
  );
}

export function temporalCanaryWorkflows(client: Client, taskQueue: string): CanaryWorkflows {
  const bounded = <T>(call: () => Promise<T>) => boundedCall(client, callTimeoutMs, call);
  return {
    async sendRevision(ref, message) {
      await bounded(() =>
        client.workflow.signalWithStart("canaryWorkflow", {
          workflowId: workflowId(ref.namespace, ref.name),
          taskQueue,
          args: [{ ref }],
          signal: revisionSignal,
          signalArgs: [message],
          staticSummary: `canary ${ref.namespace}/${ref.name}`,
        }),
      );
    },
    async sendDelete(ref) {
      try {
        await bounded(() =>
          client.workflow.getHandle(workflowId(ref.namespace, ref.name)).signal(deleteSignal, {}),
        );
        return true;
      } catch (err) {
        if (err instanceof WorkflowNotFoundError) return false;
        throw err;
      }
    },
    async sendCommand(ref, command, input, updateId) {
      try {
        const result = await boundedCall(client, commandTimeoutMs, () =>
          client.workflow
            .getHandle(workflowId(ref.namespace, ref.name))
            .executeUpdate(commandUpdates[command], { args: [input], updateId }),
        );
        return { accepted: true, message: result.message };
      } catch (err) {
        if (err instanceof WorkflowNotFoundError) {
          return { accepted: false, message: "no workflow runs for this canary" };
        }
        if (!(err instanceof WorkflowUpdateFailedError)) throw err;
        const cause = err.cause;
        // Queued behind the work under way: it is applied when that ends.
        if (cause instanceof ApplicationFailure && cause.type === "CommandPending") {
          return { accepted: true, message: cause.message };
        }
        return { accepted: false, message: cause?.message ?? err.message };
      }
    },
    async listRunning() {
      const refs: CanaryRef[] = [];
      const query = `TaskQueue = "${taskQueue}" AND ExecutionStatus = "Running" AND WorkflowType = "canaryWorkflow"`;
      await bounded(async () => {
        for await (const execution of client.workflow.list({ query })) {
          const ref = canaryOfWorkflow(execution.workflowId);
          if (ref) refs.push(ref);
        }
      });
      return refs;
    },
    async isRunning(ref) {
      try {
        const described = await bounded(() =>
          client.workflow.getHandle(workflowId(ref.namespace, ref.name)).describe(),
        );
        return described.status.name === "RUNNING";
      } catch (err) {
        if (err instanceof WorkflowNotFoundError) return false;
        throw err;
      }
    },
  };
}
