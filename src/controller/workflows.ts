/**
 * The controller's only way into Temporal: signal-with-start of `revision`, `delete`, and
 * whether a canary's workflow runs. Every call is bounded, so an unreachable Temporal makes a
 * reconcile fail (and retry) instead of hanging.
 */
import { type Client, WorkflowNotFoundError } from "@temporalio/client";
import type { CanaryRef } from "../../workflows/activity-port.ts";
import { deleteSignal, type RevisionMessage, revisionSignal, workflowId } from "../../workflows/messages.ts";

export interface CanaryWorkflows {
  /** Sends the revision, starting the canary's workflow when none runs. */
  sendRevision(ref: CanaryRef, message: RevisionMessage): Promise<void>;
  /** Signals `delete`; false when no workflow runs. */
  sendDelete(ref: CanaryRef): Promise<boolean>;
  isRunning(ref: CanaryRef): Promise<boolean>;
}

const callTimeoutMs = 10_000;

export function temporalCanaryWorkflows(client: Client, taskQueue: string): CanaryWorkflows {
  const bounded = <T>(call: () => Promise<T>) =>
    client.withDeadline(Date.now() + callTimeoutMs, call) as Promise<T>;
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
