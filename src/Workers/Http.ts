// HTTP handlers of the worker protocol.
import { HttpApiBuilder, HttpServerResponse } from "@effect/platform"
import { Effect, type Schema } from "effect"
import { Api } from "../Api.ts"
import { AppConfig } from "../Config.ts"
import { Conflict, NotFound, ServiceUnavailable, Unprocessable } from "../Domain/Problem.ts"
import { CurrentTenant } from "../Tenancy.ts"
import { decodeStrict, readJson } from "../Validation.ts"
import { Workers } from "../Workers.ts"
import { Complete, Fail, Heartbeat, LeaseRequest } from "./Api.ts"

const errors = {
  LeaseConflict: (e: { nodeId: string; reason: string }) => Effect.fail(Conflict.of(`node ${e.nodeId}: ${e.reason}; nothing was changed`)),
  NodeNotFound: (e: { nodeId: string }) => Effect.fail(NotFound.of(`no node ${e.nodeId}`)),
  SqlError: () => Effect.fail(ServiceUnavailable.of("the database is unavailable"))
}

export const WorkersLive = HttpApiBuilder.group(Api, "workers", (handlers) =>
  Effect.gen(function*() {
    const workers = yield* Workers
    const { limits } = yield* AppConfig
    const body = <A, I>(schema: Schema.Schema<A, I>, request: Parameters<typeof readJson>[0]) =>
      Effect.flatMap(readJson(request, limits.maxJsonBodyBytes), decodeStrict(schema))
    const meta = (tenant: string, requestId: string | undefined) => ({ tenant, request_id: requestId })
    return handlers
      .handleRaw("lease", ({ request }) =>
        Effect.gen(function*() {
          const tenant = yield* CurrentTenant
          const payload = yield* body(LeaseRequest, request)
          if (payload.lease_seconds !== undefined && payload.lease_seconds > limits.maxLeaseSeconds) {
            return yield* Unprocessable.field("/lease_seconds", `must be at most ${limits.maxLeaseSeconds} (MAX_LEASE_SECONDS); heartbeats extend a lease`)
          }
          const leases = yield* workers.lease(tenant, payload, meta(tenant, request.headers["x-request-id"])).pipe(Effect.catchTag("SqlError", errors.SqlError))
          return HttpServerResponse.unsafeJson({ leases })
        }))
      .handleRaw("heartbeat", ({ path, request }) =>
        Effect.gen(function*() {
          const tenant = yield* CurrentTenant
          const { lease_token } = yield* body(Heartbeat, request)
          return HttpServerResponse.unsafeJson(yield* workers.heartbeat(tenant, path.node_id, lease_token, meta(tenant, request.headers["x-request-id"])).pipe(Effect.catchTags(errors)))
        }))
      .handleRaw("complete", ({ path, request }) =>
        Effect.gen(function*() {
          const tenant = yield* CurrentTenant
          const { lease_token, result } = yield* body(Complete, request)
          return HttpServerResponse.unsafeJson(yield* workers.complete(tenant, path.node_id, lease_token, result, meta(tenant, request.headers["x-request-id"])).pipe(Effect.catchTags(errors)))
        }))
      .handleRaw("fail", ({ path, request }) =>
        Effect.gen(function*() {
          const tenant = yield* CurrentTenant
          const { lease_token, error } = yield* body(Fail, request)
          return HttpServerResponse.unsafeJson(yield* workers.fail(tenant, path.node_id, lease_token, error, meta(tenant, request.headers["x-request-id"])).pipe(Effect.catchTags(errors)))
        }))
  })
)
