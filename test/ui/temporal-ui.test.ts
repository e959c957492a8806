/**
 * The Temporal UI tells a canary's story at a glance, checked in a real headless browser
 * (Debian's chromium driven by playwright-core) against the test world's Temporal UI: a canary
 * is found by CanaryName with its phase and weight; a rolled-back rollout is found by the
 * Failures filter with its reason; activities carry summaries. Screenshots of the list and of a
 * workflow page are saved under test-results/ui/.
 */
import assert from "node:assert/strict";
import { mkdirSync } from "node:fs";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { type Browser, chromium, type Page } from "playwright-core";
import { resolveBinary } from "../../tools/catalog.ts";
import { waitFor } from "../harness/process.ts";
import { worldEnv } from "../harness/world-env.ts";
import { type Canary, canarySpec, WorkflowTestWorld } from "../workflows/support.ts";

const artifacts = join(import.meta.dirname, "../../test-results/ui");
const world = new WorkflowTestWorld();
let browser: Browser | undefined;
let skipReason: string | undefined;

before(async () => {
  const binary = resolveBinary("chromium");
  if (!binary) {
    skipReason = "chromium is not installed (npm run tools installs it with apt)";
    return;
  }
  try {
    browser = await chromium.launch({ executablePath: binary.path, args: ["--no-sandbox"] });
  } catch (err) {
    skipReason = `chromium did not start: ${err instanceof Error ? err.message.split("\n")[0] : String(err)}`;
    return;
  }
  mkdirSync(artifacts, { recursive: true });
  await world.connect();
  await world.startWorker();
});
after(async () => {
  await browser?.close();
  if (!skipReason) await world.close();
});

const ui = () => worldEnv().temporalUiUrl;
const listUrl = (query: string) =>
  `${ui()}/namespaces/${worldEnv().temporalNamespace}/workflows?query=${encodeURIComponent(query)}`;
/** A run's page: `history`, `timeline` or another of its tabs. */
const runUrl = (id: string, runId: string, tab: string) =>
  `${ui()}/namespaces/${worldEnv().temporalNamespace}/workflows/${encodeURIComponent(id)}/${runId}/${tab}`;

/**
 * Loads `url` until its text passes `check`: visibility and the UI's own polling lag a little,
 * and a running workflow's page never goes network-idle, so the text is polled instead.
 */
async function pageShowing(
  page: Page,
  what: string,
  url: string,
  check: (text: string) => boolean,
): Promise<string> {
  return waitFor(
    what,
    async () => {
      await page.goto(url, { waitUntil: "domcontentloaded" });
      for (let i = 0; i < 20; i++) {
        // biome-ignore lint/performance/useDomNodeTextContent: rendered text is the point here
        const text = await page.innerText("body");
        if (check(text)) return text;
        await page.waitForTimeout(500);
      }
      return undefined;
    },
    { timeoutMs: 45_000, intervalMs: 500 },
  );
}

describe("the Temporal UI", () => {
  let healthy: Canary;
  let failed: Canary;

  before(async () => {
    if (skipReason) return;
    healthy = await world.startCanary("ui-progressing", canarySpec({ interval: "1h", stepWeight: 30 }));
    await healthy.revise("r2");
    await healthy.until("30% on the canary", (s) => s.routes.canaryWeight === 30);
    failed = await world.startCanary("ui-rolled-back", canarySpec({ stepWeight: 25, threshold: 1 }));
    failed.model.successRate = 90;
    await failed.revise("r2");
    await failed.settled("Failed");
  });

  it("finds a canary by CanaryName, with its phase and weight", async (t) => {
    if (!browser) return t.skip(skipReason);
    const page = await browser.newPage({ viewport: { width: 1400, height: 900 } });
    const query = `CanaryName = "${healthy.name}" AND CanaryNamespace = "${world.namespace}" AND WorkflowType = "canaryWorkflow"`;
    await pageShowing(page, "the canary in the list", listUrl(query), (text) =>
      text.includes(healthy.handle.workflowId),
    );
    await page.screenshot({ path: join(artifacts, "list.png") });
    const { runId } = await healthy.handle.describe();
    const attributes = await pageShowing(
      page,
      "the canary's search attributes",
      runUrl(healthy.handle.workflowId, runId, "search-attributes"),
      (text) => text.includes("CanaryPhase"),
    );
    assert.match(attributes, /CanaryPhase[\s\S]*Progressing/);
    assert.match(attributes, /CanaryWeight[\s\S]*30/);
  });

  it("a rolled-back rollout is found by the Failures filter, with its reason", async (t) => {
    if (!browser) return t.skip(skipReason);
    const page = await browser.newPage({ viewport: { width: 1400, height: 900 } });
    const query = `ExecutionStatus = "Failed" AND CanaryName = "${failed.name}" AND CanaryNamespace = "${world.namespace}"`;
    const list = await pageShowing(page, "the failed rollout in the list", listUrl(query), (text) =>
      text.includes(`${failed.handle.workflowId}/rollouts/`),
    );
    assert.match(list, /FAILED/);
    await page
      .getByRole("link", { name: new RegExp(`${failed.handle.workflowId}/rollouts/`) })
      .first()
      .click();
    await page.getByText("Rolled back revision r2").first().waitFor({ timeout: 15_000 });
    // biome-ignore lint/performance/useDomNodeTextContent: rendered text is what a user reads
    const rollout = await page.innerText("body");
    assert.match(
      rollout,
      /Rolled back revision r2: 1 failed checks reached the threshold: request-success-rate 90\.00 < 99/,
    );
    await page.screenshot({ path: join(artifacts, "failed-rollout.png") });
  });

  it("activities carry summaries, and the rollout shows as a workflow of its own", async (t) => {
    if (!browser) return t.skip(skipReason);
    const page = await browser.newPage({ viewport: { width: 1400, height: 1000 } });
    const { runId } = await healthy.handle.describe();
    // A step's short calls are local activities: the event history lists each with its summary.
    const text = await pageShowing(
      page,
      "summaries in the event history",
      runUrl(healthy.handle.workflowId, runId, "history"),
      (body) => body.includes("route 30% to canary"),
    );
    assert.match(text, /Local Activity\s+Activity Type\s+setRoutes\s+Summary\s+route 30% to canary/);
    assert.match(text, /Activity Type\s+report\s+Summary\s+report status: Progressing, 30% canary/);
    assert.match(text, /rollout of revision r2 \(primary runs r1\)/);
    await page.screenshot({ path: join(artifacts, "workflow.png") });
  });
});
