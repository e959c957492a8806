/**
 * `ui <name>`: links into the Temporal Web UI: the canary's workflow (its current run), all of its
 * runs, and the list of live canaries that docs/cli.md and the README describe.
 */
import { spawn } from "node:child_process";
import { accessSync, constants } from "node:fs";
import { delimiter, join } from "node:path";
import { workflowId } from "../../workflows/messages.ts";
import type { CliContext } from "./context.ts";
import { CANARY_WORKFLOW_TYPE, canaryHandle, checkName, onCanary } from "./temporal.ts";

/** The visibility query of the UI's list view of live canaries. */
export const liveCanariesQuery = `WorkflowType="${CANARY_WORKFLOW_TYPE}" AND ExecutionStatus="Running"`;

export interface UiLinks {
  readonly workflow: string;
  readonly runs: string;
  readonly canaries: string;
}

export function uiLinks(
  ui: string,
  temporalNamespace: string,
  namespace: string,
  name: string,
  runId: string,
): UiLinks {
  const base = `${ui}/namespaces/${encodeURIComponent(temporalNamespace)}/workflows`;
  const list = (query: string) => `${base}?query=${encodeURIComponent(query)}`;
  return {
    workflow: `${base}/${encodeURIComponent(workflowId(namespace, name))}/${runId}/history`,
    runs: list(`CanaryNamespace="${namespace}" AND CanaryName="${name}"`),
    canaries: list(liveCanariesQuery),
  };
}

function onPath(command: string, env: NodeJS.ProcessEnv): boolean {
  return (env.PATH ?? "").split(delimiter).some((dir) => {
    try {
      accessSync(join(dir, command), constants.X_OK);
      return true;
    } catch {
      return false;
    }
  });
}

export async function ui(ctx: CliContext, name: string, options: { open?: boolean }): Promise<void> {
  const namespace = ctx.namespace();
  checkName("canary name", name);
  const temporal = await ctx.connect();
  const handle = canaryHandle(temporal, namespace, name);
  const described = await onCanary(temporal, namespace, name, () =>
    temporal.bounded(() => handle.describe()),
  );
  const links = uiLinks(temporal.uiAddress, temporal.namespace, namespace, name, described.runId);
  if (ctx.output === "json") ctx.json(links);
  else ctx.print(`workflow  ${links.workflow}\nrollouts  ${links.runs}\ncanaries  ${links.canaries}\n`);
  if (!options.open) return;
  if (!onPath("xdg-open", ctx.env)) {
    process.stderr.write("xdg-open is not installed: open the workflow link above in a browser\n");
    return;
  }
  spawn("xdg-open", [links.workflow], { detached: true, stdio: "ignore" }).unref();
}
