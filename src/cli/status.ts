/**
 * `status <name>`: the canary's state from its workflow's status query, with the spec in force
 * read from the workflow's history for the step count and the failed-check threshold.
 */

import { statusQuery } from "../../workflows/messages.ts";
import type { ResolvedCanarySpec } from "../api/defaults.ts";
import type { CliContext } from "./context.ts";
import { renderStatus } from "./render.ts";
import { type StatusReport, statusReport } from "./report.ts";
import { readRun } from "./runs.ts";
import { canaryHandle, checkName, onCanary } from "./temporal.ts";

/** Reads a canary's status again and again (for watch), reading the spec only when the rollout moves on. */
export class StatusReader {
  private spec: { key: string; spec: ResolvedCanarySpec | undefined } | undefined;

  private readonly ctx: CliContext;
  readonly namespace: string;
  readonly name: string;

  constructor(ctx: CliContext, namespace: string, name: string) {
    this.ctx = ctx;
    this.namespace = namespace;
    this.name = checkName("canary name", name);
  }

  /** The spec the last read found in force, if the history holds it. */
  specInForce(): ResolvedCanarySpec | undefined {
    return this.spec?.spec;
  }

  async read(): Promise<StatusReport> {
    const temporal = await this.ctx.connect();
    const handle = canaryHandle(temporal, this.namespace, this.name);
    return onCanary(temporal, this.namespace, this.name, async () => {
      const view = await temporal.bounded(() => handle.query(statusQuery));
      // A new revision or phase may come with a new spec: the history says which.
      const key = `${view.revision}/${view.phase}`;
      if (this.spec?.key !== key) {
        const history = await handle.fetchHistory();
        this.spec = { key, spec: readRun("", history.events ?? []).spec };
      }
      return statusReport(view, this.spec.spec, handle.workflowId);
    });
  }
}

export async function status(ctx: CliContext, name: string): Promise<void> {
  const report = await new StatusReader(ctx, ctx.namespace(), name).read();
  if (ctx.output === "json") ctx.json(report);
  else ctx.print(renderStatus(report, new Date()));
}
