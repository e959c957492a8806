/**
 * Whether an apply would change nothing an object's readers see. A server-side apply under a new
 * field manager stores the object anew (its managed fields change, so does its resourceVersion,
 * and every watcher wakes) even when every value is already there: objects taken over as they
 * are (from Flagger, or from a previous install) are compared first and left alone.
 */

/**
 * True when `existing` holds every value `desired` sets: maps may have more keys (the API
 * server's defaults, other managers' fields), lists must match item by item, and an empty map or
 * list is held by an absent one (the API server does not store them).
 */
export function holdsAll(existing: unknown, desired: unknown): boolean {
  if (desired === undefined) return true;
  if (Array.isArray(desired)) {
    const have = existing ?? [];
    return (
      Array.isArray(have) &&
      have.length === desired.length &&
      desired.every((item, i) => holdsAll(have[i], item))
    );
  }
  if (desired !== null && typeof desired === "object") {
    const have = (existing ?? {}) as Record<string, unknown>;
    if (have === null || typeof have !== "object" || Array.isArray(have)) return false;
    return Object.entries(desired).every(([key, value]) => holdsAll(have[key], value));
  }
  return existing === desired;
}
