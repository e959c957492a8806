/**
 * The patches of the canary workflow: each guards a change of the commands it issues, so a run
 * recorded before the change replays as it ran. A run decides each one where the code first asks.
 */

/**
 * A repeated revision message (the controller resends the current state on every start and
 * resync) is dropped on arrival instead of cutting the wait of an analysis step short; a new
 * generation or a controller's request makes the status be written again.
 */
export const REPEATED_REVISION_PATCH = "drop-repeated-revision";
export const RESYNC_STATUS_PATCH = "resync-status-on-new-spec";
/** The status carries the last analysis's metric values, and is written when they change. */
export const METRIC_STATUS_PATCH = "metric-values-in-status";
/**
 * Nothing the workflow waits for can hold it forever. Effects that fail stay queued and are
 * retried at the next interval while messages are handled; a primary that is not ready halts a
 * step instead of blocking it; failed analysis calls are failed checks; malformed signals are
 * dropped; updates answer within a bound; initialization can be interrupted by a new revision
 * and never takes the target's revision for the primary's; a delete is best-effort and messages
 * queued behind it start the next canary of that name.
 */
export const HARDENING_PATCH = "never-stuck";
/**
 * Activities get the spec's digest instead of the spec (the worker asks for the spec by the
 * `spec` query when it has not seen it), so a long rollout's history does not hold the spec in
 * every call.
 */
export const COMPACT_INPUTS_PATCH = "compact-activity-inputs";
/**
 * Each rollout is also a workflow of its own (workflows/rollout.ts) whose close status is its
 * outcome, so the Temporal UI shows a rolled-back rollout as Failed with its reason.
 */
export const ROLLOUT_WORKFLOWS_PATCH = "rollout-workflows";
/** Search attributes are upserted only when what they show changed. */
export const CHANGED_ATTRIBUTES_PATCH = "upsert-changed-attributes";
/** The controller's messages go by internal names; runs from before take the old ones. */
export const INTERNAL_NAMES_PATCH = "internal-message-names";
/**
 * An ordinary analysis step is one workflow task. Its short calls (readiness, metrics, webhooks,
 * route and scale writes, promotion) are local activities, which run in the task that decided
 * them and record only their results; what a step reports (status and Events) goes out in one
 * call when the step ends. Decided once per run, at its start.
 */
export const LEAN_STEPS_PATCH = "one-task-steps";
/**
 * A revision that initialization reports as rolled back by the controller the Canary was taken
 * over from (Flagger) is recorded as failed instead of being rolled out again.
 */
export const TAKEOVER_PATCH = "taken-over-rollback";
/**
 * A lean run's clock after a step's local activities may read differently on replay than it did
 * when the step ran, so it no longer decides which command comes next: a step is always followed
 * by its interval's timer (of a millisecond when the step ended late), and a timer that runs out
 * starts the step it waited for. The clock still sets how long each timer is. Decided once per
 * run, at its start.
 */
export const STEADY_CADENCE_PATCH = "steady-cadence";
