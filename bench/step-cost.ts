/**
 * What one ordinary analysis step costs the Temporal server, read from a recorded history: the
 * events between one analysis timer firing and the next, averaged over the steps in the middle of
 * a rollout (the first and last steps also start or promote, so they are left out).
 */
import proto, { type temporal as api } from "@temporalio/proto";

const { temporal } = proto;

type HistoryEvent = api.api.history.v1.IHistoryEvent;
const { EventType } = temporal.api.enums.v1;

export interface StepCost {
  readonly steps: number;
  readonly workflowTasks: number;
  readonly activities: number;
  readonly localActivities: number;
  readonly events: number;
  readonly bytes: number;
  /** Temporal Cloud actions (see temporalActions). */
  readonly actions: number;
}

/**
 * The Temporal Cloud actions a stretch of history costs, as Temporal Cloud counts them: each run
 * started (a start, continue-as-new or child), timer, search attribute upsert, signal (received
 * or sent), update and activity attempt, and one for all the local activities of a workflow task.
 * Queries and activity heartbeats leave no event and are not counted.
 */
export function temporalActions(events: readonly HistoryEvent[]): number {
  const counted = new Set<number>([
    EventType.EVENT_TYPE_WORKFLOW_EXECUTION_STARTED,
    EventType.EVENT_TYPE_TIMER_STARTED,
    EventType.EVENT_TYPE_UPSERT_WORKFLOW_SEARCH_ATTRIBUTES,
    EventType.EVENT_TYPE_WORKFLOW_EXECUTION_SIGNALED,
    EventType.EVENT_TYPE_SIGNAL_EXTERNAL_WORKFLOW_EXECUTION_INITIATED,
    EventType.EVENT_TYPE_START_CHILD_WORKFLOW_EXECUTION_INITIATED,
    EventType.EVENT_TYPE_WORKFLOW_EXECUTION_UPDATE_ACCEPTED,
    EventType.EVENT_TYPE_WORKFLOW_EXECUTION_UPDATE_REJECTED,
  ]);
  let actions = 0;
  let localInTask = false;
  for (const event of events) {
    const type = event.eventType ?? 0;
    if (counted.has(type)) actions++;
    // Every attempt of an activity is an action; the started event carries its attempt number.
    if (type === EventType.EVENT_TYPE_ACTIVITY_TASK_STARTED)
      actions += Math.max(event.activityTaskStartedEventAttributes?.attempt ?? 1, 1);
    if (type === EventType.EVENT_TYPE_WORKFLOW_TASK_COMPLETED) localInTask = false;
    const isLocal = event.markerRecordedEventAttributes?.markerName === "core_local_activity";
    if (isLocal && !localInTask) {
      actions++;
      localInTask = true;
    }
  }
  return actions;
}

const isAnalysisTimerFired = (event: HistoryEvent, analysisTimers: Set<string>): boolean =>
  event.eventType === EventType.EVENT_TYPE_TIMER_FIRED &&
  analysisTimers.has(event.timerFiredEventAttributes?.timerId ?? "");

/** Per-step averages over the ordinary steps of `events`; timers whose summary starts with `timerSummary` mark the steps. */
export function ordinaryStepCost(events: readonly HistoryEvent[], timerSummary: string): StepCost {
  const analysisTimers = new Set<string>();
  for (const event of events) {
    const summary = event.userMetadata?.summary?.data;
    const text = summary ? Buffer.from(summary).toString("utf8") : "";
    if (event.eventType === EventType.EVENT_TYPE_TIMER_STARTED && text.includes(timerSummary))
      analysisTimers.add(event.timerStartedEventAttributes?.timerId ?? "");
  }
  const fired = events.flatMap((e, i) => (isAnalysisTimerFired(e, analysisTimers) ? [i] : []));
  // Leave out the first and the last step, and the one before the last (it may promote).
  const bounds = fired.slice(1, -2);
  const spans = bounds.slice(0, -1).map((start, k) => events.slice(start, bounds[k + 1]));
  const count = (type: number) => spans.flat().filter((e) => e.eventType === type).length;
  const steps = Math.max(spans.length, 1);
  const bytes = spans
    .flat()
    .reduce((n, e) => n + temporal.api.history.v1.HistoryEvent.encode(e).finish().length, 0);
  return {
    steps: spans.length,
    workflowTasks: count(EventType.EVENT_TYPE_WORKFLOW_TASK_COMPLETED) / steps,
    activities: count(EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED) / steps,
    localActivities: count(EventType.EVENT_TYPE_MARKER_RECORDED) / steps,
    events: spans.flat().length / steps,
    bytes: bytes / steps,
    actions: spans.reduce((n, span) => n + temporalActions(span), 0) / steps,
  };
}
