/**
 * Proves the test world's Prometheus is real: it scrapes an endpoint this test serves, added as a
 * target at run time, and PromQL returns what the endpoint exposes, following it when it changes.
 */
import assert from "node:assert/strict";
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { describe, it } from "node:test";
import { waitFor } from "../harness/process.ts";
import { addScrapeTarget, instantQuery, removeScrapeTarget, waitForTargetUp } from "../harness/prometheus.ts";
import { worldEnv } from "../harness/world-env.ts";

const world = worldEnv();

describe("Prometheus", () => {
  it("scrapes a local /metrics endpoint and answers PromQL with its value", async () => {
    let value = 42.5;
    const server = createServer((req, res) => {
      if (req.url !== "/metrics") {
        res.writeHead(404).end();
        return;
      }
      res.writeHead(200, { "content-type": "text/plain; version=0.0.4" });
      res.end(
        `# HELP dc_smoke_value A value the test controls.\n# TYPE dc_smoke_value gauge\ndc_smoke_value ${value}\n`,
      );
    });
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    const { port } = server.address() as AddressInfo;
    const job = `smoke-prometheus-${process.pid}`;
    try {
      addScrapeTarget(world.prometheusTargetsDir, job, [`127.0.0.1:${port}`], { smoke: "yes" });
      await waitForTargetUp(world.prometheusUrl, job);

      const query = `dc_smoke_value{job="${job}"}`;
      const valueIs = (expected: number) => async () => {
        const samples = await instantQuery(world.prometheusUrl, query);
        return samples.length === 1 && samples[0]?.value === expected ? samples : undefined;
      };
      const [sample] = await waitFor(`${query} = 42.5`, valueIs(42.5), { timeoutMs: 30_000 });
      assert.equal(sample?.metric.smoke, "yes");
      assert.equal(sample?.metric.instance, `127.0.0.1:${port}`);

      value = 7;
      await waitFor(`${query} = 7 after the endpoint changed`, valueIs(7), { timeoutMs: 30_000 });
    } finally {
      removeScrapeTarget(world.prometheusTargetsDir, job);
      server.closeAllConnections();
      server.close();
    }
  });
});
