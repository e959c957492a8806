/**
 * `list`: every canary from Temporal visibility (its search attributes), one request per page of
 * up to 1,000, so thousands of canaries cost a few requests and no query to any workflow.
 */
import type { WorkflowExecutionInfo } from "@temporalio/client";
import { searchAttributes } from "../temporal/search-attributes.ts";
import type { CliContext } from "./context.ts";
import { formatDuration, table } from "./render.ts";
import { CANARY_WORKFLOW_TYPE } from "./temporal.ts";

export interface CanaryListItem {
  readonly namespace: string;
  readonly name: string;
  readonly phase: string | null;
  readonly weight: number | null;
  readonly revision: string | null;
  /** When the workflow's current run began: a run begins after each rollout ends. */
  readonly since: string;
}

export interface ListOptions {
  readonly allNamespaces?: boolean;
}

function item(run: WorkflowExecutionInfo): CanaryListItem {
  const get = run.typedSearchAttributes;
  const [, namespace = "", name = ""] = run.workflowId.split("/");
  return {
    namespace: get.get(searchAttributes.CanaryNamespace) ?? namespace,
    name: get.get(searchAttributes.CanaryName) ?? name,
    phase: get.get(searchAttributes.CanaryPhase) ?? null,
    weight: get.get(searchAttributes.CanaryWeight) ?? null,
    revision: get.get(searchAttributes.TargetRevision) ?? null,
    since: run.startTime.toISOString(),
  };
}

export async function listCanaries(ctx: CliContext, options: ListOptions): Promise<CanaryListItem[]> {
  const namespace = options.allNamespaces ? undefined : ctx.namespace();
  const temporal = await ctx.connect();
  const query = [
    `WorkflowType = "${CANARY_WORKFLOW_TYPE}"`,
    `ExecutionStatus = "Running"`,
    ...(namespace ? [`CanaryNamespace = "${namespace}"`] : []),
  ].join(" AND ");
  const items: CanaryListItem[] = [];
  for await (const run of temporal.client.workflow.list({ query, pageSize: 1000 })) items.push(item(run));
  return items.sort((a, b) => a.namespace.localeCompare(b.namespace) || a.name.localeCompare(b.name));
}

export async function list(ctx: CliContext, options: ListOptions): Promise<void> {
  const items = await listCanaries(ctx, options);
  if (ctx.output === "json") {
    ctx.json({ items });
    return;
  }
  if (items.length === 0) {
    const where = options.allNamespaces ? "" : ` in namespace ${ctx.namespace()} (all namespaces: -A)`;
    process.stderr.write(`no canaries${where}\n`);
    return;
  }
  const now = Date.now();
  ctx.print(
    table(
      ["NAMESPACE", "NAME", "PHASE", "WEIGHT", "REVISION", "AGE"],
      items.map((c) => [
        c.namespace,
        c.name,
        c.phase ?? "-",
        c.weight === null ? "-" : `${c.weight}%`,
        c.revision ?? "-",
        formatDuration(now - new Date(c.since).getTime()),
      ]),
    ),
  );
}
