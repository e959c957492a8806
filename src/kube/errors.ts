/**
 * Kubernetes API failures as errors that say what happened and what to do about it. The client
 * knows the verb, resource and object of every request, so a 403 names the RBAC rule that is
 * missing instead of echoing the server's terse message.
 */
import type { RequestInfo } from "./request-counter.ts";
import type { ResourceType } from "./resources.ts";
import { qualifiedName } from "./resources.ts";

/** The parts of a Kubernetes `Status` body the messages use. */
interface StatusBody {
  readonly reason?: string;
  readonly message?: string;
  readonly details?: { readonly causes?: readonly { readonly field?: string; readonly message?: string }[] };
}

export class KubeApiError extends Error {
  override name = "KubeApiError";
  /** HTTP status code; 0 when the request never got an answer. */
  readonly code: number;
  /** The server's reason: NotFound, Forbidden, Conflict, AlreadyExists, Invalid, ... */
  readonly reason: string;
  readonly verb: string;
  readonly resource: string;
  readonly namespace: string | undefined;
  readonly objectName: string | undefined;
  /** A 404 for the resource type itself: the cluster does not serve it (its CRD is not installed). */
  readonly typeNotServed: boolean;

  constructor(code: number, reason: string, message: string, request: RequestInfo, typeNotServed = false) {
    super(message);
    this.typeNotServed = typeNotServed;
    this.code = code;
    this.reason = reason;
    this.verb = request.verb;
    this.resource = request.resource;
    this.namespace = request.namespace;
    this.objectName = request.name;
  }
}

/** Builds the error for a non-2xx answer; `type` refines the resource name with its API group. */
export function apiError(
  code: number,
  body: unknown,
  request: RequestInfo,
  type: ResourceType | undefined,
): KubeApiError {
  const status = (typeof body === "object" && body !== null ? body : {}) as StatusBody;
  const reason = status.reason ?? reasonFor(code);
  const resource = type ? qualifiedName(type) + subresourceOf(request.resource) : request.resource;
  const where = request.namespace === undefined ? "" : ` in namespace ${request.namespace}`;
  const object = request.name === undefined ? resource : `${resource} ${request.name}`;
  let message: string;
  switch (code) {
    case 403:
      message =
        `forbidden: the operator may not ${request.verb} ${resource}${where}: ` +
        `add the verb "${request.verb}" on "${resource}" to the operator's ClusterRole (deploy/rbac)`;
      break;
    case 404:
      if (typeNotServed(status)) {
        return new KubeApiError(
          code,
          reason,
          `${resource} is not served by this cluster (its CustomResourceDefinition is not installed): ` +
            "install it, or choose a provider whose resources the cluster has",
          { ...request, resource },
          true,
        );
      }
      message = `${object}${where} not found`;
      break;
    case 409:
      message =
        reason === "AlreadyExists"
          ? `${object}${where} already exists`
          : `${object}${where} was changed by someone else (conflict): ${status.message ?? "retry"}`;
      break;
    case 422:
      message = `${object}${where} is invalid: ${invalidCauses(status)}`;
      break;
    default:
      message = `${request.verb} ${object}${where} failed with HTTP ${code}${status.message ? `: ${status.message}` : ""}`;
  }
  return new KubeApiError(code, reason, message, { ...request, resource });
}

/**
 * The API server answers a path it does not serve with a bare "404 page not found" (or, through
 * some proxies, a Status saying it could not find the requested resource); a missing object comes
 * with its name in the Status details.
 */
function typeNotServed(status: StatusBody & { details?: { name?: string } }): boolean {
  return (
    status.details?.name === undefined &&
    (status.message === "404 page not found" ||
      status.message === "the server could not find the requested resource")
  );
}

function subresourceOf(resource: string): string {
  const slash = resource.indexOf("/");
  return slash < 0 ? "" : resource.slice(slash);
}

function reasonFor(code: number): string {
  return (
    {
      400: "BadRequest",
      401: "Unauthorized",
      403: "Forbidden",
      404: "NotFound",
      405: "MethodNotAllowed",
      409: "Conflict",
      410: "Expired",
      415: "UnsupportedMediaType",
      422: "Invalid",
      429: "TooManyRequests",
      500: "InternalError",
      503: "ServiceUnavailable",
      504: "Timeout",
    }[code] ?? "Unknown"
  );
}

function invalidCauses(status: StatusBody): string {
  const causes = status.details?.causes ?? [];
  if (causes.length === 0) return status.message ?? "rejected by the API server";
  return causes
    .map((c) => (c.field ? `${c.field}: ${c.message ?? "invalid"}` : (c.message ?? "invalid")))
    .join("; ");
}

export function isNotFound(err: unknown): boolean {
  return err instanceof KubeApiError && err.code === 404;
}

/** A write lost an optimistic-concurrency race (resourceVersion mismatch); re-read and retry. */
export function isConflict(err: unknown): boolean {
  return err instanceof KubeApiError && err.code === 409 && err.reason !== "AlreadyExists";
}

export function isAlreadyExists(err: unknown): boolean {
  return err instanceof KubeApiError && err.code === 409 && err.reason === "AlreadyExists";
}

export function isForbidden(err: unknown): boolean {
  return err instanceof KubeApiError && err.code === 403;
}

export function isInvalid(err: unknown): boolean {
  return err instanceof KubeApiError && (err.code === 422 || err.code === 400);
}
