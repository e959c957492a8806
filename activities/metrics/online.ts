/**
 * Whether a metric provider answers, asked once per rollout when its analysis starts (Flagger
 * asks at initialization): a provider that is offline or refuses the credentials is a failed
 * check saying so, before any query; one that answered is not asked again for the same metric of
 * the same rollout.
 * Only answers are remembered (per worker, a bounded number), so an offline provider is asked
 * again at the next step.
 */
import type { Target } from "../../workflows/activity-port.ts";
import type { MetricProvider } from "./provider.ts";

const REMEMBERED = 10_000;
const answered = new Set<string>();

/** `metric` names the metric whose provider this is: its template's credentials are part of what is asked. */
export async function checkOnline(provider: MetricProvider, target: Target, metric: string): Promise<void> {
  const key = `${target.ref.namespace}/${target.ref.name}@${target.revision ?? ""} ${metric} ${provider.description}`;
  if (answered.has(key)) return;
  await provider.isOnline();
  answered.add(key);
  // A Set iterates in insertion order: the oldest answer goes first.
  if (answered.size > REMEMBERED) answered.delete(answered.values().next().value as string);
}
