/**
 * A short, stable digest of a resolved spec, computed the same way in the workflow (no Node APIs
 * there) and in the worker, which checks that the spec it was given is the one meant.
 */
import type { ResolvedCanarySpec } from "../src/api/defaults.ts";

/** 64 bits of two FNV-1a-style 32-bit hashes with different seeds, as 16 hex characters. */
export function specDigest(spec: ResolvedCanarySpec): string {
  const text = JSON.stringify(spec);
  let a = 0x811c9dc5;
  let b = 0x01000193 ^ text.length;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    a = Math.imul(a ^ c, 0x01000193);
    b = Math.imul(b ^ c, 0x5bd1e995);
    b ^= b >>> 15;
  }
  const hex = (n: number) => (n >>> 0).toString(16).padStart(8, "0");
  return hex(a) + hex(b);
}
